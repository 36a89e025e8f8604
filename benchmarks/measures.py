"""What the suite times at each table size: the bare C floors, tcptable's polls (each option on
its own), the churn and fd-mix scenarios, and the peers (`ss`, psutil).  A measurement whose
tool or keyword is missing here is "not measured", with the reason; one that raises failed."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import tcptable

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

HERE = os.path.dirname(os.path.abspath(__file__))


class NotMeasured(Exception):
    """This measurement cannot run here; the message says why."""


@dataclass
class Result:
    key: str
    label: str
    median_ms: float | None = None
    min_ms: float | None = None
    # Median over samples of (this sample / a two-dump floor sample taken just before it): each
    # pair sees the same machine load, so the ratio holds up where a shared machine's noise
    # moves the medians themselves.
    floor_ratio: float | None = None
    cpu_ms: float | None = None  # median CPU time (see cpu_ms())
    cpu_floor_ratio: float | None = None  # as floor_ratio, of CPU times
    note: str = ""  # why not measured, or how it failed
    failed: bool = False


@dataclass
class Setting:
    """What one table size gives the measurements."""

    sockets: int
    iterations: int
    budget: float  # seconds a slow measurement may take before it stops at 3 samples
    replace: Callable[[float], None]  # churn: replace this share of the held pairs
    floor: Floor | NotMeasured  # the C floor, or why there is none


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


def cpu_ms() -> float:
    """CPU time of this thread plus that of waited-for children (the `ss` runs), in ms: what a
    measurement spends, without the time a loaded machine keeps it waiting for a CPU."""
    children = 0.0
    if resource is not None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        children = usage.ru_utime + usage.ru_stime
    return (time.thread_time() + children) * 1e3


def clocked(run: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call."""
    wall, cpu = time.perf_counter(), cpu_ms()
    run()
    return (time.perf_counter() - wall) * 1e3, cpu_ms() - cpu


@dataclass
class Timing:
    median_ms: float
    min_ms: float
    cpu_ms: float
    floor_ratio: float | None
    cpu_floor_ratio: float | None


def timed(
    run: Callable[[], object],
    iterations: int,
    budget: float,
    minimum: int = 3,
    reference: Callable[[], object] | None = None,
    before: Callable[[], object] | None = None,
    period: float | None = None,
) -> Timing:
    """`run`'s wall and CPU times after one untimed warm-up call: up to `iterations` calls,
    fewer once `budget` seconds passed and `minimum` were made.  `reference` (the floor) runs
    just before each timed call, and the ratios are medians over those pairs."""
    run()
    walls: list[float] = []
    cpus: list[float] = []
    ratios: list[float] = []
    cpu_ratios: list[float] = []
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
        floor = clocked(reference) if reference is not None else None
        wall, cpu = clocked(run)
        walls.append(wall)
        cpus.append(cpu)
        if floor is not None and floor[0] > 0:
            ratios.append(wall / floor[0])
        if floor is not None and floor[1] > 0:
            cpu_ratios.append(cpu / floor[1])
        if len(walls) >= minimum and time.perf_counter() - started > budget:
            break
    return Timing(
        statistics.median(walls),
        min(walls),
        statistics.median(cpus),
        statistics.median(ratios) if ratios else None,
        statistics.median(cpu_ratios) if cpu_ratios else None,
    )


# ---- the C floors ----------------------------------------------------------------------------


