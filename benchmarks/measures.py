"""What the suite times at each table size: the bare C floors, tcptable's polls (each option on
its own), the churn and fd-mix scenarios, and the peers (`ss`, psutil).  A measurement whose
tool or keyword is missing here is "not measured", with the reason; one that raises failed."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import tcptable

HERE = os.path.dirname(os.path.abspath(__file__))


class NotMeasured(Exception):
    """This measurement cannot run here; the message says why."""


@dataclass
class Result:
    key: str
    label: str
    median_ms: float | None = None
    min_ms: float | None = None
    note: str = ""  # why not measured, or how it failed
    failed: bool = False


@dataclass
class Setting:
    """What one table size gives the measurements."""

    sockets: int
    iterations: int
    budget: float  # seconds a slow measurement may take before it stops at 3 samples
    replace: Callable[[float], None]  # churn: replace this share of the held pairs
    floors: dict[str, tuple[float, float]] = field(default_factory=dict)
    floor_note: str = ""


@dataclass
class Measure:
    key: str
    label: str
    setup: Callable[[Setting, contextlib.ExitStack], Callable[[], object]]
    slow: bool = False
    scenario: str = "table"  # "table", or "fdmix" (run while the fd-mix processes are up)
    period: float | None = None  # seconds between poll starts (pacing, untimed)
    churn: float | None = None  # share of pairs replaced before each timed call (untimed)


# ---- timing ----------------------------------------------------------------------------------


def timed(
    run: Callable[[], object],
    iterations: int,
    budget: float,
    before: Callable[[], object] | None = None,
    period: float | None = None,
) -> tuple[float, float]:
    """(median ms, min ms) of `run`, after one untimed warm-up call."""
    run()
    samples: list[float] = []
    started = time.perf_counter()
    next_start = started
    for _ in range(iterations):
        if before is not None:
            before()
        if period is not None:
            delay = next_start - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_start = max(time.perf_counter(), next_start) + period
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
        if len(samples) >= 3 and time.perf_counter() - started > budget:
            break
    return statistics.median(samples) * 1e3, min(samples) * 1e3


# ---- the C floors ----------------------------------------------------------------------------


def build_floor() -> str:
    """Compile netlink_floor.c; returns the binary's path or raises NotMeasured."""
    if not sys.platform.startswith("linux"):
        raise NotMeasured("the netlink floor is Linux only")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise NotMeasured("no C compiler (cc, gcc) on PATH")
    binary = os.path.join(tempfile.mkdtemp(prefix="tcptable-bench-"), "netlink_floor")
    built = subprocess.run(
        [compiler, "-O2", "-o", binary, os.path.join(HERE, "netlink_floor.c")],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise NotMeasured(f"netlink_floor.c did not compile: {built.stderr.strip()[:200]}")
    return binary


def run_floor(binary: str, iterations: int) -> dict[str, tuple[float, float] | str]:
    """{"two_dump": (median ms, min ms), "one_walk": (...) or the refusal}."""
    output = subprocess.run(
        [binary, str(iterations)], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    floors: dict[str, tuple[float, float] | str] = {}
    for line in output.splitlines():
        fields = dict(item.split("=", 1) for item in line.split())
        if "error" in fields:
            floors[fields["mode"]] = f"the kernel refused it (errno {fields['error']})"
        else:
            floors[fields["mode"]] = (
                float(fields["median_us"]) / 1e3,
                float(fields["min_us"]) / 1e3,
            )
    return floors


# ---- tcptable --------------------------------------------------------------------------------


def poller(stack: contextlib.ExitStack, **options: Any) -> tcptable.Poller:
    """A Poller with these options, closed after the measurement; NotMeasured if this build
    of tcptable lacks one of the keywords."""
    try:
        made = tcptable.Poller(**options)
    except TypeError as error:
        raise NotMeasured(f"this tcptable has no such Poller keyword ({error})") from None
    return stack.enter_context(made)


def one_walk_off(stack: contextlib.ExitStack) -> tcptable.Poller:
    from tcptable import _native

    if not hasattr(_native.lib, "tcptable_netlink_set_one_walk"):
        raise NotMeasured("this tcptable has no one-walk switch")
    made = poller(stack, pids=False)
    _native.lib.tcptable_netlink_set_one_walk(made._handle, 0)
    return made


def needs_linux(what: str) -> None:
    if not sys.platform.startswith("linux"):
        raise NotMeasured(f"{what} is Linux only")


def count_by(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
    if not hasattr(tcptable.Snapshot, "count_by"):
        raise NotMeasured("this tcptable has no Snapshot.count_by")
    made = poller(stack, pids=False)
    return lambda: made.poll().count_by("state")


def diff(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
    if not hasattr(tcptable, "diff"):
        raise NotMeasured("this tcptable has no tcptable.diff")
    made = poller(stack, pids=False)
    previous = [made.poll()]

    def run() -> object:
        new = made.poll()
        changes = tcptable.diff(previous[0], new)  # type: ignore[attr-defined]
        previous[0] = new
        return changes

    return run


def command(arguments: list[str]) -> Callable[[Setting, contextlib.ExitStack], Any]:
    def setup(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
        if shutil.which(arguments[0]) is None:
            raise NotMeasured(f"{arguments[0]} is not installed")
        return lambda: subprocess.run(arguments, stdout=subprocess.DEVNULL, check=True)

    return setup


def psutil_connections(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
    try:
        import psutil
    except ImportError:
        raise NotMeasured("psutil is not installed") from None
    return lambda: psutil.net_connections("tcp")


def proc_source(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
    needs_linux("the /proc/net source")
    return poller(stack, pids=False, source="proc").poll


def objects(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
    made = poller(stack, pids=False)
    return lambda: list(made.poll())


MEASURES = [
    Measure("poll", "`poll()`, pids=False", lambda s, k: poller(k, pids=False).poll),
    Measure(
        "poll_two_dumps",
        "`poll()`, pids=False, one walk off (two dumps)",
        lambda s, k: one_walk_off(k).poll,
    ),
    Measure(
        "sort",
        "`poll()`, pids=False, sort=True",
        lambda s, k: poller(k, pids=False, sort=True).poll,
    ),
    Measure("count_by", "`poll().count_by('state')`, pids=False", count_by),
    Measure(
        "states",
        "`poll()`, pids=False, states={'LISTEN'}",
        lambda s, k: poller(k, pids=False, states={"LISTEN"}).poll,
    ),
    Measure("diff", "`poll()` + `tcptable.diff(previous, new)`, pids=False", diff),
    Measure("proc", "`poll()`, pids=False, source='proc'", proc_source),
    Measure("objects", "`list(poll())` (a Connection per row), pids=False", objects, slow=True),
    Measure(
        "pids",
        "`poll()`, pids=True, 10 polls a second",
        lambda s, k: poller(k, pids=True).poll,
        slow=True,
        period=0.1,
    ),
    Measure(
        "pids_age0",
        "`poll()`, pids=True, pid_max_age=0",
        lambda s, k: poller(k, pids=True, pid_max_age=0).poll,
        slow=True,
    ),
    Measure(
        "names",
        "`poll()`, pids=True, names=True, 10 polls a second",
        lambda s, k: poller(k, pids=True, names=True).poll,
        slow=True,
        period=0.1,
    ),
    Measure(
        "churn",
        "churn (5% of pairs replaced between polls): `poll()`, pids=True",
        lambda s, k: poller(k, pids=True).poll,
        slow=True,
        period=0.1,
        churn=0.05,
    ),
    Measure("ss", "`ss -tan` (whole process)", command(["ss", "-tan"]), slow=True),
    Measure(
        "ss_pids", "`ss -tanp` (whole process, with pids)", command(["ss", "-tanp"]), slow=True
    ),
    Measure("psutil", "`psutil.net_connections('tcp')` (with pids)", psutil_connections, slow=True),
    Measure(
        "fdmix",
        "fd mix: `poll()`, pids=True, 10 polls a second",
        lambda s, k: poller(k, pids=True).poll,
        slow=True,
        scenario="fdmix",
        period=0.1,
    ),
    Measure(
        "fdmix_age0",
        "fd mix: `poll()`, pids=True, pid_max_age=0",
        lambda s, k: poller(k, pids=True, pid_max_age=0).poll,
        slow=True,
        scenario="fdmix",
    ),
    Measure(
        "fdmix_ss", "fd mix: `ss -tanp`", command(["ss", "-tanp"]), slow=True, scenario="fdmix"
    ),
]

FLOOR_LABELS = {
    "two_dump": "C floor: two dumps, one per family (as `ss`)",
    "one_walk": "C floor: one walk for both families",
}


def run_measure(measure: Measure, setting: Setting) -> Result:
    result = Result(measure.key, measure.label)
    iterations = max(3, setting.iterations // 2) if measure.slow else setting.iterations
    try:
        with contextlib.ExitStack() as stack:
            run = measure.setup(setting, stack)
            before = None
            if measure.churn is not None:
                share = measure.churn
                before = lambda: setting.replace(share)  # noqa: E731
            result.median_ms, result.min_ms = timed(
                run, iterations, setting.budget, before=before, period=measure.period
            )
    except NotMeasured as reason:
        result.note = f"not measured: {reason}"
    except Exception as error:  # a failed measurement is reported, and fails the run
        result.note = f"failed: {type(error).__name__}: {error}"
        result.failed = True
    return result


def floor_results(setting: Setting, binary: str | NotMeasured) -> list[Result]:
    results = [Result(key, label) for key, label in FLOOR_LABELS.items()]
    if isinstance(binary, NotMeasured):
        for result in results:
            result.note = f"not measured: {binary}"
        return results
    try:
        floors = run_floor(binary, setting.iterations)
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as error:
        for result in results:
            result.note = f"failed: {type(error).__name__}: {error}"
            result.failed = True
        return results
    for result in results:
        value = floors.get(result.key)
        if isinstance(value, tuple):
            result.median_ms, result.min_ms = value
        elif result.key == "one_walk":  # an old kernel may refuse it: a fact, not a failure
            result.note = f"not measured: {value or 'no output'}"
        else:
            result.note = "failed: no output from netlink_floor"
            result.failed = True
    return results
