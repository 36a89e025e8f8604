"""UDP rows: protocol="udp" and "all" find this process's own UDP sockets, bound and connected,
IPv4 and IPv6, from every source, with their owner; TCP polls never show them; bad protocol
values name the keyword and the value."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import FAMILIES, LOOPBACK, WILDCARD, open_listener
from synthetic_rows import make_row, snapshot_of

import tcptable

LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"
FAMILY = {4: "ipv4", 6: "ipv6"}
INET = {4: socket.AF_INET, 6: socket.AF_INET6}
SOURCES = [
    "default",
    pytest.param("netlink", marks=pytest.mark.skipif(not LINUX, reason="a Linux source")),
    pytest.param("proc", marks=pytest.mark.skipif(not LINUX, reason="a Linux source")),
]


@dataclass
class UdpSockets:
    """A bound, unconnected socket and a second one connected to it, on loopback."""

    family: int
    bound: socket.socket
    connected: socket.socket

    @property
    def bound_port(self) -> int:
        return int(self.bound.getsockname()[1])

    @property
    def connected_port(self) -> int:
        return int(self.connected.getsockname()[1])

    def rows(self, table: tcptable.Snapshot) -> dict[int, list[tcptable.Connection]]:
        """This pair's UDP rows, by local port (every row at its address and port)."""
        found: dict[int, list[tcptable.Connection]] = {}
        for row in table:
            if (
                row.protocol == tcptable.Protocol.UDP
                and row.family == self.family
                and row.local_address == LOOPBACK[self.family]
                and row.local_port in (self.bound_port, self.connected_port)
            ):
                found.setdefault(row.local_port, []).append(row)
        return found


def open_udp(family: int) -> UdpSockets:
    bound = socket.socket(INET[family], socket.SOCK_DGRAM)
    bound.bind((LOOPBACK[family], 0))
    connected = socket.socket(INET[family], socket.SOCK_DGRAM)
    connected.bind((LOOPBACK[family], 0))
    connected.connect(bound.getsockname()[:2])
    return UdpSockets(family, bound, connected)


@pytest.fixture(params=FAMILIES, ids=["ipv4", "ipv6"])
def udp(request: pytest.FixtureRequest) -> Iterator[UdpSockets]:
    opened = open_udp(request.param)
    yield opened
    opened.bound.close()
    opened.connected.close()


def only(rows: dict[int, list[tcptable.Connection]], port: int) -> tcptable.Connection:
    assert len(rows.get(port, [])) == 1, f"expected one row for port {port}: {rows}"
    return rows[port][0]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("protocol", ["udp", "all"])
def test_own_udp_sockets(udp: UdpSockets, source: str, protocol: str) -> None:
    table = tcptable.snapshot(family=FAMILY[udp.family], protocol=protocol, source=source)
    rows = udp.rows(table)
    bound = only(rows, udp.bound_port)
    connected = only(rows, udp.connected_port)
    for row in (bound, connected):
        assert row.protocol == tcptable.Protocol.UDP == 17
        assert row.state == tcptable.State.NONE
        assert row.pid == os.getpid()
    assert (bound.remote_address, bound.remote_port) == (WILDCARD[udp.family], 0)


@pytest.mark.skipif(not LINUX, reason="Linux tables hold a connected UDP socket's peer")
@pytest.mark.parametrize("source", SOURCES)
def test_connected_udp_socket_has_its_peer(udp: UdpSockets, source: str) -> None:
    table = tcptable.snapshot(family=FAMILY[udp.family], protocol="udp", source=source)
    connected = only(udp.rows(table), udp.connected_port)
    assert (connected.remote_address, connected.remote_port) == (
        LOOPBACK[udp.family],
        udp.bound_port,
    )
    # The kernel's socket inode, which the owner lookup keyed on.
    assert connected.inode == os.fstat(udp.connected.fileno()).st_ino


@pytest.mark.skipif(not WINDOWS, reason="Windows' UDP table has no remote address")
def test_windows_udp_rows_have_no_remote_address(udp: UdpSockets) -> None:
    table = tcptable.snapshot(family=FAMILY[udp.family], protocol="udp")
    connected = only(udp.rows(table), udp.connected_port)
    assert (connected.remote_address, connected.remote_port) == (WILDCARD[udp.family], 0)


