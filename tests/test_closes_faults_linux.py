"""Close events under fault injection: every failing call of the event socket, and every odd
datagram, gives a specific error naming the call (or an honest loss count), never a crash, a
hang, a silently dropped event or a leaked descriptor.

The event socket is opened after the seam is in place (lib.tcptable_events_open, what
Poller(closes=True) calls); its recv is told apart from the dump's by MSG_DONTWAIT.
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
from conftest import Pair, open_pair

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from faults import REAL, Seam, fail

    from tcptable._errors import raise_for_status
    from tcptable._native import ffi, lib

MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
SOL_SOCKET = 1
SO_RCVBUF = 8
SO_RCVBUFFORCE = 33
SO_MEMINFO = 55
SK_MEMINFO_DROPS = 8
SOCK_DIAG_BY_FAMILY = 20
NO_COOKIE = (0xFFFFFFFF, 0xFFFFFFFF)
TCP_CLOSE = 7


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def open_events(poller: tcptable.Poller, **hooks: Callable[..., int]) -> Seam:
    """Install `hooks` on `poller`, then open its close events as Poller(closes=True) does."""
    seam = Seam(poller, **hooks)
    poller._test_seam = seam  # type: ignore[attr-defined]  # its callbacks live while it does
    code = lib.tcptable_events_open(poller._handle, poller._families, poller._source)
    if code == lib.TCPTABLE_OK:
        poller.closes = True
    raise_for_status(poller._handle, code)
    return seam


def info_of(poller: tcptable.Poller) -> Any:
    info = ffi.new("tcptable_events_info *")
    raise_for_status(poller._handle, lib.tcptable_events_get_info(poller._handle, info))
    return info


def event(
    family: int = 4,
    local: tuple[str, int] = ("127.0.0.1", 40000),
    remote: tuple[str, int] = ("127.0.0.1", 50000),
    cookie: tuple[int, int] = (1, 2),
    state: int = TCP_CLOSE,
    length: int | None = None,
    kind: int = SOCK_DIAG_BY_FAMILY,
    protocol: int | None = None,
) -> bytes:
    """One destroy event as the kernel sends it: nlmsghdr + inet_diag_msg (no attributes)."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    addresses = [
        socket.inet_pton(af, address).ljust(16, b"\0") for address in (local[0], remote[0])
    ]
    message = struct.pack("=BBBB", af, state, 0, 0)
    message += struct.pack(">HH", local[1], remote[1]) + addresses[0] + addresses[1]
    message += struct.pack("=III", 0, *cookie)
    message += struct.pack("=IIIII", 0, 0, 0, 0, 0)  # expires, queues, uid, inode
    if protocol is not None:  # INET_DIAG_PROTOCOL (10), a u8, padded to 4 bytes
        message += struct.pack("=HHB3x", 5, 10, protocol)
    size = 16 + len(message)
    return struct.pack("=IHHII", size if length is None else length, kind, 0, 0, 0) + message


class EventFeed:
    """A recv fake: the event socket gets `datagrams` in order (bytes, or an int errno to fail
    with), then EAGAIN; the dump's recv is the real one."""

    def __init__(self, *datagrams: bytes | int) -> None:
        self.datagrams = list(datagrams)

    def __call__(self, fd: int, buffer: Any, length: int, flags: int) -> int:
        if not flags & MSG_DONTWAIT:
            return int(REAL.recv(fd, buffer, length, flags))
        if not self.datagrams:
            return fail(errno.EAGAIN)
        item = self.datagrams.pop(0)
        if isinstance(item, int):
            return fail(item)
        ffi.memmove(buffer, item, min(len(item), length))
        return len(item) if flags & MSG_TRUNC else min(len(item), length)


@pytest.fixture
def pair4() -> Iterator[Pair]:
    opened = open_pair(4)
    yield opened
    for sock in (opened.client, opened.server, opened.listener):
        sock.close()


@pytest.fixture
def poller() -> Iterator[tcptable.Poller]:
    """A poller whose close events the test opens; afterwards no descriptor is left open."""
    before = open_fds()
    made = tcptable.Poller(family="ipv4")
    yield made
    made.close()
    assert open_fds() == before


# ---------------------------------------------------------------- opening the event socket


@pytest.mark.parametrize("err", [errno.EMFILE, errno.ENFILE])
def test_no_event_socket_is_an_error_naming_it(poller: tcptable.Poller, err: int) -> None:
    with pytest.raises(tcptable.TcpTableError) as raised:
        open_events(poller, socket=lambda *args: fail(err))
    assert type(raised.value) is tcptable.TcpTableError
    assert raised.value.errno == err
    assert "close events: NETLINK_SOCK_DIAG socket" in str(raised.value)


