"""The pacing loop that ``watch`` and the exporter share: deadlines on a fixed grid, no drift,
missed ticks dropped, a stop event that ends a wait at once."""

from __future__ import annotations

import threading
import time

import pytest

from tcptable._pacing import Pacer, check_interval


def test_deadlines_stay_on_the_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [50.0]
    monkeypatch.setattr("tcptable._pacing.time.monotonic", lambda: now[0])
    pacer = Pacer(2.0)
    ticks = []
    for body in (0.5, 1.9, 0.0, 5.0, 0.1):
        now[0] += body  # the work of one tick
        delay = pacer.delay()
        now[0] += delay
        ticks.append(now[0])
    # 52, 54, 56; the body after 56 ran to 61: the tick missed at 60 is due at once, then 62.
    assert ticks == [52.0, 54.0, 56.0, 61.0, 62.0]


def test_wait_returns_at_once_when_stopped() -> None:
    stop = threading.Event()
    pacer = Pacer(60.0)
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    assert pacer.wait(stop) is True
    assert time.monotonic() - started < 30  # not the 60 s tick


def test_wait_without_stop_reaches_the_deadline() -> None:
    pacer = Pacer(0.01)
    assert pacer.wait(threading.Event()) is False


@pytest.mark.parametrize("interval", [0, -1.0, float("nan"), float("inf")])
def test_bad_interval_values_name_the_keyword(interval: float) -> None:
    with pytest.raises(ValueError, match="period must be a positive finite number of seconds"):
        check_interval(interval, "period")


@pytest.mark.parametrize("interval", ["1", None, True])
def test_non_numbers_are_type_errors(interval: object) -> None:
    with pytest.raises(TypeError, match="interval must be a number of seconds"):
        Pacer(interval)  # type: ignore[arg-type]
