"""Threads: pollers of their own polling in parallel, and one poller shared by several threads
while another thread closes it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from conftest import Pair, open_pair, own_rows

import tcptable

OWN, SHARING = 8, 4


@pytest.fixture
def ipv4_pair() -> Iterator[Pair]:
    pair = open_pair(4)
    yield pair
    for sock in (pair.client, pair.server, pair.listener):
        sock.close()


def test_closing_a_shared_poller_while_others_poll(ipv4_pair: Pair) -> None:
    pair = ipv4_pair
    shared = tcptable.Poller(family="ipv4", pids=False)
    start = threading.Barrier(OWN + SHARING + 1)
    polled_once = [threading.Event() for _ in range(SHARING)]
    closed = threading.Event()
    failures: list[BaseException] = []
    # Per sharing thread: polls that succeeded, and whether one after the close raised ValueError.
    outcome = [{"polls": 0, "value_error": False} for _ in range(SHARING)]
    kept: list[tcptable.Snapshot] = []

    def own() -> None:
        try:
            start.wait(60)
            with tcptable.Poller(family="ipv4", pids=False) as poller:
                for _ in range(20):
                    assert set(own_rows(poller.poll(), pair)) == pair.expected()
        except BaseException as error:
            failures.append(error)

    def sharing(number: int) -> None:
        try:
            start.wait(60)
            deadline = time.monotonic() + 60  # the close comes after every first poll
            while time.monotonic() < deadline:
                was_closed = closed.is_set()
                try:
                    table = shared.poll()
                except ValueError:
                    outcome[number]["value_error"] = True
                    return
                assert not was_closed, "poll() succeeded after close() returned"
                assert set(own_rows(table, pair)) == pair.expected()
                kept.append(table)
                outcome[number]["polls"] += 1
                polled_once[number].set()
        except BaseException as error:
            failures.append(error)

    def closer() -> None:
        try:
            start.wait(60)
            for event in polled_once:
                assert event.wait(60)
            shared.close()
            closed.set()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=own) for _ in range(OWN)]
    threads += [threading.Thread(target=sharing, args=(n,)) for n in range(SHARING)]
    threads.append(threading.Thread(target=closer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert shared.closed
    for number, result in enumerate(outcome):
        assert result["polls"] >= 1, number
        assert result["value_error"], number  # every sharer ended on exactly ValueError
    with pytest.raises(ValueError, match="closed"):
        shared.poll()
    # Snapshots taken before the close stay whole.
    for table in kept[-SHARING:]:
        assert set(own_rows(table, pair)) == pair.expected()
