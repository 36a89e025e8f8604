"""``tcptable.watch``: a stream of ``Changes``, one per interval, from one Poller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._changes import Changes
from ._pacing import Pacer, check_interval
from ._poller import Poller

__all__ = ["watch"]


def watch(interval: float = 1.0, **poller_keywords: Any) -> Iterator[Changes]:
    """Poll every ``interval`` seconds and yield what changed: one ``tcptable.Changes`` per
    poll, from ``Poller(**poller_keywords).poll_changes()``.

    The first Changes comes at once and reports every row as opened; each next one at the next
    multiple of ``interval`` after the start, however long the loop body took (it sleeps to
    deadlines, so the rate does not drift; after a body that overran, the next poll comes at
    once and the ticks it missed are dropped, not bunched).  The poller is closed when the
    loop ends (``break``, an exception, or the generator's ``close()``;
    ``contextlib.closing(watch(...))`` makes that immediate on every Python).

    >>> for changes in tcptable.watch(interval=5.0, pids=False):
    ...     print(changes.after.count_by("state"), len(changes.opened), len(changes.closed))
    """
    seconds = check_interval(interval)
    poller = Poller(**poller_keywords)  # bad keywords raise here, not at the first next()
    return _stream(poller, seconds)


def _stream(poller: Poller, interval: float) -> Iterator[Changes]:
    with poller:
        pacer = Pacer(interval)
        while True:
            yield poller.poll_changes()
            pacer.sleep()
