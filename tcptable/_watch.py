"""``tcptable.watch``: a stream of ``Changes``, one per interval, from one Poller."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

from ._changes import Changes
from ._poller import Poller

__all__ = ["watch"]


def _check_interval(interval: object) -> float:
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise TypeError(f"interval must be a number of seconds, not {interval!r}")
    if not math.isfinite(interval) or interval <= 0:
        raise ValueError(f"interval must be a positive finite number of seconds, not {interval!r}")
    return float(interval)


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
    seconds = _check_interval(interval)
    poller = Poller(**poller_keywords)  # bad keywords raise here, not at the first next()
    return _stream(poller, seconds)


def _stream(poller: Poller, interval: float) -> Iterator[Changes]:
    with poller:
        start = time.monotonic()
        tick = 0
        while True:
            yield poller.poll_changes()
            now = time.monotonic()
            tick += 1
            if start + tick * interval < now:
                # The body overran: poll once now (the latest tick missed), then stay on grid.
                tick = math.floor((now - start) / interval)
            time.sleep(max(0.0, start + tick * interval - now))
