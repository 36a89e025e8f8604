"""``tcptable exporter --web.config.file``: HTTPS and basic auth as node_exporter reads them, a
real Prometheus scraping over TLS with a password, 401s for a missing or wrong password, no
plain HTTP on the TLS port, and every unusable configuration file refused with exit 2."""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from clitools import ENV, Lines, command, free_port, own_process_name
from conftest import open_pair

if sys.platform != "linux":
    pytest.skip("the exporter's tests run on Linux", allow_module_level=True)

bcrypt = pytest.importorskip("bcrypt", reason="needs tcptable[prometheus]")
pytest.importorskip("yaml", reason="needs tcptable[prometheus]")
pytest.importorskip("cryptography", reason="needs tcptable[test]")

from metrics_servers import Prometheus, fetched, https_get  # noqa: E402

from tcptable._web_config import WebConfig, WebConfigError, load_web_config  # noqa: E402

USER, PASSWORD = "prometheus", "correct horse battery staple"


class Certificates(NamedTuple):
    ca: Path
    cert: Path
    key: Path
    other_key: Path  # a key that is not the certificate's


def _write_key(path: Path) -> object:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def make_certificates(directory: Path) -> Certificates:
    """A CA of the test's own and a server certificate it signed for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = _write_key(directory / "ca.key")
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tcptable test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Key identifiers: X509_STRICT verification (CPython 3.13+ default) requires them.
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    server_key = _write_key(directory / "server.key")
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / "other.key")
    return Certificates(
        directory / "ca.crt", directory / "server.crt", directory / "server.key",
        directory / "other.key",
    )  # fmt: skip


def password_hash(password: str) -> str:
    # The lowest cost keeps the tests quick; the format is what htpasswd -B writes.
    return str(bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode())


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tcptable-web-config-") as directory:
        yield Path(directory)


@pytest.fixture
def certificates(workdir: Path) -> Certificates:
    return make_certificates(workdir)


def write_config(workdir: Path, text: str) -> Path:
    path = workdir / "web.yml"
    path.write_text(text)
    return path


def locked_config(workdir: Path, certificates: Certificates) -> Path:
    # Relative file names: relative to the configuration file's folder, as the toolkit reads.
    return write_config(
        workdir,
        "tls_server_config:\n"
        f"  cert_file: {certificates.cert.name}\n"
        f"  key_file: {certificates.key.name}\n"
        "basic_auth_users:\n"
        f"  {USER}: '{password_hash(PASSWORD)}'\n",
    )


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# ---------------------------------------------------------------------------- the checker


def test_basic_auth_accepts_only_the_right_password(workdir: Path) -> None:
    config = load_web_config(
        str(write_config(workdir, f"basic_auth_users:\n  {USER}: '{password_hash(PASSWORD)}'\n"))
    )
    assert config.ssl_context is None
    assert config.authorized(basic(USER, PASSWORD)["Authorization"])
    assert config.authorized(basic(USER, PASSWORD)["Authorization"])  # remembered, still right
    assert not config.authorized(basic(USER, PASSWORD + "x")["Authorization"])
    assert not config.authorized(basic("someone", PASSWORD)["Authorization"])
    assert not config.authorized(None)
    assert not config.authorized("Bearer abc")
    assert not config.authorized("Basic not-base64!")
    assert not config.authorized("Basic " + base64.b64encode(b"no colon").decode())
    assert WebConfig(path="none").authorized(None)  # no users: no auth


# ---------------------------------------------------------------------------- bad files


TLS = "tls_server_config: {cert_file: server.crt, key_file: server.key, %s}\n"
NOT_A_PAIR = "are not a PEM certificate and its private key"
BAD_CONFIGS = [
    # (file text or None for a missing file, what the message must say)
    (None, "cannot read"),
    ("tls_server_config: [unclosed\n", "is not valid YAML"),
    ("- a list\n", "expected a mapping at the top, found list"),
    ("http_server_config: {http2: false}\n", "http_server_config: not supported"),
    ("tls_server_config: {key_file: server.key}\n", "tls_server_config needs cert_file"),
    ("tls_server_config: {cert_file: server.crt}\n", "tls_server_config needs key_file"),
    ("tls_server_config: {cert_file: nowhere.crt, key_file: server.key}\n", "cannot read"),
    ("tls_server_config: {cert_file: server.key, key_file: server.key}\n", NOT_A_PAIR),
    ("tls_server_config: {cert_file: server.crt, key_file: other.key}\n", NOT_A_PAIR),
    (TLS % "min_version: TLS10", "min_version 'TLS10' is not one of TLS12, TLS13"),
    (TLS % "cipher_suites: [x]", "cipher_suites: not supported"),
    (TLS % "client_auth_type: RequireAndVerifyClientCert", "needs client_ca_file"),
    ("tls_server_config: plain\n", "tls_server_config must be a mapping, not str"),
    ("basic_auth_users: [prometheus]\n", "basic_auth_users must be a mapping"),
    ("basic_auth_users: {prometheus: secret}\n", "password of 'prometheus' is not a bcrypt hash"),
    ("basic_auth_users: {'a:b': '$2b$04$" + "a" * 53 + "'}\n", "'a:b' is not a user name"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_CONFIGS, ids=[p for _, p in BAD_CONFIGS])
def test_an_unusable_config_exits_2_naming_the_problem(
    workdir: Path, certificates: Certificates, text: str | None, problem: str
) -> None:
    path = workdir / "web.yml" if text is None else write_config(workdir, text)
    with pytest.raises(WebConfigError, match=r"web\.yml"):
        load_web_config(str(path))
    result = subprocess.run(
        command("exporter", "--listen", f"127.0.0.1:{free_port()}", "--web.config.file", str(path)),
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert result.returncode == 2, result.stderr
    assert "--web.config.file" in result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_as_config_exits_2(workdir: Path) -> None:
    result = subprocess.run(
        command("exporter", "--web.config.file", str(workdir)),
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert result.returncode == 2
    assert f"cannot read {workdir}" in result.stderr


# ---------------------------------------------------------------------------- the command


def start_locked(port: int, config: Path) -> tuple[subprocess.Popen[str], Lines]:
    process = subprocess.Popen(
        command(
            "exporter", "--listen", f"127.0.0.1:{port}", "--interval", "0.5",
            "--web.config.file", str(config),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )  # fmt: skip
    assert process.stderr is not None
    log = Lines(process.stderr)
    log.wait_for(f"serving https://127.0.0.1:{port}/metrics", "basic auth for 1 user")
    return process, log


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
    return process.returncode


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def plain_get(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics", headers=basic(USER, PASSWORD))
        return connection.getresponse().status
    finally:
        connection.close()


def test_https_with_basic_auth(workdir: Path, certificates: Certificates) -> None:
    port = free_port()
    process, log = start_locked(port, locked_config(workdir, certificates))
    url = f"https://127.0.0.1:{port}/metrics"
    trusting = ssl.create_default_context(cafile=str(certificates.ca))
    try:
        status, _, body = https_get(url, trusting, basic(USER, PASSWORD))
        assert status == 200
        assert "tcptable_connections{" in body
        for headers in ({}, basic(USER, "wrong"), basic("nobody", PASSWORD)):
            status, answer_headers, body = https_get(url, trusting, headers)
            assert status == 401, headers
            assert answer_headers["WWW-Authenticate"].startswith("Basic realm=")
            assert "tcptable_" not in body
        # A client that does not trust the test's CA refuses the certificate.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            https_get(url, ssl.create_default_context(), basic(USER, PASSWORD))
        # Plain HTTP to the TLS port gets no metrics: the handshake fails, the server hangs up.
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain_get(port)
        # ... and the server goes on serving TLS clients.
        assert https_get(url, trusting, basic(USER, PASSWORD))[0] == 200
        assert stop(process) == 0
    finally:
        stop(process)
    lines = log.rest()
    assert not any("Traceback" in line for line in lines), lines
    assert refused(port)


def test_a_real_prometheus_scrapes_over_tls_with_a_password(
    workdir: Path, certificates: Certificates
) -> None:
    binary = fetched("prometheus", any_version=True)
    port = free_port()
    exporter, _ = start_locked(port, locked_config(workdir, certificates))
    tls = (
        "    scheme: https\n"
        "    tls_config:\n"
        f"      ca_file: {certificates.ca}\n"
    )  # fmt: skip
    right = Prometheus(binary, workdir / "right", port, tls + (
        f"    basic_auth:\n      username: {USER}\n      password: '{PASSWORD}'\n"
    ))  # fmt: skip
    wrong = Prometheus(binary, workdir / "wrong", port, tls + (
        f"    basic_auth:\n      username: {USER}\n      password: 'not it'\n"
    ))  # fmt: skip
    plain = Prometheus(binary, workdir / "plain", port, "    scheme: http\n")
    pair = open_pair(4)
    try:
        listening = f'tcptable_listening{{port="{pair.listen_port}"}}'
        right.wait_for(lambda: right.value(listening) == 1, 90, f"{listening} == 1")
        labels = right.query(listening)[0]["metric"]
        assert (labels["family"], labels["address"], labels["process"]) == (
            "ipv4", "127.0.0.1", own_process_name(),
        )  # fmt: skip
        right_target = right.wait_for(lambda: right.target(), 30, "the target")
        assert right_target["health"] == "up", right_target
        assert right_target["scrapeUrl"].startswith("https://")
        # Prometheus reports the refusal in its own words: a 401, and no samples stored.
        wrong_target = wrong.wait_for(
            lambda: (t := wrong.target()) and t["health"] == "down" and t, 60, "a failed scrape"
        )
        assert "401" in wrong_target["lastError"], wrong_target
        assert wrong.query("tcptable_connections") == []
        plain_target = plain.wait_for(
            lambda: (t := plain.target()) and t["health"] == "down" and t, 60, "a failed scrape"
        )
        assert plain_target["lastError"], plain_target
        assert plain.query("tcptable_connections") == []
    finally:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()
        for server in (right, wrong, plain):
            server.stop()
        exit_status = stop(exporter)
    assert exit_status == 0
    for server in (right, wrong, plain):
        assert refused(server.port)
    assert refused(port)