@pytest.mark.parametrize("err", [errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT, errno.EACCES])
def test_no_sock_diag_for_events_is_not_supported(poller: tcptable.Poller, err: int) -> None:
    with pytest.raises(tcptable.NotSupportedError) as raised:
        open_events(poller, socket=lambda *args: fail(err))
    assert raised.value.errno == err


def test_without_cap_net_admin_the_buffer_is_as_large_as_rmem_max_allows(
    poller: tcptable.Poller,
) -> None:
    asked = []

    def setsockopt(fd: int, level: int, name: int, value: Any, length: int) -> int:
        asked.append(name)
        if name == SO_RCVBUFFORCE:
            return fail(errno.EPERM)
        return int(REAL.setsockopt(fd, level, name, value, length))

    open_events(poller, setsockopt=setsockopt)
    assert asked == [SO_RCVBUFFORCE, SO_RCVBUF]
    info = info_of(poller)
    assert info.forced == 0
    with open("/proc/sys/net/core/rmem_max") as rmem_max:
        cap = int(rmem_max.read())
    assert info.receive_buffer == 2 * min(cap, lib.TCPTABLE_EVENTS_RECEIVE_BUFFER)


@pytest.mark.parametrize(
    ("failing", "err", "words"),
    [
        (SO_RCVBUFFORCE, errno.EINVAL, "SO_RCVBUFFORCE"),
        (SO_RCVBUF, errno.EINVAL, "SO_RCVBUF"),
    ],
)
def test_a_failing_buffer_option_is_an_error_naming_it(
    poller: tcptable.Poller, failing: int, err: int, words: str
) -> None:
    def setsockopt(fd: int, level: int, name: int, value: Any, length: int) -> int:
        if name == SO_RCVBUFFORCE and failing == SO_RCVBUF:
            return fail(errno.EPERM)  # unprivileged, and then SO_RCVBUF fails too
        if name == failing:
            return fail(err)
        return int(REAL.setsockopt(fd, level, name, value, length))

    with pytest.raises(tcptable.TcpTableError) as raised:
        open_events(poller, setsockopt=setsockopt)
    assert raised.value.errno == err
    assert words in str(raised.value)


def test_a_refused_join_is_an_error_naming_bind(poller: tcptable.Poller) -> None:
    with pytest.raises(tcptable.TcpTableError) as raised:
        open_events(poller, bind=lambda *args: fail(errno.EPERM))
    assert raised.value.errno == errno.EPERM
    assert "bind to the sock_diag destroy groups" in str(raised.value)


def test_a_failing_drop_count_is_an_error(poller: tcptable.Poller) -> None:
    def getsockopt(fd: int, level: int, name: int, value: Any, length: Any) -> int:
        if name == SO_MEMINFO:
            return fail(errno.EFAULT)
        return int(REAL.getsockopt(fd, level, name, value, length))

    with pytest.raises(tcptable.TcpTableError, match="SO_MEMINFO") as raised:
        open_events(poller, getsockopt=getsockopt)
    assert raised.value.errno == errno.EFAULT


def test_events_join_the_ipv4_and_ipv6_destroy_groups(poller: tcptable.Poller) -> None:
    joined = []

    def bind(fd: int, address: Any, length: int) -> int:
        family, _, _, groups = struct.unpack("=HHII", ffi.buffer(ffi.cast("char *", address), 12))
        joined.append((family, groups))
        return int(REAL.bind(fd, address, length))

    open_events(poller, bind=bind)
    assert joined == [(socket.AF_NETLINK, 1 << 0)]  # SKNLGRP_INET_TCP_DESTROY only: ipv4
    with tcptable.Poller() as both:
        open_events(both, bind=bind)
    assert joined[1] == (socket.AF_NETLINK, 1 << 0 | 1 << 2)  # and SKNLGRP_INET6_TCP_DESTROY


def test_opening_twice_is_refused(poller: tcptable.Poller) -> None:
    open_events(poller)
    with pytest.raises(ValueError, match="already open"):
        raise_for_status(
            poller._handle, lib.tcptable_events_open(poller._handle, poller._families, 0)
        )


# ---------------------------------------------------------------- draining


