"""Close events on Linux: Poller(closes=True) reports every socket the kernel destroyed, with
its final TCP stats, including connections no poll ever saw; losses are counted, never hidden.

Each test matches its own sockets by exact (address, port) ends; other processes on the host
open and close connections at any moment, and their closes arrive too.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys

import pytest
from conftest import FAMILIES, open_listener

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from closes import (
        collect,
        event_socket_inode,
        fd_of_inode,
        kernel_drops,
        own_socket_inodes,
        short_connection,
    )

    from tcptable._native import ffi, lib

FAMILY = {4: "ipv4", 6: "ipv6"}


def events_info(poller: tcptable.Poller) -> object:
    info = ffi.new("tcptable_events_info *")
    assert lib.tcptable_events_get_info(poller._handle, info) == 0
    return info


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
def test_connections_opened_and_closed_between_two_polls_are_finished_unseen(family: int) -> None:
    with (
        open_listener(family) as listener,
        tcptable.Poller(family=FAMILY[family], closes=True) as poller,
    ):
        listener.listen(64)
        poller.poll_changes()
        sent = []
        for index in range(500):
            payload = b"x" * (100 + index)
            sent.append((short_connection(listener, payload), len(payload)))
        seen = collect(poller, [ends for ends, _ in sent])
        assert seen.events_lost == 0
        assert seen.missing(ends for ends, _ in sent) == 0
        sizes: dict[tuple, list[int]] = {}
        for ends, size in sent:
            sizes.setdefault(ends, []).append(size)
        for ends, finished in seen.finished.items():
            acked = sorted(int(one.stats["bytes_acked"]) for one in finished)
            # a port reused by a later connection: pair the sizes in order
            assert all(a >= s for a, s in zip(acked, sorted(sizes[ends]))), (ends, acked)
            for connection, stats, unseen in finished:
                assert unseen, ends
                assert connection.state == tcptable.State.CLOSED
                assert connection.family == family
                assert connection.pid == 0  # no poll saw it, so no owner is known
                assert stats["bytes_received"] >= 1  # the reply byte
        assert not seen.opened
        assert not seen.closed


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
def test_a_connection_seen_by_a_poll_then_closed_is_closed_and_finished_with_its_owner(
    family: int,
) -> None:
    with (
        open_listener(family) as listener,
        tcptable.Poller(family=FAMILY[family], closes=True) as poller,
    ):
        client = socket.socket(listener.family)
        client.connect(listener.getsockname()[:2])
        server, _ = listener.accept()
        ends = client.getsockname()[:2] + client.getpeername()[:2]
        opened = {
            (c.local_address, c.local_port, c.remote_address, c.remote_port): c.pid
            for c in poller.poll_changes().opened
        }
        assert opened.get(ends) == os.getpid(), "the first poll sees it, with its owner"
        client.sendall(b"y" * 5000)
        received = 0
        while received < 5000:
            received += len(server.recv(1 << 16))
        server.sendall(b"!")
        assert client.recv(1) == b"!"
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        server.close()
        with contextlib.suppress(ConnectionResetError):
            client.recv(1)
        client.close()
        seen = collect(poller, [ends])
        assert ends in seen.closed
        assert seen.closed[ends].pid == os.getpid()
        ((connection, stats, unseen),) = seen.finished[ends]
        assert not unseen
        assert connection.pid == os.getpid()
        assert connection.uid == os.getuid()
        assert connection.inode != 0
        assert stats["bytes_acked"] >= 5000


def test_a_burst_of_20000_closes_loses_none_or_says_how_many() -> None:
    with open_listener(4) as listener, tcptable.Poller(family="ipv4", closes=True) as poller:
        listener.listen(512)
        info = events_info(poller)
        poller.poll_changes()
        # 10,000 connections with both ends on this host: 20,000 sockets destroyed.
        ends = [short_connection(listener, b"z") for _ in range(10_000)]
        seen = collect(poller, ends, timeout=30)
        missing = seen.missing(ends)
        # Honest: every client close not delivered is counted as lost (the lost count also
        # covers the server ends and other processes' closes, so it may be larger).
        assert missing <= seen.events_lost
        if info.forced:  # CAP_NET_ADMIN: the 64 MiB queue holds the whole burst
            assert seen.events_lost == 0
            assert missing == 0


def test_a_full_queue_counts_exactly_the_events_the_kernel_dropped() -> None:
    with open_listener(4) as listener:
        listener.listen(512)
        before = own_socket_inodes()
        with tcptable.Poller(family="ipv4", pids=False, closes=True) as poller:
            inode = event_socket_inode(before)
            assert kernel_drops(inode) == 0
            # The smallest queue the kernel allows: a few events, so a burst must overflow.
            with socket.socket(fileno=os.dup(fd_of_inode(inode))) as events:
                events.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
            poller.poll_changes()
            ends = [short_connection(listener, b"z") for _ in range(300)]
            dropped_before = kernel_drops(inode)
            seen = collect(poller, ends, timeout=0)
            # The kernel keeps dropping (other processes close sockets too) until the queue
            # is empty: the count reported lies between its counter before and after the poll.
            assert 0 < dropped_before <= seen.events_lost <= kernel_drops(inode)
            assert seen.missing(ends) <= seen.events_lost
            # After an overflow the socket delivers again (given room: other processes' closes
            # would overflow the smallest queue on their own), and every drop is reported.
            with socket.socket(fileno=os.dup(fd_of_inode(inode))) as events:
                events.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            # A queue that overflowed takes nothing until it was read empty (the kernel's
            # congestion flag): one more poll reads it empty.
            between = poller.poll_changes().events_lost
            assert between is not None
            more = [short_connection(listener, b"z") for _ in range(2)]
            after = collect(poller, more)
            assert after.missing(more) == 0
            # Every drop the kernel counted by the last poll is reported, and no more: its
            # counter read just before and just after that poll brackets the total.
            dropped_before = kernel_drops(inode)
            last = poller.poll_changes().events_lost
            assert last is not None
            reported = seen.events_lost + between + after.events_lost + last
            assert dropped_before <= reported <= kernel_drops(inode)


def test_an_unprivileged_poller_receives_events() -> None:
    nobody = 65534
    ready_read, ready_write = os.pipe()
    ends_read, ends_write = os.pipe()
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, then listen
        code = 1
        try:
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)
            with tcptable.Poller(family="ipv4", pids=False, closes=True) as poller:
                info = events_info(poller)
                poller.poll_changes()
                os.write(ready_write, b"r")
                wanted = tuple(json.loads(os.read(ends_read, 4096)))
                seen = collect(poller, [wanted])
                found = seen.finished.get(wanted, [None])[0]
                report = {
                    "uid": os.getuid(),
                    "found": found is not None,
                    "unseen": bool(found and found.unseen),
                    "bytes_acked": int(found.stats["bytes_acked"]) if found else -1,
                    "forced": info.forced,
                    "receive_buffer": info.receive_buffer,
                    "lost": seen.events_lost,
                }
            os.write(result_write, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    try:
        assert os.read(ready_read, 1) == b"r"
        with open_listener(4) as listener:
            ends = short_connection(listener, b"q" * 2000)
        os.write(ends_write, json.dumps(ends).encode())
        report = json.loads(os.read(result_read, 4096))
    finally:
        _, status = os.waitpid(pid, 0)
        for fd in (ready_read, ready_write, ends_read, ends_write, result_read, result_write):
            os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report["uid"] == nobody
    assert report["found"] or report["lost"] > 0, report
    if report["found"]:
        assert report["unseen"]
        assert report["bytes_acked"] >= 2000
    assert report["forced"] == 0  # nobody has no CAP_NET_ADMIN: SO_RCVBUF, capped by rmem_max
    with open("/proc/sys/net/core/rmem_max") as rmem_max:
        cap = int(rmem_max.read())
    assert report["receive_buffer"] == 2 * min(cap, lib.TCPTABLE_EVENTS_RECEIVE_BUFFER)


def test_without_closes_changes_have_no_finished() -> None:
    with tcptable.Poller(family="ipv4", pids=False) as poller:
        changes = poller.poll_changes()
    assert changes.finished is None
    assert changes.events_lost is None


def test_closes_from_the_proc_source_is_not_supported() -> None:
    with pytest.raises(tcptable.NotSupportedError, match="/proc"):
        tcptable.Poller(source="proc", closes=True)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_closes_must_be_a_bool(value: object) -> None:
    with pytest.raises(TypeError, match="closes must be True or False"):
        tcptable.Poller(closes=value)  # type: ignore[arg-type]


def test_a_poller_polled_but_never_asked_for_changes_keeps_at_most_the_limit() -> None:
    # poll() drains into what the poller keeps; only poll_changes() hands it out.  Past
    # TCPTABLE_EVENTS_KEEP events are counted as lost; below it every close is kept.
    with (
        open_listener(4) as listener,
        tcptable.Poller(family="ipv4", pids=False, closes=True) as poller,
    ):
        listener.listen(64)
        poller.poll_changes()
        ends = [short_connection(listener, b"k") for _ in range(20)]
        for _ in range(3):
            poller.poll()
        kept = events_info(poller).kept
        assert 20 <= kept <= lib.TCPTABLE_EVENTS_KEEP
        seen = collect(poller, ends)
        assert seen.missing(ends) == 0
        assert events_info(poller).kept == 0


def test_a_fork_child_receives_its_own_events() -> None:
    with (
        open_listener(4) as listener,
        tcptable.Poller(family="ipv4", pids=False, closes=True) as poller,
    ):
        listener.listen(64)
        poller.poll_changes()
        result_read, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ends = short_connection(listener, b"c")
                seen = collect(poller, [ends])
                os.write(result_write, b"1" if ends in seen.finished else b"0")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.read(result_read, 1) == b"1"
        os.close(result_read)
        os.close(result_write)
        # The parent's socket still works, and the child did not take its events away.
        ends = short_connection(listener, b"p")
        assert ends in collect(poller, [ends]).finished


@pytest.mark.parametrize("protocol", ["udp", "all"])
def test_udp_sockets_closed_between_polls_are_finished_with_protocol_udp(protocol: str) -> None:
    with tcptable.Poller(family="ipv4", protocol=protocol, closes=True) as poller:
        poller.poll_changes()
        ends = []
        for _ in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", 0))
                udp.connect(("127.0.0.1", 9))
                ends.append(udp.getsockname() + udp.getpeername())
        seen = collect(poller, ends)
        assert seen.missing(ends) == 0
        for finished in seen.finished.values():  # a port may come back for a later socket
            for connection, _, unseen in finished:
                assert connection.protocol == socket.IPPROTO_UDP
                assert connection.state == tcptable.State.NONE
                assert unseen
        if protocol == "all":  # and TCP's closes still come, marked TCP
            with open_listener(4) as listener:
                listener.listen(8)
                tcp = short_connection(listener, b"u")
            ((connection, _, _),) = collect(poller, [tcp]).finished[tcp]
            assert connection.protocol == socket.IPPROTO_TCP


@pytest.mark.parametrize("namespaces", ["all", [os.getpid()]])
def test_closes_refuses_other_namespaces_rather_than_miss_their_closes(namespaces: object) -> None:
    with pytest.raises(tcptable.NotSupportedError, match="own network namespace only"):
        tcptable.Poller(closes=True, namespaces=namespaces)  # type: ignore[arg-type]
