"""The pacing loop of ``watch`` and the exporter: ticks on a fixed grid of deadlines.

Sleeping ``interval`` after each poll would drift by the poll's own time every tick; sleeping to
``start + n * interval`` does not.  A body that overran its tick polls again at once (the latest
missed tick) and the grid goes on from there: missed ticks are dropped, never bunched.
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["Pacer", "check_interval"]


def check_interval(interval: object, name: str = "interval") -> float:
    """``interval`` as a float number of seconds; TypeError / ValueError naming ``name`` if it
    is not a positive finite number."""
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {interval!r}")
    if not math.isfinite(interval) or interval <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds, not {interval!r}")
    return float(interval)


class Pacer:
    """Deadlines every ``interval`` seconds from the moment it is made (``time.monotonic``).

    >>> pacer = Pacer(1.0)
    >>> while True:
    ...     work()
    ...     pacer.sleep()              # or: if pacer.wait(stop_event): break
    """

    __slots__ = ("_start", "_tick", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = check_interval(interval)
        self._start = time.monotonic()
        self._tick = 0

    def delay(self) -> float:
        """Seconds from now to the next deadline (0 if the body overran it), and move to it."""
        now = time.monotonic()
        self._tick += 1
        if self._start + self._tick * self.interval < now:
            # The body overran: the latest tick missed is due now, then the grid goes on.
            self._tick = math.floor((now - self._start) / self.interval)
        return max(0.0, self._start + self._tick * self.interval - now)

    def sleep(self) -> None:
        """Sleep until the next deadline."""
        time.sleep(self.delay())

    def wait(self, stop: threading.Event) -> bool:
        """Wait until the next deadline or until ``stop`` is set; True if ``stop`` was set."""
        return stop.wait(self.delay())
