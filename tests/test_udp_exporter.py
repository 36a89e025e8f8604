"""UDP in the exporters: tcptable_connections has a protocol label, and a bound, unconnected UDP
socket of this process is a tcptable_listening series with protocol="udp"; a connected one is
not listening.  The command publishes TCP and UDP by default."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from clitools import LINUX_ONLY, own_process_name

import tcptable

prometheus_client = pytest.importorskip("prometheus_client", reason="the exporter's extra")
from tcptable.exporter import Exporter  # noqa: E402

pytestmark = LINUX_ONLY


@pytest.fixture
def udp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    bound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bound.bind(("127.0.0.1", 0))
    connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected.bind(("127.0.0.1", 0))
    connected.connect(bound.getsockname())
    yield bound, connected
    bound.close()
    connected.close()


def sample(registry: Any, name: str, **labels: str) -> float | None:
    value: float | None = registry.get_sample_value(name, labels)
    return value


@pytest.mark.parametrize("protocol", ["udp", "all"])
def test_udp_listener_and_connections_have_the_protocol_label(
    udp_pair: tuple[socket.socket, socket.socket], protocol: str
) -> None:
    registry = prometheus_client.CollectorRegistry()
    bound, connected = udp_pair
    exporter = Exporter(tcptable.Poller(names=True, protocol=protocol), 60, registry)
    try:
        assert exporter.poll_once()
        labels = {"family": "ipv4", "address": "127.0.0.1", "process": own_process_name()}
        port = str(bound.getsockname()[1])
        assert sample(registry, "tcptable_listening", **labels, port=port, protocol="udp") == 1
        assert sample(registry, "tcptable_listening", **labels, port=port, protocol="tcp") is None
        other = str(connected.getsockname()[1])
        assert sample(registry, "tcptable_listening", **labels, port=other, protocol="udp") is None
        udp_rows = sample(
            registry, "tcptable_connections", family="ipv4", state="none", protocol="udp"
        )
        assert udp_rows is not None
        assert udp_rows >= 2
        tcp_series = sample(
            registry, "tcptable_connections", family="ipv4", state="listen", protocol="tcp"
        )
        # TCP series only where the poller fetches TCP (then every state, 0 included).
        assert (tcp_series is None) == (protocol == "udp")
        # No TCP state for UDP rows, and no NONE for TCP ones.
        assert (
            sample(registry, "tcptable_connections", family="ipv4", state="listen", protocol="udp")
            is None
        )
        assert (
            sample(registry, "tcptable_connections", family="ipv4", state="none", protocol="tcp")
            is None
        )
    finally:
        exporter.stop()


def test_tcp_poller_publishes_no_udp_series(udp_pair: tuple[socket.socket, socket.socket]) -> None:
    registry = prometheus_client.CollectorRegistry()
    exporter = Exporter(tcptable.Poller(), 60, registry)
    try:
        assert exporter.poll_once()
        assert (
            sample(registry, "tcptable_connections", family="ipv4", state="none", protocol="udp")
            is None
        )
        text = prometheus_client.generate_latest(registry).decode()
        assert 'protocol="udp"' not in text
    finally:
        exporter.stop()


def test_the_command_publishes_udp_by_default() -> None:
    from tcptable._exporter_command import build_parser

    parser = build_parser("tcptable exporter")
    assert parser.parse_args([]).protocol == "all"
    assert parser.parse_args(["--protocol", "tcp"]).protocol == "tcp"
    with pytest.raises(SystemExit):
        parser.parse_args(["--protocol", "sctp"])


def test_opened_and_closed_count_tcp_connections_only() -> None:
    registry = prometheus_client.CollectorRegistry()
    exporter = Exporter(tcptable.Poller(protocol="udp"), 60, registry)
    try:
        assert exporter.poll_once()
        sockets = []
        for _ in range(5):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        assert exporter.poll_once()
        for sock in sockets:
            sock.close()
        assert exporter.poll_once()
        # A UDP-only poller sees no TCP row come or go, whatever UDP sockets do.
        assert sample(registry, "tcptable_connections_opened_total", family="ipv4") == 0
        assert sample(registry, "tcptable_connections_closed_total", family="ipv4") == 0
    finally:
        exporter.stop()
