"""``tcptable exporter``: its metrics on the test's own sockets, failed polls, clean stops, and a
real Prometheus server scraping it."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clitools import ENV, Lines, command, free_port, own_process_name
from conftest import open_pair, wait_until
from metrics_servers import Prometheus, fetched

import tcptable

if sys.platform != "linux":
    pytest.skip("the exporter's tests run on Linux", allow_module_level=True)

import prometheus_client

from tcptable.exporter import Exporter

# ---------------------------------------------------------------------------- in this process


def sample(registry: Any, name: str, **labels: str) -> float | None:
    value: float | None = registry.get_sample_value(name, labels)
    return value


@pytest.fixture
def registry() -> Any:
    return prometheus_client.CollectorRegistry()


def test_metrics_show_own_sockets_and_count_opened_and_closed(registry: Any) -> None:
    exporter = Exporter(tcptable.Poller(names=True), interval=60, registry=registry)
    pair = open_pair(4)
    try:
        assert exporter.poll_once()
        port = str(pair.listen_port)
        listening = {"family": "ipv4", "address": "127.0.0.1", "port": port}
        assert sample(registry, "tcptable_listening", **listening, process=own_process_name()) == 1
        established = sample(registry, "tcptable_connections", family="ipv4", state="established")
        assert established is not None
        assert established >= 2
        # Every state is present, 0 or not: dashboards need no absent() guards.
        assert sample(registry, "tcptable_connections", family="ipv6", state="delete_tcb") == 0
        # The first poll is the starting point, not a burst of openings.
        assert sample(registry, "tcptable_connections_opened_total", family="ipv4") == 0
        assert sample(registry, "tcptable_tcp_active_opens_total") > 0  # type: ignore[operator]

        second = open_pair(4)
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()

        def counted() -> bool:
            exporter.poll_once()
            opened = sample(registry, "tcptable_connections_opened_total", family="ipv4")
            closed = sample(registry, "tcptable_connections_closed_total", family="ipv4")
            return opened is not None and opened >= 3 and closed is not None and closed >= 1

        wait_until(counted)
        assert (
            sample(registry, "tcptable_listening", **listening, process=own_process_name()) is None
        )
        for sock in (second.client, second.server, second.listener):
            sock.close()
        polls = sample(registry, "tcptable_poll_duration_seconds_count")
        assert polls is not None
        assert polls >= 2
        assert sample(registry, "tcptable_poll_errors_total") == 0
    finally:
        exporter.stop()
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()


class FailingOnce:
    """A poller whose first poll fails as the OS would refuse it, then polls for real."""

    def __init__(self) -> None:
        self.poller = tcptable.Poller()
        self.failed = False

    def poll_changes(self) -> Any:
        if not self.failed:
            self.failed = True
            raise tcptable.TcpTableError(24, "sock_diag: Too many open files")
        return self.poller.poll_changes()

    def close(self) -> None:
        self.poller.close()


def test_a_failed_poll_is_counted_and_logged_not_fatal(
    registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = Exporter(FailingOnce(), interval=0.05, registry=registry)
    pair = open_pair(4)
    try:
        with caplog.at_level(logging.WARNING, logger="tcptable.exporter"):
            exporter.start()  # the first poll fails ...
            assert sample(registry, "tcptable_poll_errors_total") == 1
            assert (
                "poll of the TCP table failed: [Errno 24] sock_diag: Too many open files"
                in caplog.text
            )
            assert "Traceback" not in caplog.text
            # ... and the background thread goes on polling.
            wait_until(
                lambda: sample(
                    registry,
                    "tcptable_listening",
                    family="ipv4",
                    address="127.0.0.1",
                    port=str(pair.listen_port),
                    process="",
                )
            )
        assert sample(registry, "tcptable_poll_errors_total") == 1
    finally:
        exporter.stop()
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()


# ---------------------------------------------------------------------------- the command


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def start_exporter(port: int, *args: str) -> tuple[subprocess.Popen[str], Lines]:
    process = subprocess.Popen(
        command("exporter", "--listen", f"127.0.0.1:{port}", *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stderr is not None
    log = Lines(process.stderr)
    log.wait_for("serving http://127.0.0.1")
    return process, log


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_exporter_serves_then_stops_cleanly(stop_signal: signal.Signals) -> None:
    port = free_port()
    process, log = start_exporter(port, "--interval", "0.2")
    try:
        assert "tcptable_connections{" in scrape(port)
        process.send_signal(stop_signal)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(15)
    lines = log.rest()
    assert any("stopped" in line for line in lines)
    assert not any("Traceback" in line for line in lines), lines
    assert refused(port)  # the port is released: nothing lingers


def test_exporter_port_in_use_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            command("exporter", "--listen", f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=60,
            env=ENV,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------- a real Prometheus


@pytest.fixture
def prometheus_binary() -> str:
    return fetched("prometheus", any_version=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tcptable-prometheus-") as directory:
        yield Path(directory)


def test_a_real_prometheus_scrapes_the_exporter(prometheus_binary: str, workdir: Path) -> None:
    exporter_port = free_port()
    exporter, _ = start_exporter(exporter_port, "--interval", "0.5")
    server = Prometheus(prometheus_binary, workdir, exporter_port)
    sockets: list[socket.socket] = []
    try:
        pair = open_pair(4)
        sockets += [pair.client, pair.server, pair.listener]
        port = pair.listen_port

        listening = f'tcptable_listening{{port="{port}"}}'
        server.wait_for(lambda: server.value(listening) == 1, 90, f"{listening} == 1")
        opened = 'sum(tcptable_connections_opened_total{job="tcptable"})'
        server.wait_for(lambda: server.value(opened) is not None, 30, opened)
        first = server.value(opened) or 0.0
        for _ in range(3):
            more = open_pair(4)
            sockets += [more.client, more.server, more.listener]
        server.wait_for(lambda: (server.value(opened) or 0) > first, 60, f"{opened} > {first}")
        process = own_process_name()
        labels = server.query(f'tcptable_listening{{port="{port}"}}')[0]["metric"]
        assert (labels["family"], labels["address"], labels["process"]) == (
            "ipv4",
            "127.0.0.1",
            process,
        )
    finally:
        for sock in sockets:
            sock.close()
        server.stop()
        stop_exporter(exporter)
    assert server.process.returncode is not None
    assert exporter.returncode == 0
    assert refused(server.port)
    assert refused(exporter_port)


def stop_exporter(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(15)
