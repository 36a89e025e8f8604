"""Linux: the owner (pid) cache keeps its guarantees, driven by real processes.

1. A socket first seen in a poll gets its owner from that poll.
2. A reported pid is never a dead (or recycled) one; a dead owner's sockets are looked up again.
3. A socket handed to another process shows its new owner within pid_max_age seconds.
4. Several holders of one socket: the lowest pid.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import Pair, open_listener, open_pair, wait_until

import tcptable

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the owner cache reads Linux's /proc"
)

# A child that holds what it inherited (or opened) until its stdin closes.
HOLD = "import sys; sys.stdin.read()"
# A child that opens a loopback listener, prints its port, and holds it.
LISTEN = (
    "import socket, sys\n"
    "listener = socket.socket()\n"
    "listener.bind(('127.0.0.1', 0))\n"
    "listener.listen(1)\n"
    "print(listener.getsockname()[1], flush=True)\n"
    "sys.stdin.read()\n"
)
# A child that receives one fd over the unix socket it inherited (fd number in argv[1]), says
# so, and holds it.
RECEIVE = (
    "import socket, sys\n"
    "channel = socket.socket(fileno=int(sys.argv[1]))\n"
    "message, fds, flags, address = socket.recv_fds(channel, 16, 1)\n"
    "channel.send(str(fds[0]).encode())\n"
    "sys.stdin.read()\n"
)


@contextmanager
def child(code: str, pass_fds: tuple[int, ...] = ()) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, pass_fds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=pass_fds,
    )
    try:
        yield process
    finally:
        end(process)


def end(process: subprocess.Popen[str]) -> None:
    """Make `process` exit and reap it, so that its pid names no process any more."""
    if process.returncode is None:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def pid_of(table: tcptable.Snapshot, local_port: int, state: tcptable.State) -> int:
    """The pid of the one IPv4 loopback row with this local port and state (remote any)."""
    pids = [
        c.pid for c in table if c.family == 4 and c.local_port == local_port and c.state == state
    ]
    assert len(pids) == 1, (local_port, state, pids)
    return pids[0]


@pytest.fixture
def pair() -> Iterator[Pair]:
    opened = open_pair(4)
    yield opened
    for sock in (opened.client, opened.server, opened.listener):
        sock.close()


def client_pid(table: tcptable.Snapshot, ports: tuple[int, int]) -> int:
    """The pid of the pair's client row; `ports` is (client port, listener port), taken while
    the client socket was still open here."""
    rows = [
        c.pid
        for c in table
        if c.family == 4
        and (c.local_port, c.remote_port) == ports
        and c.state == tcptable.State.ESTABLISHED
    ]
    assert len(rows) == 1, (ports, rows)
    return rows[0]


def ports(pair: Pair) -> tuple[int, int]:
    return pair.client_port, pair.listen_port


def test_a_new_socket_has_its_owner_in_the_poll_that_first_sees_it() -> None:
    # A long pid_max_age: nothing is re-read for age, so the owner must come from the search.
    with tcptable.Poller(family="ipv4", pid_max_age=3600) as poller:
        poller.poll()
        mine = open_listener(4)
        try:
            with child(LISTEN) as theirs:
                assert theirs.stdout is not None
                port = int(theirs.stdout.readline())
                table = poller.poll()
                assert pid_of(table, mine.getsockname()[1], tcptable.State.LISTEN) == os.getpid()
                assert pid_of(table, port, tcptable.State.LISTEN) == theirs.pid
        finally:
            mine.close()


def test_an_exited_owner_is_never_reported_and_a_new_socket_elsewhere_is_found() -> None:
    with tcptable.Poller(family="ipv4", pid_max_age=3600) as poller, child(LISTEN) as first:
        assert first.stdout is not None
        first_port = int(first.stdout.readline())
        assert pid_of(poller.poll(), first_port, tcptable.State.LISTEN) == first.pid
        end(first)
        with child(LISTEN) as second:
            assert second.stdout is not None
            second_port = int(second.stdout.readline())
            table = poller.poll()
            assert pid_of(table, second_port, tcptable.State.LISTEN) == second.pid
            assert first.pid not in {c.pid for c in table}


def test_a_dead_owners_socket_goes_to_its_other_holder_in_the_next_poll() -> None:
    # Two children inherit one listener; the lowest pid is reported.  When it dies, the very
    # next poll reports the survivor, however long pid_max_age is.
    listener = open_listener(4)
    port = listener.getsockname()[1]
    try:
        with child(HOLD, (listener.fileno(),)) as one, child(HOLD, (listener.fileno(),)) as two:
            listener.close()
            with tcptable.Poller(family="ipv4", pid_max_age=3600) as poller:
                low, high = sorted((one, two), key=lambda process: process.pid)
                assert pid_of(poller.poll(), port, tcptable.State.LISTEN) == low.pid
                end(low)
                assert pid_of(poller.poll(), port, tcptable.State.LISTEN) == high.pid
    finally:
        listener.close()


def test_lowest_pid_and_a_child_that_outlives_its_parents_close(pair: Pair) -> None:
    client = ports(pair)
    poller = tcptable.Poller(family="ipv4", pid_max_age=0.2)
    with poller, child(HOLD, (pair.client.fileno(),)) as holder:
        assert client_pid(poller.poll(), client) == min(os.getpid(), holder.pid)
        pair.client.close()  # the child's inherited copy keeps the connection open
        wait_until(lambda: client_pid(poller.poll(), client) == holder.pid)


def test_a_socket_sent_with_scm_rights_shows_its_new_owner(pair: Pair) -> None:
    client = ports(pair)
    ours, theirs = socket.socketpair()
    try:
        poller = tcptable.Poller(family="ipv4", pid_max_age=0.2)
        with poller, child(RECEIVE, (theirs.fileno(),)) as receiver:
            assert client_pid(poller.poll(), client) == os.getpid()
            socket.send_fds(ours, [b"x"], [pair.client.fileno()])
            assert ours.recv(16)  # the child holds it now
            pair.client.close()
            wait_until(lambda: client_pid(poller.poll(), client) == receiver.pid)
            assert receiver.poll() is None
    finally:
        ours.close()
        theirs.close()


def test_pid_max_age_zero_is_exact_on_the_next_poll(pair: Pair) -> None:
    client = ports(pair)
    with tcptable.Poller(family="ipv4", pid_max_age=0) as poller:
        with child(HOLD, (pair.client.fileno(),)) as holder:
            assert client_pid(poller.poll(), client) == min(os.getpid(), holder.pid)
            pair.client.close()
            assert client_pid(poller.poll(), client) == holder.pid
            end(holder)
        # No holder is left: the connection is gone or ownerless, never a dead pid.
        table = poller.poll()
        assert holder.pid not in {c.pid for c in table}


@pytest.mark.parametrize("value", [-1, -0.5, float("nan"), float("inf"), float("-inf")])
def test_pid_max_age_must_be_finite_and_not_negative(value: float) -> None:
    with pytest.raises(ValueError, match="pid_max_age"):
        tcptable.Poller(pid_max_age=value)


@pytest.mark.parametrize("value", [True, False, "1", None, [1.0]])
def test_pid_max_age_must_be_a_number(value: object) -> None:
    with pytest.raises(TypeError, match="pid_max_age"):
        tcptable.Poller(pid_max_age=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 5e-324, 1e-9, 0.2, 5, 1e9, 1e308])
def test_pid_max_age_accepts_seconds(value: float) -> None:
    with tcptable.Poller(family="ipv4", pid_max_age=value) as poller:
        assert poller.pid_max_age == value
        listener = open_listener(4)
        try:
            for _ in range(2):  # the second poll re-checks (or trusts) what the first found
                port = listener.getsockname()[1]
                assert pid_of(poller.poll(), port, tcptable.State.LISTEN) == os.getpid()
        finally:
            listener.close()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root, to fork a process that may not inspect this one",
)
def test_a_process_we_may_not_inspect_leaves_pid_zero(pair: Pair) -> None:
    # A forked child drops to an unprivileged uid: this (root) process's fds are closed to it,
    # its own are not.  As with ss: the socket we may not inspect stays 0, never a guess.
    client = ports(pair)
    read_end, write_end = os.pipe()
    child_pid = os.fork()
    if child_pid == 0:  # the child: report, then leave without pytest's teardown
        code = 1
        try:
            os.close(read_end)
            for inherited in (pair.client, pair.server, pair.listener):
                inherited.close()  # only this (root) process holds the pair now
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            own = open_listener(4)
            with tcptable.Poller(family="ipv4") as poller:
                table = poller.poll()
                result = (
                    client_pid(table, client),
                    pid_of(table, own.getsockname()[1], tcptable.State.LISTEN),
                )
            os.write(write_end, f"{result[0]} {result[1]}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        report = reader.read().decode()
    _, status = os.waitpid(child_pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report
    theirs, own_listener = map(int, report.split())
    assert theirs == 0
    assert own_listener == child_pid
