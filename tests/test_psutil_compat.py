"""tcptable.psutil_compat: the same answers as psutil.net_connections, on the test's own sockets,
for every kind psutil accepts."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LOOPBACK, UNDER_WINE, Pair, ipv6_available, open_pair

import tcptable
from tcptable import psutil_compat

psutil = pytest.importorskip("psutil", reason="psutil has no wheel for this Python")

HAS_UNIX = hasattr(socket, "AF_UNIX")
FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
# kind -> (address families, socket types) psutil puts in it
KINDS: dict[str, tuple[set[int], set[int]]] = {
    "tcp": ({4, 6}, {socket.SOCK_STREAM}),
    "tcp4": ({4}, {socket.SOCK_STREAM}),
    "tcp6": ({6}, {socket.SOCK_STREAM}),
    "udp": ({4, 6}, {socket.SOCK_DGRAM}),
    "udp4": ({4}, {socket.SOCK_DGRAM}),
    "udp6": ({6}, {socket.SOCK_DGRAM}),
    "inet": ({4, 6}, {socket.SOCK_STREAM, socket.SOCK_DGRAM}),
    "inet4": ({4}, {socket.SOCK_STREAM, socket.SOCK_DGRAM}),
    "inet6": ({6}, {socket.SOCK_STREAM, socket.SOCK_DGRAM}),
    "all": ({4, 6, 0}, {socket.SOCK_STREAM, socket.SOCK_DGRAM}),
}
if HAS_UNIX:
    KINDS["unix"] = ({0}, {socket.SOCK_STREAM, socket.SOCK_DGRAM})


class Own:
    """The test's sockets: a TCP pair per family, a bound and a connected UDP socket per
    family, and (where Python has AF_UNIX) a named UNIX listener, a UNIX pair and a named
    UNIX datagram socket."""

    def __init__(self) -> None:
        self.families = [4, 6] if ipv6_available() else [4]
        self.pairs: list[Pair] = [open_pair(family) for family in self.families]
        self.sockets: list[socket.socket] = []
        for pair in self.pairs:
            self.sockets += [pair.listener, pair.client, pair.server]
        self.udp: dict[int, list[socket.socket]] = {}
        for family in self.families:
            af = FAMILIES[family]
            bound = socket.socket(af, socket.SOCK_DGRAM)
            bound.bind((LOOPBACK[family], 0))
            connected = socket.socket(af, socket.SOCK_DGRAM)
            connected.bind((LOOPBACK[family], 0))
            connected.connect(bound.getsockname()[:2])
            self.udp[family] = [bound, connected]
            self.sockets += [bound, connected]
        self.directory = tempfile.mkdtemp(prefix="tcptable-psutil-")
        self.paths: list[str] = []
        if HAS_UNIX:
            listener_path = os.path.join(self.directory, "listener")
            datagram_path = os.path.join(self.directory, "datagram")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(listener_path)
            listener.listen()
            datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            datagram.bind(datagram_path)
            left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sockets += [listener, datagram, left, right]
            self.paths = [listener_path, datagram_path]

    def count(self, kind: str) -> int:
        """How many rows of this process's sockets `kind` holds."""
        families, types = KINDS[kind]
        total = 0
        for family in self.families:
            if family in families:
                total += 3 * (socket.SOCK_STREAM in types) + 2 * (socket.SOCK_DGRAM in types)
        if 0 in families and HAS_UNIX:
            total += 4
        return total

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        for path in self.paths:
            os.unlink(path)
        os.rmdir(self.directory)


@pytest.fixture(scope="module")
def own() -> Iterator[Own]:
    sockets = Own()
    yield sockets
    sockets.close()