def test_overflow_counts_the_kernels_drops(poller: tcptable.Poller) -> None:
    drops = [0xFFFFFFFE]  # the kernel's 32-bit counter, about to wrap

    def getsockopt(fd: int, level: int, name: int, value: Any, length: Any) -> int:
        result = int(REAL.getsockopt(fd, level, name, value, length))
        if name == SO_MEMINFO:
            ffi.cast("uint32_t *", value)[SK_MEMINFO_DROPS] = drops[0]
        return result

    feed = EventFeed(event(), errno.ENOBUFS, event(local=("127.0.0.1", 40001)))
    open_events(poller, getsockopt=getsockopt, recv=feed)
    drops[0] = 5  # 7 events dropped while the queue was full (0xFFFFFFFE + 7 wraps to 5)
    changes = poller.poll_changes()
    assert changes.events_lost == 7
    assert [c.local_port for c in changes.finished] == [40000, 40001]  # the rest still came
    assert poller.poll_changes().events_lost == 0


def test_without_a_drop_count_each_overflow_counts_one(poller: tcptable.Poller) -> None:
    def getsockopt(fd: int, level: int, name: int, value: Any, length: Any) -> int:
        if name == SO_MEMINFO:  # a kernel before 4.12
            return fail(errno.ENOPROTOOPT)
        return int(REAL.getsockopt(fd, level, name, value, length))

    open_events(
        poller, getsockopt=getsockopt, recv=EventFeed(errno.ENOBUFS, event(), errno.ENOBUFS)
    )
    assert info_of(poller).exact_losses == 0
    changes = poller.poll_changes()
    assert changes.events_lost == 2
    assert len(changes.finished) == 1


@pytest.mark.parametrize("err", [errno.EIO, errno.EBADF])
def test_a_failing_recv_is_an_error_and_the_next_poll_goes_on(
    poller: tcptable.Poller, err: int
) -> None:
    feed = EventFeed(event(), err, event(local=("127.0.0.1", 40001)))
    open_events(poller, recv=feed)
    with pytest.raises(tcptable.TcpTableError, match="close events: recv") as raised:
        poller.poll_changes()
    assert raised.value.errno == err
    changes = poller.poll_changes()
    assert [c.local_port for c in changes.finished] == [40000, 40001]  # nothing dropped


@pytest.mark.parametrize(
    ("datagram", "words"),
    [
        (b"", "empty datagram"),
        (event(length=8), "malformed netlink message"),
        (event(length=4096), "malformed netlink message"),
        (event(length=16 + 40)[: 16 + 40], "short inet_diag_msg"),
        (event(kind=2), "netlink message of type 2"),
        (event(state=99), "unknown Linux TCP state 99"),
        (event(family=6, local=("::1", 1), remote=("::1", 2)), "close event of IPv6"),
        (b"\0" * 65536, "datagram of 65536 bytes"),
    ],
    ids=["empty", "short-length", "long-length", "short-msg", "type", "state", "family", "big"],
)
def test_odd_datagrams_are_bad_data(poller: tcptable.Poller, datagram: bytes, words: str) -> None:
    open_events(poller, recv=EventFeed(datagram, event(local=("127.0.0.1", 40002))))
    with pytest.raises(tcptable.TcpTableError, match=words) as raised:
        poller.poll_changes()
    assert raised.value.errno == errno.EBADMSG
    # The datagram is gone; the next event still arrives.
    assert [c.local_port for c in poller.poll_changes().finished] == [40002]


def test_an_unknown_family_is_bad_data(poller: tcptable.Poller) -> None:
    message = bytearray(event())
    message[16] = 99  # idiag_family
    open_events(poller, recv=EventFeed(bytes(message)))
    with pytest.raises(tcptable.TcpTableError, match="unknown family 99"):
        poller.poll_changes()


def test_several_events_in_one_datagram_all_arrive_in_order(poller: tcptable.Poller) -> None:
    datagram = b"".join(event(local=("127.0.0.1", 41000 + i)) for i in range(5))
    open_events(poller, recv=EventFeed(datagram))
    changes = poller.poll_changes()
    assert [c.local_port for c in changes.finished] == [41000 + i for i in range(5)]
    assert changes.finished.unseen_array.all()
    assert changes.events_lost == 0


