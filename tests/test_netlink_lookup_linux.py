"""The owner search's single-socket look-ups: before reading every process's fds for a socket
no process seems to hold, the shim asks sock_diag about that one socket (is it still open?).
That request goes through the poller's system-call seam like the dumps, on the dumps' socket
(so with their receive timeout), with their EINTR retries; whatever goes wrong with it leaves
the poll's result as it would be without it: never an error, a hang or a leaked descriptor.

Each test adds a row for a socket that does not exist (a copy of the pair's client row with
another local port and inode) to the kernel's dump: no process holds it, so a poll with pids
looks it up, and the kernel answers "no such socket" (ENOENT) unless the test changes that.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from conftest import Pair, own_rows

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from faults import HEADER, REAL, Replies, Seam, diag_port, join, kind, messages

    from tcptable._native import ffi, lib

FAMILY = {4: "ipv4", 6: "ipv6"}
NLM_F_DUMP = 0x300
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18
GHOST_INODE = 0x7FFFFFF0
# inet_diag_msg: idiag_sport at payload byte 4, idiag_inode at byte 68; inet_diag_req_v2:
# idiag_sport at payload byte 8.
DIAG_SPORT, DIAG_INODE, REQUEST_SPORT = 4, 68, 8


def free_port(family: int) -> int:
    with socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6) as probe:
        probe.bind(("127.0.0.1" if family == 4 else "::1", 0))
        return int(probe.getsockname()[1])


def ghost_of(message: bytes, port: int) -> bytes:
    """The inet_diag_msg `message` as a socket on local port `port` with an unused inode."""
    edited = bytearray(message)
    struct.pack_into("!H", edited, HEADER.size + DIAG_SPORT, port)
    struct.pack_into("=I", edited, HEADER.size + DIAG_INODE, GHOST_INODE)
    return bytes(edited)


class Kernel:
    """sendto and recv hooks: the real kernel, with the ghost row added to the dumps, and
    each reply to a look-up of it replaced by `on_lookup(reply)`."""

    def __init__(self, pair: Pair, on_lookup: Callable[[bytes], list[bytes | int]]) -> None:
        self.client_port = pair.client.getsockname()[1]
        self.listen_port = pair.listen_port
        self.ghost_port = free_port(pair.family)
        self.on_lookup = on_lookup
        # (sequence, local port, remote port) of each request
        self.lookups: list[tuple[int, int, int]] = []
        self.timeouts: dict[int, bytes] = {}  # local port -> SO_RCVTIMEO of the socket it used
        self.replies = Replies(self._edit)

    def sendto(self, fd: int, buffer: Any, length: int, flags: int, to: Any, size: int) -> int:
        request = bytes(ffi.buffer(buffer, length))
        _, _, nl_flags, seq, _ = HEADER.unpack_from(request)
        if not nl_flags & NLM_F_DUMP:
            port, remote = struct.unpack_from("!HH", request, HEADER.size + REQUEST_SPORT)
            self.lookups.append((seq, port, remote))
            with socket.socket(fileno=os.dup(fd)) as view:
                self.timeouts[port] = view.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
        return int(REAL.sendto(fd, buffer, length, flags, to, size))

    def _edit(self, index: int, datagram: bytes) -> list[bytes | int]:
        parts = messages(datagram)
        looked_up = {seq: port for seq, port, _ in self.lookups}
        if parts and HEADER.unpack_from(parts[0])[3] in looked_up:
            # Other processes' sockets may be looked up too (those in another pid namespace,
            # say): only the ghost's answer is changed.
            port = looked_up[HEADER.unpack_from(parts[0])[3]]
            return self.on_lookup(datagram) if port == self.ghost_port else [datagram]
        edited = []
        for part in parts:
            edited.append(part)
            if kind(part) in (SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK) and (
                diag_port(part) == self.client_port
            ):
                edited.append(ghost_of(part, self.ghost_port))
        return [join(edited)]


@pytest.fixture
def lookup(pair: Pair) -> Iterator[Callable[..., tuple[tcptable.Poller, Kernel]]]:
    """make(on_lookup) -> (poller with pids, kernel); afterwards no hook raised, the poller on
    the real calls finds the pair again, and no descriptor is left open."""
    before = set(os.listdir("/proc/self/fd"))
    made: list[tuple[tcptable.Poller, Seam]] = []

    def make(on_lookup: Callable[[bytes], list[bytes | int]]) -> tuple[tcptable.Poller, Kernel]:
        kernel = Kernel(pair, on_lookup)
        poller = tcptable.Poller(family=FAMILY[pair.family], pids=True)
        made.append((poller, Seam(poller, sendto=kernel.sendto, recv=kernel.replies)))
        return poller, kernel

    yield make
    for poller, seam in made:
        assert not seam.errors, seam.errors
        seam.remove()
        assert set(own_rows(poller.poll(), pair)) == pair.expected()
        poller.close()
    assert set(os.listdir("/proc/self/fd")) == before


# A fresh poller's owner search reaches its look-ups only on the way to a full scan of /proc;
# on a busy machine a poll can resolve everything it needs (the ghost aside) by another road
# first.  So a check makes up to this many fresh pollers until one of them looks the ghost up.
ATTEMPTS = 5


def check_poll(
    make: Callable[..., tuple[tcptable.Poller, Kernel]],
    on_lookup: Callable[[bytes], list[bytes | int]],
    pair: Pair,
) -> tuple[tcptable.Poller, Kernel]:
    """A poll gives the pair with this process as owner and the ghost without one, after one
    look-up of the ghost, on a socket with the dumps' receive timeout."""
    for _ in range(ATTEMPTS):
        poller, kernel = make(on_lookup)
        snapshot = poller.poll()
        ghost = (kernel.ghost_port, pair.listen_port)
        if ghost in [(port, remote) for _, port, remote in kernel.lookups]:
            break
    rows = own_rows(snapshot, pair)
    assert set(rows) == pair.expected()
    assert {row.pid for row in rows.values()} == {os.getpid()}
    ghosts = [row for row in snapshot if (row.local_port, row.remote_port) == ghost]
    assert [row.pid for row in ghosts] == [0]
    assert [(port, remote) for _, port, remote in kernel.lookups].count(ghost) == 1
    seconds, microseconds = struct.unpack("=qq", kernel.timeouts[kernel.ghost_port])
    assert seconds * 1000 + microseconds // 1000 == lib.TCPTABLE_LINUX_TIMEOUT_MS
    assert not kernel.replies.pending
    return poller, kernel


