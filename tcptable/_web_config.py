"""The exporter's web configuration file, in the format of the Prometheus exporter toolkit
(what node_exporter and windows_exporter read with ``--web.config.file``)::

    tls_server_config:
      cert_file: server.crt        # relative paths are relative to this file's folder
      key_file: server.key
      min_version: TLS12           # TLS12 (default) or TLS13; max_version likewise
      client_ca_file: clients.pem  # optional: client certificates, checked as
      client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
    basic_auth_users:
      prometheus: $2b$12$...       # bcrypt hashes (htpasswd -nBC 12 "" or python -m bcrypt)

Keys the toolkit has and this reader does not (``http_server_config``, ``cipher_suites``,
``curve_preferences``, ...) are refused by name rather than ignored: a file that asks for more
protection than is given must not start a server.  Needs PyYAML and bcrypt
(``tcptable[prometheus]``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WebConfig", "WebConfigError", "load_web_config"]

_TLS_KEYS = {
    "cert_file",
    "key_file",
    "min_version",
    "max_version",
    "client_ca_file",
    "client_auth_type",
}
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
# Successful checks remembered (by a keyed digest of the credentials) so that a scrape every
# second does not pay for bcrypt every time; bounded.
_CACHE_SIZE = 256


class WebConfigError(ValueError):
    """The web configuration file cannot be used; the message names the file and the problem."""


@dataclass
class WebConfig:
    """A loaded web configuration: the TLS context (None: plain HTTP) and the users."""

    path: str
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    _cache: set[bytes] = field(default_factory=set, repr=False)
    _cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _dummy: bytes = b""

    def authorized(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value lets the request in (always, with no
        users).  The user name is compared in constant time against every user, and a
        password is checked with bcrypt even for an unknown user, so the time taken says
        neither which users exist nor how much of a password was right."""
        if not self.users:
            return True
        user, password = _basic_credentials(authorization)
        if user is None or password is None:
            return False
        stored, known = self._dummy_hash(), False
        for name, hashed in self.users.items():
            if hmac.compare_digest(name.encode(), user.encode()):
                stored, known = hashed, True
        remembered = hmac.new(
            self._cache_key, b"\0".join((user.encode(), password.encode(), stored)), "sha256"
        ).digest()
        with self._lock:
            if remembered in self._cache:
                return known
        import bcrypt

        try:
            matches = bcrypt.checkpw(password.encode(), stored)
        except ValueError:
            return False
        if known and matches:
            with self._lock:
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                self._cache.add(remembered)
        return known and matches

    def _dummy_hash(self) -> bytes:
        # A hash of a random password at the users' cost, made once when the file is loaded:
        # an unknown user costs what a known one does, from the first request on.
        with self._lock:
            if not self._dummy:
                import bcrypt

                rounds = int(next(iter(self.users.values()))[4:6])
                self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))
            return self._dummy


def _basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization:
        return None, None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, colon, password = decoded.partition(":")
    if not colon:
        return None, None
    return user, password


def load_web_config(path: str) -> WebConfig:
    """Read and check the file at ``path``; WebConfigError naming the problem if it is
    unreadable, not YAML, or asks for something this reader cannot give."""
    try:
        import yaml
    except ImportError as error:
        raise ImportError(f"{error.name}: pip install 'tcptable[prometheus]'") from error
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise WebConfigError(f"cannot read {path}: {error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise WebConfigError(f"{path} is not valid YAML: {error}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise WebConfigError(f"{path}: expected a mapping at the top, found {_kind(document)}")
    unknown = sorted(str(key) for key in document)
    unknown = [key for key in unknown if key not in ("tls_server_config", "basic_auth_users")]
    if unknown:
        raise WebConfigError(
            f"{path}: {', '.join(unknown)}: not supported (this exporter reads "
            "tls_server_config and basic_auth_users)"
        )
    config = WebConfig(path=path)
    base = Path(path).resolve().parent
    tls = document.get("tls_server_config")
    if tls is not None:
        config.ssl_context = _ssl_context(path, base, tls)
    users = document.get("basic_auth_users")
    if users is not None:
        config.users = _users(path, users)
        if config.users:
            config._dummy_hash()
    return config


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _ssl_context(path: str, base: Path, tls: Any) -> ssl.SSLContext:
    if not isinstance(tls, dict):
        raise WebConfigError(f"{path}: tls_server_config must be a mapping, not {_kind(tls)}")
    unknown = sorted(str(key) for key in tls if key not in _TLS_KEYS)
    if unknown:
        raise WebConfigError(
            f"{path}: tls_server_config: {', '.join(unknown)}: not supported (this exporter "
            f"reads {', '.join(sorted(_TLS_KEYS))})"
        )
    for key in ("cert_file", "key_file"):
        if not isinstance(tls.get(key), str) or not tls[key]:
            raise WebConfigError(f"{path}: tls_server_config needs {key} (a file name)")
    cert_file, key_file = (str(base / tls[key]) for key in ("cert_file", "key_file"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for key, attribute, default in (
        ("min_version", "minimum_version", "TLS12"),
        ("max_version", "maximum_version", None),
    ):
        name = tls.get(key, default)
        if name is None:
            continue
        if name not in _TLS_VERSIONS:
            raise WebConfigError(
                f"{path}: tls_server_config: {key} {name!r} is not one of "
                f"{', '.join(_TLS_VERSIONS)}"
            )
        setattr(context, attribute, _TLS_VERSIONS[name])
    for file in (cert_file, key_file):
        try:
            Path(file).read_bytes()
        except OSError as error:
            raise WebConfigError(f"{path}: cannot read {file}: {error}") from None
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as error:
        raise WebConfigError(
            f"{path}: cert_file {cert_file} and key_file {key_file} are not a PEM certificate "
            f"and its private key: {error}"
        ) from None
    auth_type = tls.get("client_auth_type")
    ca_file = tls.get("client_ca_file")
    if auth_type is not None and auth_type not in _CLIENT_AUTH:
        raise WebConfigError(
            f"{path}: tls_server_config: client_auth_type {auth_type!r} is not one of "
            f"{', '.join(_CLIENT_AUTH)}"
        )
    if ca_file is not None:
        if not isinstance(ca_file, str):
            raise WebConfigError(f"{path}: tls_server_config: client_ca_file must be a file name")
        try:
            context.load_verify_locations(str(base / ca_file))
        except (OSError, ssl.SSLError) as error:
            raise WebConfigError(f"{path}: cannot use client_ca_file {ca_file}: {error}") from None
        context.verify_mode = _CLIENT_AUTH[auth_type or "RequireAndVerifyClientCert"]
    elif auth_type not in (None, "NoClientCert"):
        raise WebConfigError(
            f"{path}: tls_server_config: client_auth_type {auth_type} needs client_ca_file"
        )
    return context


def _users(path: str, users: Any) -> dict[str, bytes]:
    if not isinstance(users, dict):
        raise WebConfigError(
            f"{path}: basic_auth_users must be a mapping of user names to bcrypt hashes, "
            f"not {_kind(users)}"
        )
    checked = {}
    for user, hashed in users.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(f"{path}: basic_auth_users: {user!r} is not a user name")
        if not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
            raise WebConfigError(
                f"{path}: basic_auth_users: the password of {user!r} is not a bcrypt hash "
                "($2a$, $2b$ or $2y$, cost 04..31, 60 characters)"
            )
        checked[user] = hashed.encode()
    return checked