@pytest.mark.parametrize("source", SOURCES)
def test_tcp_poll_has_no_udp_row_and_all_has_both(udp: UdpSockets, source: str) -> None:
    listener = open_listener(udp.family)
    try:
        port = listener.getsockname()[1]
        tcp = tcptable.snapshot(family=FAMILY[udp.family], source=source)
        assert udp.rows(tcp) == {}
        assert {row.protocol for row in tcp} <= {tcptable.Protocol.TCP}
        both = tcptable.snapshot(family=FAMILY[udp.family], protocol="all", source=source)
        assert len(udp.rows(both)) == 2
        listening = [
            row for row in both if row.local_port == port and row.protocol == tcptable.Protocol.TCP
        ]
        assert [row.state for row in listening] == [tcptable.State.LISTEN]
        assert [row.protocol for row in both].count(tcptable.Protocol.UDP) >= 2
    finally:
        listener.close()


@pytest.mark.parametrize("source", SOURCES)
def test_sorted_all_has_tcp_rows_then_udp_rows_each_in_order(udp: UdpSockets, source: str) -> None:
    table = tcptable.snapshot(protocol="all", sort=True, source=source, pids=False)
    protocols = [int(row.protocol) for row in table]
    tcp_rows = protocols.count(6)
    assert protocols == [6] * tcp_rows + [17] * (len(protocols) - tcp_rows)
    udp_rows = list(table)[tcp_rows:]

    def key(row: tcptable.Connection) -> tuple[object, ...]:
        return (
            row.family,
            socket.inet_pton(INET[row.family], row.local_address),
            row.local_port,
            socket.inet_pton(INET[row.family], row.remote_address),
            row.remote_port,
        )

    assert [key(row) for row in udp_rows] == sorted(key(row) for row in udp_rows)
    assert len(udp.rows(table)) == 2


@pytest.mark.parametrize("source", SOURCES)
def test_states_filter_none_keeps_udp_rows_only(udp: UdpSockets, source: str) -> None:
    listener = open_listener(udp.family)
    try:
        table = tcptable.snapshot(protocol="all", states={"NONE"}, source=source)
        assert len(udp.rows(table)) == 2
        assert {row.protocol for row in table} <= {tcptable.Protocol.UDP}
        # A TCP state keeps no UDP row: UDP rows have none.
        tcp_only = tcptable.snapshot(protocol="all", states={"LISTEN"}, source=source)
        assert udp.rows(tcp_only) == {}
        assert any(row.local_port == listener.getsockname()[1] for row in tcp_only)
    finally:
        listener.close()


@pytest.mark.parametrize("source", SOURCES)
def test_port_filters_apply_to_udp_rows(udp: UdpSockets, source: str) -> None:
    table = tcptable.snapshot(protocol="udp", local_ports=[udp.bound_port], source=source)
    rows = udp.rows(table)
    assert set(rows) == {udp.bound_port}
    assert {row.local_port for row in table} == {udp.bound_port}
    by_peer = tcptable.snapshot(protocol="udp", remote_ports=[udp.bound_port], source=source)
    if LINUX:  # only Linux knows a UDP socket's peer
        assert set(udp.rows(by_peer)) == {udp.connected_port}
    else:
        assert udp.rows(by_peer) == {}


def test_owner_pid_filter_keeps_own_udp_rows(udp: UdpSockets) -> None:
    table = tcptable.snapshot(protocol="udp", owner_pids=[os.getpid()])
    assert set(udp.rows(table)) == {udp.bound_port, udp.connected_port}
    assert {row.pid for row in table} == {os.getpid()}


@pytest.mark.skipif(not LINUX, reason="per-socket stats are Linux only")
@pytest.mark.parametrize("source", ["netlink", "proc"])
def test_udp_stats_are_the_queues(udp: UdpSockets, source: str) -> None:
    udp.connected.send(b"x" * 100)
    with tcptable.Poller(
        family=FAMILY[udp.family], protocol="udp", stats=True, source=source
    ) as poller:
        table = poller.poll()
        index = [
            i
            for i, row in enumerate(table)
            if row.local_port == udp.bound_port and row.local_address == LOOPBACK[udp.family]
        ]
        assert len(index) == 1
        pytest.importorskip("numpy", reason="stats_array is a numpy view")
        stats = table.stats_array[index[0]]
        # The unread datagram waits in the bound socket's receive queue; UDP has no tcp_info.
        assert stats["rx_queue"] > 0
        assert stats["rtt_us"] == 0
        assert stats["snd_cwnd"] == 0


