"""Linux: family "all" in one walk of the kernel's TCP hash (TCPDIAG_GETSOCK), the same rows as
one dump per family, and the fallback to two dumps when the kernel refuses the one-walk request.

The refusal is driven through the per-poller system-call seam (tcptable_poller_set_linux_calls):
a fake sendto keeps the one-walk request from the kernel and a fake recv answers it with the
NLMSG_ERROR a kernel without that request would send; every other call goes to the real libc.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from conftest import Pair, ipv6_available, open_pair, own_rows
from faults import KernelStub

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from tcptable._native import ffi, lib

    LIBC = ctypes.CDLL(None, use_errno=True)
    LIBC.sendto.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint32,
    ]
    LIBC.sendto.restype = ctypes.c_ssize_t
    LIBC.recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    LIBC.recv.restype = ctypes.c_ssize_t

NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
NLMSG_ERROR = 2
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18


@pytest.fixture
def pairs() -> Iterator[list[Pair]]:
    """Three pairs of each family (IPv6 when the machine has a loopback for it)."""
    opened = []
    for family in [4, 6] if ipv6_available() else [4]:
        opened += [open_pair(family) for _ in range(3)]
    yield opened
    for pair in opened:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()


def own(table: Iterable[tcptable.Connection], pairs: list[Pair]) -> Counter[tcptable.Connection]:
    """The rows of our pairs' sockets, as a multiset of whole rows (own_rows fails on a
    duplicate)."""
    rows = list(table)
    found: Counter[tcptable.Connection] = Counter()
    for pair in pairs:
        found.update(own_rows(rows, pair).values())
    return found


def poll_with(
    one_walk: bool, family: str = "all", pids: bool = False, **filters: Any
) -> tcptable.Snapshot:
    with tcptable.Poller(family=family, pids=pids, source="netlink", **filters) as poller:
        assert lib.tcptable_netlink_set_one_walk(poller._handle, int(one_walk)) == 0
        return poller.poll()


def test_one_walk_gives_the_rows_of_one_dump_per_family(pairs: list[Pair]) -> None:
    one_walk = own(poll_with(True), pairs)
    two_dumps = own(poll_with(False), pairs)
    per_family = own(list(poll_with(True, "ipv4")) + list(poll_with(True, "ipv6")), pairs)
    assert len(one_walk) == 3 * len(pairs)  # every socket once: listener, client, server
    assert sum(one_walk.values()) == 3 * len(pairs)
    assert one_walk == two_dumps == per_family


@pytest.mark.parametrize("narrowed", ["states", "local_ports", "remote_ports"])
def test_one_walk_takes_the_kernel_filters_of_the_dumps(pairs: list[Pair], narrowed: str) -> None:
    # The filters travel in the request (idiag_states, a bytecode attribute) for either kind.
    listen_ports = [pair.listen_port for pair in pairs]
    filters: dict[str, Any] = {
        "states": {"LISTEN"},
        "local_ports": listen_ports,
        "remote_ports": listen_ports,
    }
    chosen = {narrowed: filters[narrowed]}
    one_walk = own(poll_with(True, **chosen), pairs)
    assert one_walk == own(poll_with(False, **chosen), pairs)
    wanted = {
        "states": lambda row: row.state == tcptable.State.LISTEN,
        "local_ports": lambda row: row.local_port in listen_ports,
        "remote_ports": lambda row: row.remote_port in listen_ports,
    }[narrowed]
    everything = own(poll_with(True), pairs)
    assert one_walk == Counter({row: n for row, n in everything.items() if wanted(row)})
    assert one_walk


def test_one_walk_rows_carry_their_owner(pairs: list[Pair]) -> None:
    rows = own(poll_with(True, pids=True), pairs)
    assert {row.family for row in rows} == {pair.family for pair in pairs}
    assert {row.pid for row in rows} == {os.getpid()}


class FakeKernel(KernelStub):
    """sendto/recv for one poller: the one-walk request gets `answer` (an errno for an
    NLMSG_ERROR reply, a negative errno for a failing recv, None for the kernel's real answer);
    everything else is real."""

    def __init__(self, answer: int | None) -> None:
        self.answer = answer
        self.requests: list[int] = []  # nlmsg_type of every request sent
        self.pending: bytes | None = None
        super().__init__()

    @staticmethod
    def _address(pointer: Any) -> int:
        return int(ffi.cast("uintptr_t", pointer))

    def _sendto(self, fd: int, buffer: Any, length: int, flags: int, to: Any, size: int) -> int:
        request = ffi.buffer(buffer, length)[:]
        kind = NLMSG_HEADER.unpack_from(request)[1]
        self.requests.append(kind)
        if kind == TCPDIAG_GETSOCK and self.answer is not None:
            self.pending = request  # never reaches the kernel
            return length
        sent = int(LIBC.sendto(fd, self._address(buffer), length, flags, self._address(to), size))
        if sent < 0:
            ffi.errno = ctypes.get_errno()
        return sent

    def _recv(self, fd: int, buffer: Any, length: int, flags: int) -> int:
        if self.pending is not None and self.answer is not None:
            request, self.pending = self.pending, None
            if self.answer < 0:
                ffi.errno = -self.answer
                return -1
            _, _, _, sequence, _ = NLMSG_HEADER.unpack_from(request)
            # struct nlmsgerr: the negative errno, then the request's header.
            body = struct.pack("=i", -self.answer) + request[: NLMSG_HEADER.size]
            reply = NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), NLMSG_ERROR, 0, sequence, 0)
            reply += body
            ffi.memmove(buffer, reply, len(reply))
            return len(reply)
        got = int(LIBC.recv(fd, self._address(buffer), length, flags))
        if got < 0:
            ffi.errno = ctypes.get_errno()
        return got


@pytest.fixture
def faked() -> Iterator[Any]:
    """make(answer) -> (Poller, FakeKernel); the fakes must not have raised."""
    made: list[tuple[tcptable.Poller, FakeKernel]] = []

    def make(answer: int | None) -> tuple[tcptable.Poller, FakeKernel]:
        poller = tcptable.Poller(pids=False, source="netlink")
        kernel = FakeKernel(answer)
        assert lib.tcptable_poller_set_linux_calls(poller._handle, kernel.calls) == 0
        made.append((poller, kernel))
        return poller, kernel

    yield make
    for poller, kernel in made:
        poller.close()
        assert not kernel.errors, kernel.errors


@pytest.mark.parametrize("refusal", [errno.EINVAL, errno.EOPNOTSUPP])
def test_a_refused_one_walk_falls_back_to_two_dumps_for_good(
    faked: Any, pairs: list[Pair], refusal: int
) -> None:
    poller, kernel = faked(refusal)
    first = own(poller.poll(), pairs)
    assert kernel.requests == [TCPDIAG_GETSOCK, SOCK_DIAG_BY_FAMILY, SOCK_DIAG_BY_FAMILY]
    second = own(poller.poll(), pairs)
    # The refusal is remembered: no second try at the one-walk request.
    assert kernel.requests[3:] == [SOCK_DIAG_BY_FAMILY, SOCK_DIAG_BY_FAMILY]
    assert first == second == own(poll_with(True), pairs)
    assert sum(first.values()) == 3 * len(pairs)
    # Switching one walk on again forgets the refusal: the next poll asks again.
    assert lib.tcptable_netlink_set_one_walk(poller._handle, 1) == 0
    assert own(poller.poll(), pairs) == first
    assert kernel.requests[5] == TCPDIAG_GETSOCK


def test_a_failing_one_walk_is_an_error_not_a_refusal(faked: Any, pairs: list[Pair]) -> None:
    poller, kernel = faked(-errno.ENOBUFS)  # recv itself fails: no answer from the kernel
    with pytest.raises(tcptable.TcpTableError, match="sock_diag recv") as raised:
        poller.poll()
    assert raised.value.errno == errno.ENOBUFS
    # A lost dump is restarted (a bounded number of times), always as one walk.
    tries = lib.TCPTABLE_DUMP_TRIES
    assert kernel.requests == [TCPDIAG_GETSOCK] * tries
    # Not remembered as a refusal: the next poll asks for one walk again, and gets the rows.
    kernel.answer = None
    rows = own(poller.poll(), pairs)
    assert kernel.requests[tries:] == [TCPDIAG_GETSOCK]
    assert rows == own(poll_with(False), pairs)