def test_a_lookup_goes_through_the_seam_with_the_dumps_timeout(lookup, pair: Pair) -> None:
    answers: list[bytes] = []

    def on_lookup(reply: bytes) -> list[bytes | int]:
        answers.append(reply)
        return [reply]

    check_poll(lookup, on_lookup, pair)
    # The kernel's answer: NLMSG_ERROR ENOENT, no such socket.
    assert [kind(reply) for reply in answers] == [2]
    assert struct.unpack_from("=i", answers[0], HEADER.size)[0] == -errno.ENOENT


def test_an_interrupted_lookup_recv_is_retried(lookup, pair: Pair) -> None:
    _, kernel = check_poll(lookup, lambda reply: [errno.EINTR, errno.EINTR, reply], pair)
    assert kernel.replies.offered


@pytest.mark.parametrize("err", [errno.EAGAIN, errno.ENOBUFS, errno.EBADF])
def test_a_failed_lookup_is_not_an_error_of_the_poll(lookup, pair: Pair, err: int) -> None:
    # EAGAIN is what recv gives once the receive timeout has passed: the poll does not wait
    # for the kernel any longer, and the full search goes on without the answer.
    check_poll(lookup, lambda reply: [err], pair)


def test_a_stale_reply_before_the_lookups_own_is_skipped(lookup, pair: Pair) -> None:
    def on_lookup(reply: bytes) -> list[bytes | int]:
        length, type_, flags, seq, port = HEADER.unpack_from(reply)
        stale = HEADER.pack(length, type_, flags, seq - 1, port) + reply[HEADER.size :]
        return [stale, reply]

    check_poll(lookup, on_lookup, pair)