def mine(connections: list[Any], own: Own) -> set[tuple[Any, ...]]:
    """The rows of the test's own sockets, whole (fd included), found by this process's pid
    and the socket's fd (or, where the OS names no fd, its local address): no other process
    opens or closes these while the test runs.  psutil on Windows reports an unknown owner as
    pid 0; the adapter says None."""
    me = os.getpid()
    # Wine reports no owning pids: there the rows are this process's by their ends alone.
    owners = {me, 0, None} if UNDER_WINE else {me}
    fds = {sock.fileno() for sock in own.sockets}
    addresses = {
        sock.getsockname()[:2]
        for sock in own.sockets
        if sock.family != getattr(socket, "AF_UNIX", None)
    }
    return {
        (*conn[:6], conn.pid or None)
        for conn in connections
        if conn.pid in owners
        and (conn.fd in fds or (conn.fd == -1 and tuple(conn.laddr) in addresses))
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_equal_to_psutil_on_own_sockets(kind: str, own: Own) -> None:
    ours = mine(psutil_compat.net_connections(kind), own)
    theirs = mine(psutil.net_connections(kind), own)
    assert ours == theirs
    # Not vacuous: every socket of this process that the kind holds is there.
    assert len(ours) == own.count(kind)
    types = KINDS[kind][1]
    for row in ours:
        assert row[2] in types or row[1] == getattr(socket, "AF_UNIX", None)


def test_default_kind_is_inet(own: Own) -> None:
    default = mine(psutil_compat.net_connections(), own)
    assert default == mine(psutil_compat.net_connections("inet"), own)
    assert len(default) == own.count("inet")


@pytest.mark.skipif(UNDER_WINE, reason="Wine reports no owning pids (0)")
def test_fd_is_the_holders_descriptor_as_psutil_reports_it(own: Own) -> None:
    rows = {(c.family, c.type, c.laddr, c.raddr): c for c in psutil_compat.net_connections("all")}
    pair = own.pairs[0]
    listener = rows[(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", pair.listen_port), ())]
    client = rows[
        (
            socket.AF_INET,
            socket.SOCK_STREAM,
            ("127.0.0.1", pair.client_port),
            ("127.0.0.1", pair.listen_port),
        )
    ]
    bound = own.udp[4][0]
    udp = rows[(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", bound.getsockname()[1]), ())]
    fds = (listener.fd, client.fd, udp.fd)
    expected = (pair.listener.fileno(), pair.client.fileno(), bound.fileno())
    if psutil.net_connections("tcp4")[0].fd == -1 and fds == (-1, -1, -1):
        pytest.skip("this OS's table names no descriptor (psutil says -1 too)")
    assert fds == expected
    assert listener.pid == client.pid == udp.pid == os.getpid()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
@pytest.mark.skipif(UNDER_WINE, reason="Wine reports no owning pids (0)")
def test_reuseport_listeners_are_two_rows_as_in_psutil() -> None:
    first = socket.socket()
    second = socket.socket()
    try:
        for sock in (first, second):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second.bind(("127.0.0.1", port))
        first.listen()
        second.listen()

        def listeners(connections: list[Any]) -> list[tuple[Any, ...]]:
            return sorted(
                tuple(c)
                for c in connections
                if c.laddr == ("127.0.0.1", port) and c.status == "LISTEN"
            )

        ours = listeners(psutil_compat.net_connections("tcp4"))
        assert ours == listeners(psutil.net_connections("tcp4"))
        assert [row[0] for row in ours] == sorted([first.fileno(), second.fileno()])
        assert len(set(ours)) == 2
    finally:
        first.close()
        second.close()


@pytest.mark.skipif(not HAS_UNIX, reason="no AF_UNIX")
@pytest.mark.skipif(UNDER_WINE, reason="Wine reports no owning pids (0)")
def test_unix_rows_have_psutils_shapes(own: Own) -> None:
    rows = {c.laddr: c for c in psutil_compat.net_connections("unix") if c.pid == os.getpid()}
    listener = rows[own.paths[0]]
    assert listener.family is socket.AF_UNIX
    assert listener.type is socket.SOCK_STREAM
    assert (listener.raddr, listener.status) == ("", "NONE")
    assert rows[own.paths[1]].type is socket.SOCK_DGRAM


def test_shapes_match_psutil(own: Own) -> None:
    pair = own.pairs[0]
    rows = {
        (c.laddr, c.raddr): c
        for c in psutil_compat.net_connections("tcp4")
        if c.laddr and c.laddr.port in (pair.listen_port, pair.client_port)
    }
    client = rows[(("127.0.0.1", pair.client_port), ("127.0.0.1", pair.listen_port))]
    assert client.family is socket.AF_INET
    assert client.type is socket.SOCK_STREAM
    assert client.status == psutil.CONN_ESTABLISHED
    assert client.laddr.ip == "127.0.0.1"
    assert client.raddr.port == pair.listen_port
    if not UNDER_WINE:  # Wine reports no owning pids (0)
        assert client.pid == os.getpid()
    theirs = next(iter(psutil.net_connections("tcp4")), None)
    if theirs is not None:
        assert type(client)._fields == type(theirs)._fields
        assert type(client.laddr)._fields == type(theirs.laddr)._fields
    bound = own.udp[4][0]
    udp = next(
        c
        for c in psutil_compat.net_connections("udp4")
        if c.laddr == ("127.0.0.1", bound.getsockname()[1])
    )
    assert (udp.type, udp.raddr, udp.status) == (socket.SOCK_DGRAM, (), "NONE")


def test_status_strings_are_psutils() -> None:
    statuses = dict(psutil_compat._STATUS)
    assert statuses[tcptable.State.SYN_RCVD] == psutil.CONN_SYN_RECV == "SYN_RECV"
    assert statuses[tcptable.State.CLOSED] == psutil.CONN_CLOSE == "CLOSE"
    assert statuses[tcptable.State.DELETE_TCB] == "DELETE_TCB"
    for member, status in statuses.items():
        if member is not tcptable.State.DELETE_TCB:  # psutil defines it on Windows only
            assert getattr(psutil, f"CONN_{status}") == status
    assert psutil_compat.CONN_NONE == psutil.CONN_NONE == "NONE"


@pytest.mark.parametrize("kind", ["TCP", "", "???", "tcp ", "unix4", None, 4, b"tcp"])
def test_bad_kinds_raise_psutils_error(kind: object) -> None:
    with pytest.raises(ValueError, match=r"^invalid kind argument ") as theirs:
        psutil.net_connections(kind)
    with pytest.raises(ValueError, match=r"^invalid kind argument ") as ours:
        psutil_compat.net_connections(kind)  # type: ignore[arg-type]
    assert str(ours.value) == str(theirs.value)
    assert repr(kind) in str(ours.value)


def test_every_kind_psutil_accepts_is_accepted() -> None:
    from psutil._common import conn_tmap

    assert tuple(conn_tmap) == psutil_compat._KIND_NAMES


def test_close_frees_the_kept_pollers_and_calls_still_work(own: Own) -> None:
    psutil_compat.net_connections("tcp4")
    kept = [poller for poller, _ in psutil_compat._tables.inet.values()]
    assert kept
    psutil_compat.close()
    assert all(poller.closed for poller in kept)
    pair = own.pairs[0]
    again = {c.laddr for c in psutil_compat.net_connections("tcp4")}
    assert ("127.0.0.1", pair.listen_port) in again


@pytest.mark.skipif(
    sys.platform.startswith("linux"), reason="Linux lists UNIX sockets (tests/test_unix_linux.py)"
)
def test_no_unix_table_off_linux_and_all_still_answers(own: Own) -> None:
    with pytest.raises(tcptable.NotSupportedError, match="UNIX domain sockets") as raised:
        tcptable.unix_snapshot()
    assert raised.value.os_error is None
    rows = psutil_compat.net_connections("all")
    pair = own.pairs[0]
    assert ("127.0.0.1", pair.listen_port) in {c.laddr for c in rows}
    assert not [c for c in rows if c.family == getattr(socket, "AF_UNIX", -1)]


@pytest.mark.skipif(UNDER_WINE, reason="Wine reports no owning pids (0)")
def test_a_socket_held_twice_shows_the_lowest_fd_as_in_psutil() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    copy = os.dup(listener.fileno())
    try:
        port = listener.getsockname()[1]

        def fds(connections: list[Any]) -> list[int]:
            return [c.fd for c in connections if c.laddr == ("127.0.0.1", port)]

        ours = fds(psutil_compat.net_connections("tcp4"))
        assert ours == fds(psutil.net_connections("tcp4"))
        if ours != [-1]:  # an OS whose table names descriptors
            assert ours == [min(listener.fileno(), copy)]
    finally:
        os.close(copy)
        listener.close()