def test_owner_by_four_tuple_only_when_the_event_has_no_cookie(pair4: Pair) -> None:
    client = pair4.client.getsockname()
    server = pair4.client.getpeername()
    feed = EventFeed()
    with tcptable.Poller(family="ipv4") as poller:
        open_events(poller, recv=feed)
        poller.poll_changes()  # the dump that sees the pair, with this process as owner
        feed.datagrams = [
            event(local=client, remote=server, cookie=NO_COOKIE),
            event(local=client, remote=server, cookie=(12345, 678)),  # a cookie no dump had
        ]
        finished = poller.poll_changes().finished
    assert [c.local_port for c in finished] == [client[1], client[1]]
    assert [c.pid for c in finished] == [os.getpid(), 0]
    assert list(finished.unseen_flags) == [0, 1]
    assert finished[0].inode != 0
    assert finished[0].uid == os.getuid()
    assert len(finished.unseen) == 1
    assert finished.unseen[0].pid == 0


def test_port_and_owner_filters_apply_to_closes() -> None:
    feed = EventFeed(
        event(local=("127.0.0.1", 40000)),
        event(local=("127.0.0.1", 40001)),
        event(local=("127.0.0.1", 40002), remote=("127.0.0.1", 9)),
    )
    with tcptable.Poller(family="ipv4", local_ports=[40001, 40002], remote_ports=[50000]) as p:
        open_events(p, recv=feed)
        assert [c.local_port for c in p.poll_changes().finished] == [40001]
    feed = EventFeed(event())
    with tcptable.Poller(family="ipv4", owner_pids=[os.getpid()]) as p:
        open_events(p, recv=feed)  # an unseen socket has no owner: no pid filter keeps it
        assert len(p.poll_changes().finished) == 0


def test_a_poller_never_asked_for_changes_keeps_at_most_the_limit(
    poller: tcptable.Poller,
) -> None:
    keep = lib.TCPTABLE_EVENTS_KEEP
    per_datagram = 180  # 88-byte events in one 16 KiB datagram
    one = b"".join(event(local=("127.0.0.1", 1 + i)) for i in range(per_datagram))
    rounds = keep // per_datagram + 1
    feed = EventFeed()
    open_events(poller, recv=feed)
    for _ in range(4):  # four polls, none of them handing the events out
        feed.datagrams = [one] * (rounds // 4 + 1)
        poller.poll()
    sent = 4 * (rounds // 4 + 1) * per_datagram
    assert info_of(poller).kept == keep
    changes = poller.poll_changes()
    assert len(changes.finished) == keep
    assert changes.events_lost == sent - keep
    assert info_of(poller).kept == 0


def test_repeated_failures_leak_no_descriptor(poller: tcptable.Poller) -> None:
    before = open_fds()
    for _ in range(20):
        with (
            tcptable.Poller(family="ipv4", pids=False) as other,
            pytest.raises(tcptable.TcpTableError),
        ):
            open_events(other, bind=lambda *args: fail(errno.EADDRINUSE))
    assert open_fds() == before


def test_the_protocol_attribute_decides_tcp_or_udp() -> None:
    feed = EventFeed(event(protocol=17), event(protocol=6, local=("127.0.0.1", 40001)))
    with tcptable.Poller(family="ipv4", protocol="all") as poller:
        open_events(poller, recv=feed)
        finished = poller.poll_changes().finished
    assert [(c.protocol, c.state) for c in finished] == [
        (17, tcptable.State.NONE),
        (6, tcptable.State.CLOSED),
    ]


@pytest.mark.parametrize(
    ("protocol", "datagram", "words"),
    [
        ("all", event(), "without INET_DIAG_PROTOCOL"),
        ("tcp", event(protocol=17), "protocol 17 on a socket not joined for it"),
        ("udp", event(protocol=6), "protocol 6 on a socket not joined for it"),
        ("all", event(protocol=132), "protocol 132"),
    ],
)
def test_an_event_of_a_protocol_not_joined_is_bad_data(
    protocol: str, datagram: bytes, words: str
) -> None:
    with tcptable.Poller(family="ipv4", protocol=protocol) as poller:
        open_events(poller, recv=EventFeed(datagram))
        with pytest.raises(tcptable.TcpTableError, match=words) as raised:
            poller.poll_changes()
    assert raised.value.errno == errno.EBADMSG


@pytest.mark.parametrize(("protocol", "groups"), [("udp", 1 << 1 | 1 << 3), ("all", 0b1111)])
def test_udp_pollers_join_the_udp_destroy_groups(protocol: str, groups: int) -> None:
    joined = []

    def bind(fd: int, address: Any, length: int) -> int:
        joined.append(struct.unpack("=HHII", ffi.buffer(ffi.cast("char *", address), 12))[3])
        return int(REAL.bind(fd, address, length))

    with tcptable.Poller(protocol=protocol) as poller:
        open_events(poller, bind=bind)
    assert joined == [groups]
