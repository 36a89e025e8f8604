"""A thread stress written for the day a free-threaded CPython runs this suite: 16 threads at
once on pollers of their own, on one shared poller that a closer closes mid-run, and on
snapshots shared between threads (count_by, diff, directions, iteration, process names).

With the GIL this checks the locks' logic; without it (PYTHON_GIL=0 on a free-threaded build)
it is the test that would catch a torn row, a lost update or a crash.  Every row any thread sees
is checked whole (family, state, protocol, IPv4-mapped prefix), and each thread's own sockets
must be in every table it polls, exactly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from conftest import Pair, open_pair, own_rows

import tcptable

numpy = pytest.importorskip("numpy")

OWN, SHARING, ANALYSING = 7, 5, 3  # + 1 closer = 16 threads
POLLS = 10
DEADLINE = 120.0  # seconds: a hang fails instead of stalling the run


@pytest.fixture
def ipv4_pair() -> Iterator[Pair]:
    pair = open_pair(4)
    yield pair
    for sock in (pair.client, pair.server, pair.listener):
        sock.close()


def check_whole(table: tcptable.Snapshot) -> None:
    """Every row holds values the shim can write: a torn row would not."""
    rows = table.array
    assert numpy.isin(rows["family"], (4, 6)).all()
    assert numpy.isin(rows["protocol"], (6, 17)).all()  # IPPROTO_TCP, IPPROTO_UDP
    tcp = rows[rows["protocol"] == 6]
    assert ((tcp["state"] >= 1) & (tcp["state"] <= 12)).all()
    ipv4 = rows[rows["family"] == 4]
    assert (ipv4["local_addr"][:, 10:12] == 0xFF).all()
    assert (ipv4["remote_addr"][:, 10:12] == 0xFF).all()
    assert sum(table.count_by("state").values()) == len(table)


def test_sixteen_threads_own_shared_closed_and_analysed(ipv4_pair: Pair) -> None:
    pair = ipv4_pair
    shared = tcptable.Poller(family="ipv4", names=True)
    start = threading.Barrier(OWN + SHARING + ANALYSING + 1)
    polled_once = [threading.Event() for _ in range(SHARING)]
    closed = threading.Event()
    done = threading.Event()
    failures: list[BaseException] = []
    published: list[tcptable.Snapshot] = []  # snapshots handed from the sharers to analysers
    published_lock = threading.Lock()
    outcome = [{"polls": 0, "value_error": False} for _ in range(SHARING)]
    analysed = [0] * ANALYSING
    deadline = time.monotonic() + DEADLINE

    def guarded(body: Callable[..., None]) -> Callable[..., None]:
        def run(*args: int) -> None:
            try:
                start.wait(60)
                body(*args)
            except BaseException as error:
                failures.append(error)

        return run

    @guarded
    def own() -> None:
        with tcptable.Poller(family="ipv4", pids=True) as poller:
            previous = None
            for _ in range(POLLS):
                table = poller.poll()
                rows = own_rows(table, pair)
                assert set(rows) == pair.expected()
                assert all(row.pid == os.getpid() for row in rows.values())
                check_whole(table)
                if previous is not None:
                    # Our own three rows live through both polls: never opened or closed.
                    changes = tcptable.diff(previous, table)
                    assert not own_rows(changes.opened, pair)
                    assert not own_rows(changes.closed, pair)
                previous = table

    @guarded
    def sharing(number: int) -> None:
        while time.monotonic() < deadline:
            was_closed = closed.is_set()
            try:
                table = shared.poll()
            except ValueError:
                outcome[number]["value_error"] = True
                return
            assert not was_closed, "poll() succeeded after close() returned"
            assert set(own_rows(table, pair)) == pair.expected()
            assert table.process_names.get(os.getpid())
            with published_lock:
                published.append(table)
                del published[:-8]
            outcome[number]["polls"] += 1
            polled_once[number].set()
        raise AssertionError("the shared poller was never closed")

    @guarded
    def analysing(number: int) -> None:
        # Analyse snapshots other threads polled, while they keep polling and closing.
        while not done.is_set() and time.monotonic() < deadline:
            with published_lock:
                tables = list(published)
            if not tables:
                time.sleep(0.001)
                continue
            for table in tables:
                check_whole(table)
                assert set(own_rows(table, pair)) == pair.expected()
                assert len(tcptable.diff(table, table).opened) == 0
                assert len(table.directions()) == len(table)
                counts = table.count_by("direction")
                assert sum(counts.values()) == len(table)
                assert tcptable.process_name(os.getpid())
                analysed[number] += 1

    @guarded
    def closer() -> None:
        for event in polled_once:
            assert event.wait(60)
        shared.close()
        closed.set()

    threads = [threading.Thread(target=own) for _ in range(OWN)]
    threads += [threading.Thread(target=sharing, args=(n,)) for n in range(SHARING)]
    threads += [threading.Thread(target=analysing, args=(n,)) for n in range(ANALYSING)]
    threads.append(threading.Thread(target=closer))
    assert len(threads) == 16
    for thread in threads:
        thread.start()
    for thread in threads[:OWN] + threads[OWN : OWN + SHARING] + threads[-1:]:
        thread.join(DEADLINE)
    done.set()
    for thread in threads:
        thread.join(DEADLINE)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert shared.closed
    for number, result in enumerate(outcome):
        assert result["polls"] >= 1, number
        assert result["value_error"], number  # every sharer ended on exactly ValueError
    assert all(count >= 1 for count in analysed), analysed


def test_pollers_created_from_many_threads_are_all_registered_for_fork() -> None:
    """Pollers made at once from 16 threads all reach the fork registry (the lock a fork child
    replaces): a lost registration would leave that poller's lock held in a child."""
    from tcptable import _poller

    made: list[tcptable.Poller] = []
    made_lock = threading.Lock()
    start = threading.Barrier(16)

    def make() -> None:
        start.wait(60)
        for _ in range(20):
            poller = tcptable.Poller(pids=False)
            with made_lock:
                made.append(poller)

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert len(made) == 16 * 20
    with _poller._live_pollers_lock:
        live = set(_poller._live_pollers)
    assert all(poller in live for poller in made)
    for poller in made:
        poller.close()
