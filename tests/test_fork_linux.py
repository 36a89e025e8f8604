"""A Poller across os.fork(): parent and child each poll it, at the same time.

The sock_diag socket a poller keeps open is shared by a fork child; two dumps on one socket
fail (EBUSY) or read each other's replies.  The child's first poll must open its own socket.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Callable

import pytest
from conftest import Pair, own_rows

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from faults import REAL, Seam

ROUNDS = 15


def in_child(body: Callable[[], None]) -> tuple[int, Callable[[], str]]:
    """Fork; the child runs `body` and exits 0, or 1 after writing its error to a pipe.
    Returns the child's pid and a function that waits for it (60 s at most) and returns its
    error text ('' on success)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_end)
            body()
            code = 0
        except BaseException as error:
            os.write(write_end, repr(error).encode()[:4000])
        finally:
            os._exit(code)
    os.close(write_end)

    def wait() -> str:
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(read_end)
                pytest.fail("the fork child did not finish within 60 s")
            time.sleep(0.01)
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.read().decode()
        code = os.waitstatus_to_exitcode(status)
        return message if code != 0 or message else ""

    return pid, wait


def polls_own_rows(
    poller: tcptable.Poller, pair: Pair, rounds: int, owners: set[int] | None = None
) -> None:
    for _ in range(rounds):
        found = own_rows(poller.poll(), pair)
        assert set(found) == pair.expected()
        if owners is not None:  # both processes hold the pair's sockets after the fork
            assert {row.pid for row in found.values()} <= owners


@pytest.mark.parametrize(
    ("source", "pids"), [("default", False), ("default", True), ("proc", False)]
)
def test_parent_and_child_poll_one_poller_at_once(pair: Pair, source: str, pids: bool) -> None:
    with tcptable.Poller(pids=pids, source=source) as poller:
        # The parent's socket and (with pids) its owner cache exist before the fork.
        polls_own_rows(poller, pair, 1)
        go_read, go_write = os.pipe()
        parent = os.getpid()
        owners: set[int] | None = None

        def child() -> None:
            os.read(go_read, 1)
            polls_own_rows(poller, pair, ROUNDS, {parent, os.getpid()} if pids else None)

        child_pid, wait = in_child(child)
        owners = {parent, child_pid} if pids else None
        os.write(go_write, b"g")  # both sides start polling now
        try:
            polls_own_rows(poller, pair, ROUNDS, owners)
        finally:
            error = wait()
            os.close(go_read)
            os.close(go_write)
        assert error == ""
        polls_own_rows(poller, pair, 1)  # the parent's own socket still works


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_while_another_thread_is_inside_poll(pair: Pair) -> None:
    # The fork copies the poller's lock while the polling thread holds it: the child must
    # still be able to poll (its lock is renewed after the fork).
    parent = os.getpid()
    inside, release = threading.Event(), threading.Event()

    def recv(fd: int, buffer: Any, length: int, flags: int) -> int:
        if os.getpid() == parent and not release.is_set():
            inside.set()
            release.wait(30)
        return int(REAL.recv(fd, buffer, length, flags))

    with tcptable.Poller(pids=False) as poller:
        seam = Seam(poller, recv=recv)
        results: list[object] = []

        def poll_in_thread() -> None:
            try:
                results.append(set(own_rows(poller.poll(), pair)))
            except BaseException as error:
                results.append(error)

        thread = threading.Thread(target=poll_in_thread)
        thread.start()
        try:
            assert inside.wait(30)
            _, wait = in_child(lambda: polls_own_rows(poller, pair, 3))
        finally:
            release.set()
            thread.join(30)
        assert wait() == ""
        assert not thread.is_alive()
        assert results == [pair.expected()]
        assert not seam.errors
        polls_own_rows(poller, pair, 1)


def test_snapshot_taken_before_fork_reads_the_same_in_the_child(pair: Pair) -> None:
    table = tcptable.snapshot(pids=False)
    before = own_rows(table, pair)

    def child() -> None:
        assert own_rows(table, pair) == before

    _, wait = in_child(child)
    assert wait() == ""
