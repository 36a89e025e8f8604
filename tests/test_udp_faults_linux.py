"""Linux UDP faults: a kernel without udp_diag, a failing UDP dump, malformed /proc/net/udp.
Each gives the exact table from the fallback or a TcpTableError naming the call and the errno,
and leaves no descriptor open."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LOOPBACK

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from faults import HEADER, REAL, Seam, Text, error_message, fail, fail_first, passthrough

    from tcptable._native import ffi

IPPROTO_UDP = 17


@pytest.fixture
def bound() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK[4], 0))
    before = set(os.listdir("/proc/self/fd"))
    yield sock
    sock.close()
    assert set(os.listdir("/proc/self/fd")) <= before, "a descriptor was left open"


def own(table: tcptable.Snapshot, sock: socket.socket) -> list[tcptable.Connection]:
    port = sock.getsockname()[1]
    return [
        row
        for row in table
        if row.protocol == tcptable.Protocol.UDP
        and row.local_port == port
        and row.local_address == LOOPBACK[4]
    ]


class NoUdpDiag:
    """sendto/recv fakes of a kernel whose sock_diag has no UDP handler: it answers every UDP
    request with NLMSG_ERROR ENOENT (as a kernel without the udp_diag module does) and passes
    every other request to the real kernel."""

    def __init__(self) -> None:
        self.udp_requests = 0
        self.pending: deque[bytes] = deque()

    def sendto(self, fd: int, buffer: Any, length: int, flags: int, to: Any, size: int) -> int:
        request = bytes(ffi.buffer(buffer, length))
        if request[HEADER.size + 1] == IPPROTO_UDP:  # inet_diag_req_v2.sdiag_protocol
            self.udp_requests += 1
            self.pending.append(error_message(HEADER.unpack_from(request)[3], errno.ENOENT))
            return length
        return int(REAL.sendto(fd, buffer, length, flags, to, size))

    def recv(self, fd: int, buffer: Any, length: int, flags: int) -> int:
        if not self.pending:
            return int(REAL.recv(fd, buffer, length, flags))
        reply = self.pending.popleft()
        ffi.memmove(buffer, reply, len(reply))
        return len(reply)


def test_without_udp_diag_default_source_reads_proc_net_udp(bound: socket.socket) -> None:
    kernel = NoUdpDiag()
    with tcptable.Poller(family="ipv4", protocol="all") as poller:
        seam = Seam(poller, sendto=kernel.sendto, recv=kernel.recv)
        for _ in range(2):
            rows = own(poller.poll(), bound)
            assert len(rows) == 1
            assert rows[0].pid == os.getpid()
        # Refused once: the second poll went to /proc/net/udp straight away.
        assert kernel.udp_requests == 1
        assert seam.errors == []


def test_without_udp_diag_netlink_source_is_not_supported(bound: socket.socket) -> None:
    kernel = NoUdpDiag()
    with tcptable.Poller(family="ipv4", protocol="udp", source="netlink") as poller:
        seam = Seam(poller, sendto=kernel.sendto, recv=kernel.recv)
        with pytest.raises(tcptable.NotSupportedError, match="sock_diag for UDP") as info:
            poller.poll()
        assert info.value.errno == errno.ENOENT
        assert seam.errors == []
        seam.remove()
        assert len(own(poller.poll(), bound)) == 1


def test_udp_dump_recv_failure_names_the_call(bound: socket.socket) -> None:
    with tcptable.Poller(family="ipv4", protocol="udp", source="netlink") as poller:
        seam = Seam(poller, recv=fail_first("recv", errno.EIO))
        with pytest.raises(tcptable.TcpTableError, match="sock_diag recv") as info:
            poller.poll()
        assert info.value.errno == errno.EIO
        assert seam.errors == []
        seam.remove()
        assert len(own(poller.poll(), bound)) == 1


UDP_HEADER = (
    b"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    b"   uid  timeout inode ref pointer drops\n"
)
UDP_LINE = (
    b"  1: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000"
    b"     0        0 4242 2 0000000000000000 0\n"
)


def proc_poller(chunks: list[bytes]) -> tuple[tcptable.Poller, Any]:
    poller = tcptable.Poller(family="ipv4", protocol="udp", source="proc", pids=False)
    paths: list[Any] = []

    def open_hook(path: Any, flags: int) -> int:
        paths.append(ffi.string(path).decode())
        return int(REAL.open(path, flags))

    seam = Seam(poller, open=open_hook, read=Text(chunks))
    seam.paths = paths  # type: ignore[attr-defined]
    return poller, seam


def test_proc_net_udp_is_decoded() -> None:
    poller, seam = proc_poller([UDP_HEADER + UDP_LINE])
    with poller:
        rows = list(poller.poll())
    assert seam.paths == ["/proc/net/udp"]
    assert [(r.local_address, r.local_port, r.state, r.protocol, r.inode) for r in rows] == [
        ("127.0.0.1", 53, tcptable.State.NONE, tcptable.Protocol.UDP, 4242)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (UDP_HEADER + UDP_LINE.replace(b" 07 ", b" 0x "), "/proc/net/udp: malformed line 2"),
        (UDP_HEADER + UDP_LINE.replace(b" 07 ", b" 00 "), "unknown Linux TCP state 0"),
        (UDP_HEADER + UDP_LINE[:60] + b"\n", "/proc/net/udp: malformed line 2"),
        (UDP_HEADER + UDP_LINE[:-1], "/proc/net/udp: the last line is cut short"),
        (UDP_LINE, "/proc/net/udp: no header line"),
    ],
    ids=["bad-state", "state-zero", "cut-line", "no-newline", "no-header"],
)
def test_malformed_proc_net_udp_fails(text: bytes, message: str) -> None:
    poller, seam = proc_poller([text])
    with poller, pytest.raises(tcptable.TcpTableError, match=message) as info:
        poller.poll()
    assert info.value.errno == errno.EBADMSG
    assert seam.errors == []


def test_proc_net_udp_read_failure_names_the_file() -> None:
    with tcptable.Poller(family="ipv4", protocol="udp", source="proc") as poller:
        seam = Seam(poller, open=passthrough("open"), read=lambda *args: fail(errno.EIO))
        with pytest.raises(tcptable.TcpTableError, match="/proc/net/udp") as info:
            poller.poll()
        assert info.value.errno == errno.EIO
        assert seam.errors == []


def test_missing_proc_net_udp6_is_an_empty_ipv6_table(bound: socket.socket) -> None:
    def open_hook(path: Any, flags: int) -> int:
        if ffi.string(path) == b"/proc/net/udp6":
            return fail(errno.ENOENT)
        return int(REAL.open(path, flags))

    with tcptable.Poller(family="all", protocol="udp", source="proc") as poller:
        seam = Seam(poller, open=open_hook)
        assert len(own(poller.poll(), bound)) == 1
        assert seam.errors == []