class Floor:
    """netlink_floor.c built as a shared library: one timed bare dump per call, in this
    process, so that it interleaves with the measurements it is the floor of."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise NotMeasured("the netlink floor is Linux only")
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise NotMeasured("no C compiler (cc, gcc) on PATH")
        library = os.path.join(tempfile.mkdtemp(prefix="tcptable-bench-"), "netlink_floor.so")
        built = subprocess.run(
            [
                compiler,
                "-O2",
                "-shared",
                "-fPIC",
                "-o",
                library,
                os.path.join(HERE, "netlink_floor.c"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            raise NotMeasured(f"netlink_floor.c did not compile: {built.stderr.strip()[:200]}")
        self.library = ctypes.CDLL(library)
        self.library.netlink_floor_once.restype = ctypes.c_double
        self.library.netlink_floor_once.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_long)]
        self.rows = ctypes.c_long(0)

    def once(self, one_walk: bool) -> float:
        """Milliseconds of one bare poll; OSError if the kernel refused or failed it."""
        result = self.library.netlink_floor_once(int(one_walk), ctypes.byref(self.rows))
        if result < 0:
            raise OSError(int(-result), os.strerror(int(-result)))
        return float(result) / 1e3


def floor_measure(one_walk: bool) -> Callable[[Setting, contextlib.ExitStack], Any]:
    def setup(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
        if isinstance(setting.floor, NotMeasured):
            raise setting.floor
        floor = setting.floor
        if one_walk:
            try:
                floor.once(True)
            except OSError as error:  # an old kernel may refuse it: a fact, not a failure
                raise NotMeasured(f"the kernel refused it ({error})") from None
        return lambda: floor.once(one_walk)

    return setup


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

    needs_linux("the one-walk switch")
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


def stats(setting: Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
    needs_linux("per-socket TCP stats")
    return poller(stack, pids=False, stats=True).poll


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
    Measure("two_dump", "C floor: two dumps, one per family (as `ss`)", floor_measure(False)),
    Measure("one_walk", "C floor: one walk for both families", floor_measure(True)),
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
    Measure(
        "ports",
        "`poll()`, pids=False, remote_ports={443} (kernel bytecode)",
        lambda s, k: poller(k, pids=False, remote_ports={443}).poll,
    ),
    Measure("stats", "`poll()`, pids=False, stats=True (tcp_info)", stats),
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
    Measure(
        "closes_off",
        "5,000 closes/s: `poll_changes()`, pids=True, 10 polls a second",
        lambda s, k: poller(k, pids=True).poll_changes,
        slow=True,
        scenario="closes",
        period=0.1,
    ),
    Measure(
        "closes_on",
        "5,000 closes/s: `poll_changes()`, pids=True, closes=True, 10 polls a second",
        lambda s, k: closes(k).poll_changes,
        slow=True,
        scenario="closes",
        period=0.1,
    ),
]

# Sockets destroyed a second while the "closes" scenario runs (benchmarks/bench_closes.py
# reports the same comparison with events per poll and the cost of one event).
CLOSE_RATE = 5000


def closes(stack: contextlib.ExitStack) -> tcptable.Poller:
    needs_linux("close events")
    return poller(stack, pids=True, closes=True)


def run_measure(measure: Measure, setting: Setting) -> Result:
    result = Result(measure.key, measure.label)
    # Fast calls get up to ten times the samples, within a shorter budget: small tables cost
    # fractions of a millisecond, where a few samples would leave the ratios to chance.
    iterations = max(3, setting.iterations // 2) if measure.slow else 10 * setting.iterations
    budget = setting.budget if measure.slow else setting.budget / 2
    minimum = 3 if measure.slow else setting.iterations
    try:
        with contextlib.ExitStack() as stack:
            run = measure.setup(setting, stack)
            before = None
            if measure.churn is not None:
                share = measure.churn
                before = lambda: setting.replace(share)  # noqa: E731
            reference = None
            if not isinstance(setting.floor, NotMeasured):
                floor = setting.floor
                reference = lambda: floor.once(False)  # noqa: E731
            timing = timed(
                run,
                iterations,
                budget,
                minimum,
                reference=reference,
                before=before,
                period=measure.period,
            )
            result.median_ms, result.min_ms = timing.median_ms, timing.min_ms
            result.cpu_ms = timing.cpu_ms
            result.floor_ratio, result.cpu_floor_ratio = timing.floor_ratio, timing.cpu_floor_ratio
    except NotMeasured as reason:
        result.note = f"not measured: {reason}"
    except Exception as error:  # a failed measurement is reported, and fails the run
        result.note = f"failed: {type(error).__name__}: {error}"
        result.failed = True
    return result