def test_poller_keeps_its_protocol() -> None:
    with tcptable.Poller(protocol="udp") as poller:
        assert poller.protocol == "udp"
        assert "protocol='udp'" in repr(poller)
    assert tcptable.Poller().protocol == "tcp"


@pytest.mark.parametrize("bad", ["UDP", "udp4", "", "tcp ", 17, None, b"udp"])
def test_bad_protocol_names_keyword_and_value(bad: object) -> None:
    with pytest.raises(ValueError, match=r"protocol must be 'tcp', 'udp' or 'all', not ") as info:
        tcptable.Poller(protocol=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    with pytest.raises(ValueError, match="protocol"):
        tcptable.snapshot(protocol=bad)  # type: ignore[arg-type]


def test_protocol_enum() -> None:
    assert tcptable.Protocol.TCP == 6
    assert tcptable.Protocol.UDP == 17
    assert tcptable.State.NONE == 0
    assert tcptable.State["NONE"] is tcptable.State.NONE


# ------------------------------------------------ counts, directions and diffs with UDP rows

UDP, TCP = tcptable.Protocol.UDP, tcptable.Protocol.TCP
NONE = tcptable.State.NONE


def test_count_by_protocol() -> None:
    table = snapshot_of(
        [
            make_row(("10.0.0.1", 53), protocol=UDP, state=NONE),
            make_row(("10.0.0.1", 80), state=tcptable.State.LISTEN),
            make_row(("10.0.0.1", 80), ("10.0.0.2", 5000)),
            make_row(("::1", 123), protocol=UDP, state=NONE),
        ]
    )
    counts = table.count_by("protocol")
    assert counts == {TCP: 2, UDP: 2}
    assert all(isinstance(key, tcptable.Protocol) for key in counts)
    assert table.count_by("state") == {
        NONE: 2,
        tcptable.State.LISTEN: 1,
        tcptable.State.ESTABLISHED: 1,
    }


def test_directions_of_udp_rows() -> None:
    table = snapshot_of(
        [
            make_row(("0.0.0.0", 53), protocol=UDP, state=NONE),  # bound, not connected
            make_row(("10.0.0.1", 53), ("10.0.0.9", 4000), protocol=UDP, state=NONE),
            make_row(("10.0.0.1", 6000), ("10.0.0.9", 53), protocol=UDP, state=NONE),
            make_row(("0.0.0.0", 80), state=tcptable.State.LISTEN),
            # A connected UDP socket on a port only a TCP listener has: not inbound.
            make_row(("10.0.0.1", 80), ("10.0.0.9", 4001), protocol=UDP, state=NONE),
            # A TCP connection on a port only a UDP socket is bound to: not inbound.
            make_row(("10.0.0.1", 53), ("10.0.0.9", 4002)),
        ]
    )
    direction = tcptable.Direction
    assert [direction(d) for d in table.directions()] == [
        direction.LISTEN,
        direction.INBOUND,
        direction.OUTBOUND,
        direction.LISTEN,
        direction.OUTBOUND,
        direction.OUTBOUND,
    ]
    assert table.count_by("direction")[direction.LISTEN] == 2


def test_diff_identity_includes_the_protocol() -> None:
    tcp = make_row(("10.0.0.1", 5353), state=tcptable.State.LISTEN, inode=7)
    udp = make_row(("10.0.0.1", 5353), protocol=UDP, state=NONE, inode=7)
    changes = tcptable.diff(snapshot_of([tcp]), snapshot_of([udp]))
    assert [row.protocol for row in changes.opened] == [UDP]
    assert [row.protocol for row in changes.closed] == [TCP]
    assert len(changes.changed) == 0
    same = tcptable.diff(snapshot_of([tcp, udp]), snapshot_of([udp, tcp]))
    assert len(same) == 0


def test_poll_changes_sees_an_own_udp_socket_open_and_close() -> None:
    with tcptable.Poller(family="ipv4", protocol="udp") as poller:
        poller.poll_changes()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        opened = [row for row in poller.poll_changes().opened if row.local_port == port]
        assert [(row.protocol, row.local_address) for row in opened] == [(UDP, "127.0.0.1")]
        sock.close()
        closed = [row for row in poller.poll_changes().closed if row.local_port == port]
        assert [row.protocol for row in closed] == [UDP]
