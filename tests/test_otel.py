"""``tcptable.otel.instrument()`` and ``tcptable exporter --otlp``: the instruments on the test's
own sockets, one poll per collection, close events when a poller has them, and pushes that a
real OTLP receiver (VictoriaMetrics, fetched from Debian) stores and answers queries about."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clitools import ENV, Lines, command, free_port, own_process_name
from conftest import open_pair, wait_until

import tcptable

if sys.platform != "linux":
    pytest.skip("the OpenTelemetry tests run on Linux", allow_module_level=True)

pytest.importorskip("opentelemetry.sdk", reason="needs tcptable[otel]")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import tcptable.otel
from tcptable._table_metrics import TableMetrics

SEMANTIC_STATES = {
    "closed", "close_wait", "closing", "delete", "established", "fin_wait_1", "fin_wait_2",
    "last_ack", "listen", "syn_received", "syn_sent", "time_wait",
}  # fmt: skip


def collect(reader: InMemoryMetricReader) -> dict[str, Any]:
    """One collection: {instrument name: metric}, without the SDK's own metrics (some SDK
    releases report their collections as ``otel.sdk.*``)."""
    data = reader.get_metrics_data()
    if data is None:  # nothing was observed
        return {}
    return {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if not metric.name.startswith("otel.sdk.")
    }


def points(metric: Any) -> list[tuple[dict[str, Any], float]]:
    return [(dict(point.attributes), point.value) for point in metric.data.data_points]


def value(metric: Any, **attributes: Any) -> float | None:
    for found, number in points(metric):
        if found == attributes:
            return number
    return None


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


class CountingPoller:
    """A real poller that counts its polls."""

    def __init__(self, **keywords: Any) -> None:
        self.poller = tcptable.Poller(**keywords)
        self.polls = 0

    def poll_changes(self) -> Any:
        self.polls += 1
        return self.poller.poll_changes()

    def close(self) -> None:
        self.poller.close()


def test_instruments_show_own_listener_and_count_opened_and_closed(
    reader: InMemoryMetricReader,
) -> None:
    pair = open_pair(4)
    instruments = tcptable.otel.instrument(MeterProvider(metric_readers=[reader]), names=True)
    try:
        metrics = collect(reader)
        port = pair.listen_port
        listening = {
            "network.type": "ipv4",
            "network.local.address": "127.0.0.1",
            "network.local.port": port,
            "process.executable.name": own_process_name(),
            "network.transport": "tcp",
        }
        assert value(metrics["tcptable.listening"], **listening) == 1
        assert metrics["tcptable.listening"].unit == "{socket}"
        connections = metrics["system.network.connection.count"]
        assert connections.unit == "{connection}"
        # Named by the semantic conventions: every state, for both families, tcp.
        found = {(a["network.connection.state"], a["network.type"]) for a, _ in points(connections)}
        assert found == {(s, f) for s in SEMANTIC_STATES for f in ("ipv4", "ipv6")}
        assert {a["network.transport"] for a, _ in points(connections)} == {"tcp"}
        listen = value(
            connections,
            **{"network.connection.state": "listen", "network.transport": "tcp"},
            **{"network.type": "ipv4"},
        )
        assert listen is not None
        assert listen >= 1
        ipv4 = {"network.type": "ipv4", "network.transport": "tcp"}
        # The first collection is the starting point, not a burst of openings.
        assert value(metrics["tcptable.connection.opened"], **ipv4) == 0
        assert value(metrics["tcptable.tcp.active_opens"]) > 0  # type: ignore[operator]
        assert metrics["tcptable.poll.duration"].unit == "s"
        assert value(metrics["tcptable.poll.errors"]) == 0
        # Without close events there are no close-event instruments' points.
        assert "tcptable.connection.finished" not in metrics

        second = open_pair(4)
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()
        metrics = collect(reader)
        opened = value(metrics["tcptable.connection.opened"], **ipv4)
        closed = value(metrics["tcptable.connection.closed"], **ipv4)
        assert opened is not None
        assert opened >= 3  # the second pair's listener, client and server
        assert closed is not None
        assert closed >= 1  # the first pair's listener at least (its others may linger)
        assert value(metrics["tcptable.listening"], **listening) is None
        for sock in (second.client, second.server, second.listener):
            sock.close()
    finally:
        instruments.close()
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()


def test_one_poll_per_collection_and_close_silences(
    reader: InMemoryMetricReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tcptable.otel.Poller", CountingPoller)
    instruments = tcptable.otel.instrument(MeterProvider(metric_readers=[reader]), pids=False)
    counting = instruments.poller
    for expected in (1, 2, 3):
        collect(reader)
        assert counting.polls == expected
    instruments.close()
    assert collect(reader) == {}
    assert counting.poller.closed


def test_bad_poller_keyword_raises_before_registering(reader: InMemoryMetricReader) -> None:
    with pytest.raises(ValueError, match="family"):
        tcptable.otel.instrument(MeterProvider(metric_readers=[reader]), family="ipv5")
    assert collect(reader) == {}


class Rows:
    """Finished rows as a poller with close events returns them: the row array (family),
    the final statistics, and which rows no poll saw."""

    def __init__(
        self, families: list[int], acked: list[int], received: list[int], unseen: list[bool]
    ) -> None:
        import numpy

        self.array = numpy.array([(f,) for f in families], dtype=[("family", "u1")])
        self.stats_array = numpy.array(
            list(zip(acked, received)), dtype=[("bytes_acked", "u8"), ("bytes_received", "u8")]
        )
        self.unseen = numpy.array(unseen, dtype=bool)

    def __len__(self) -> int:
        return len(self.array)


class WithCloseEvents:
    """A real poller whose Changes also carry close events (``finished``, ``events_lost``)."""

    def __init__(self, batches: list[tuple[Rows, int]]) -> None:
        self.poller = tcptable.Poller(pids=False)
        self.batches = batches

    def poll_changes(self) -> Any:
        changes = self.poller.poll_changes()
        finished, lost = self.batches.pop(0)

        class WithEvents:
            def __getattr__(self, name: str) -> Any:
                return getattr(changes, name)

        extended = WithEvents()
        extended.finished = finished  # type: ignore[attr-defined]
        extended.events_lost = lost  # type: ignore[attr-defined]
        return extended

    def close(self) -> None:
        self.poller.close()


def test_close_events_count_every_close_and_their_bytes(reader: InMemoryMetricReader) -> None:
    import logging

    poller = WithCloseEvents(
        [
            (Rows([4], [100], [7], [False]), 0),
            (Rows([4, 6, 4], [1000, 20, 3], [50, 0, 1], [True, False, True]), 2),
        ]
    )
    metrics = TableMetrics(poller, log=logging.getLogger("test"))
    for _ in range(2):
        ok, _ = metrics.poll()
        assert ok
    reading = metrics.reading()
    assert reading.has_events
    # Closes are the events (1 then 3), including the first poll's.
    assert reading.finished == {"ipv4": 3, "ipv6": 1}
    assert reading.finished_bytes == {"sent": 1123, "received": 58}
    assert reading.events_lost == 2
    # The two unseen connections (opened and closed between polls) count as opened.
    assert reading.opened["ipv4"] >= 2
    assert reading.closed["ipv4"] >= 3
    metrics.close()


def test_without_close_events_none_are_reported() -> None:
    import logging

    metrics = TableMetrics(tcptable.Poller(pids=False), log=logging.getLogger("test"))
    metrics.poll()
    reading = metrics.reading()
    assert not reading.has_events
    assert reading.finished == {}
    assert reading.finished_bytes == {}
    metrics.close()


# ---------------------------------------------------------------------------- the command


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--otlp", "ftp://127.0.0.1:4318"], "--otlp"),
        (["--otlp", "http://"], "--otlp"),
        (["--otlp", "http://127.0.0.1:99999/v1/metrics"], "--otlp"),
        (["--otlp", "127.0.0.1:4318"], "--otlp"),
        (["--otlp", "http://127.0.0.1:4318", "--interval", "0"], "--interval"),
        (["--otlp", "http://127.0.0.1:4318", "--interval", "soon"], "--interval"),
        (["--otlp", "http://127.0.0.1:4318", "--listen", "127.0.0.1:9464"], "--listen"),
        (["--otlp", "http://127.0.0.1:4318", "--web.config.file", "x.yml"], "--web.config.file"),
    ],
)
def test_otlp_bad_usage_exits_2_naming_the_option(arguments: list[str], named: str) -> None:
    result = subprocess.run(
        command("exporter", *arguments), capture_output=True, text=True, timeout=60, env=ENV
    )
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tcptable-otlp-") as directory:
        yield Path(directory)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_otlp_push_reaches_a_real_receiver(workdir: Path) -> None:
    from metrics_servers import VictoriaMetrics, fetched

    receiver = VictoriaMetrics(fetched("victoria-metrics"), workdir)
    exporter = None
    pair = open_pair(4)
    try:
        receiver.wait_for(lambda: _healthy(receiver.port), 60, "the receiver answers")
        exporter = subprocess.Popen(
            command("exporter", "--otlp", receiver.otlp_url, "--interval", "0.5"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert exporter.stderr is not None
        log = Lines(exporter.stderr)
        log.wait_for("pushing to", receiver.otlp_url)
        port = pair.listen_port
        series = f'tcptable_listening{{network_local_port="{port}"}}'
        receiver.wait_for(lambda: receiver.query(series), 90, f"{series} is stored")
        labels = receiver.query(series)[0]["metric"]
        assert (
            labels["network_type"],
            labels["network_local_address"],
            labels["process_executable_name"],
            labels["service_name"],  # the resource, as this receiver labels it
        ) == ("ipv4", "127.0.0.1", own_process_name(), "tcptable")
        assert float(receiver.query(series)[0]["value"][1]) == 1
        listen = 'system_network_connection_count{network_connection_state="listen"}'
        receiver.wait_for(lambda: receiver.query(listen), 30, f"{listen} is stored")
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(30) == 0
        lines = log.rest()
        assert any("stopped" in line for line in lines)
        assert not any("Traceback" in line or "ERROR" in line for line in lines), lines
    finally:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()
        if exporter is not None and exporter.poll() is None:
            exporter.kill()
            exporter.wait(15)
        receiver.stop()
    assert refused(receiver.port)


def _healthy(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_otlp_receiver_down_is_logged_not_fatal() -> None:
    port = free_port()  # nothing listens here
    process = subprocess.Popen(
        command("exporter", "--otlp", f"http://127.0.0.1:{port}", "--interval", "0.2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert process.stderr is not None
        log = Lines(process.stderr)
        log.wait_for("pushing to", f"http://127.0.0.1:{port}/v1/metrics")
        log.wait_for(f"push to http://127.0.0.1:{port}/v1/metrics failed", timeout=60)
        assert process.poll() is None  # still running
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(15)


def closes_poller() -> tcptable.Poller:
    """A poller with close events, or skip saying why this one has none."""
    try:
        return tcptable.Poller(closes=True, pids=False)  # type: ignore[call-arg]
    except TypeError:
        pytest.skip("this tcptable's Poller has no close events (closes=True)")
    except tcptable.NotSupportedError as error:
        pytest.skip(f"close events are not supported here: {error}")


def test_kernel_close_events_reach_both_exporters(reader: InMemoryMetricReader) -> None:
    import prometheus_client

    from tcptable.exporter import Exporter

    registry = prometheus_client.CollectorRegistry()
    exporter = Exporter(closes_poller(), interval=60, registry=registry)
    instruments = tcptable.otel.instrument(
        MeterProvider(metric_readers=[reader]), closes=True, pids=False
    )
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        exporter.poll_once()
        collect(reader)
        # 20 connections opened and closed between two polls, 1000 bytes each way.
        for _ in range(20):
            client = socket.create_connection(("127.0.0.1", port))
            server, _ = listener.accept()
            client.sendall(b"x" * 1000)
            server.recv(1000, socket.MSG_WAITALL)
            server.sendall(b"y" * 1000)
            client.recv(1000, socket.MSG_WAITALL)
            client.close()
            server.close()

        def sample(name: str, **labels: str) -> float:
            return registry.get_sample_value(name, labels) or 0.0

        def arrived() -> bool:
            exporter.poll_once()
            return sample("tcptable_connections_finished_total", family="ipv4") >= 40

        wait_until(arrived)
        assert sample("tcptable_closed_bytes_total", direction="sent") >= 40 * 1000
        assert sample("tcptable_closed_bytes_total", direction="received") >= 40 * 1000
        assert sample("tcptable_connections_closed_total", family="ipv4") >= 40
        assert registry.get_sample_value("tcptable_events_lost_total") is not None
        ipv4 = {"network.type": "ipv4", "network.transport": "tcp"}
        metrics = collect(reader)
        finished = value(metrics["tcptable.connection.finished"], **ipv4)
        assert finished is not None
        assert finished >= 40
        io = metrics["tcptable.connection.finished.io"]
        for direction in ("transmit", "receive"):
            moved = value(io, **{"network.io.direction": direction, "network.transport": "tcp"})
            assert moved is not None
            assert moved >= 40 * 1000
    finally:
        listener.close()
        exporter.stop()
        instruments.close()
