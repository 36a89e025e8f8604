"""Row operations at scale, side by side with the poll that made their rows: count_by,
directions, diff and poll_changes.

    python benchmarks/bench_rowops.py [--connections 10000] [--iterations 30]

Child processes hold N established loopback connections (2N rows, plus their listener); this
process polls, then times each operation over the same snapshots.  Linux only.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from multiprocessing import Event, Process

from bench_poll import hold_connections, timed

import tcptable
from tcptable import Snapshot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("this benchmark runs on Linux", file=sys.stderr)
        return 2
    # One holder may not open that many files: split the connections over several.
    per_holder = max(1, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 200) // 2)
    stop = Event()
    holders = []
    for first in range(0, args.connections, per_holder):
        ready = Event()
        count = min(per_holder, args.connections - first)
        holder = Process(target=hold_connections, args=(count, ready, stop), daemon=True)
        holder.start()
        holders.append((holder, ready))
    try:
        deadline = time.monotonic() + 300
        for holder, ready in holders:
            while not ready.wait(0.5) and holder.is_alive() and time.monotonic() < deadline:
                pass
            if not ready.is_set():
                print("a connection holder did not get ready", file=sys.stderr)
                return 1
        return report(args.iterations)
    finally:
        stop.set()
        for holder, _ in holders:
            holder.join(10)


def report(iterations: int) -> int:
    poller = tcptable.Poller(pids=False)
    owners = tcptable.Poller(pids=True)
    before = poller.poll()
    after = poller.poll()
    rows = len(after)
    results: list[tuple[str, float, float]] = []

    def measure(name: str, function: object) -> float:
        median, low = timed(function, iterations)  # type: ignore[arg-type]
        results.append((name, median, low))
        return median

    poll = measure("Poller.poll(), pids=False", poller.poll)
    measure("Poller.poll(), pids=True", owners.poll)
    for key in ("state", "family", "local_port", "remote_port", "remote_address", "pid"):
        measure(f'count_by("{key}")', lambda key=key: after.count_by(key))
    # directions() is cached per snapshot: time it on a fresh wrapper of the same rows.
    measure("directions()", lambda: Snapshot._from_rows(after.view, 0.0).directions())
    measure(
        'count_by("direction") (directions included)',
        lambda: Snapshot._from_rows(after.view, 0.0).count_by("direction"),
    )
    measure("diff(two consecutive polls)", lambda: tcptable.diff(before, after))
    measure("diff(snapshot, itself)", lambda: tcptable.diff(after, after))
    measure("Poller.poll_changes(), pids=False", poller.poll_changes)
    try:
        import numpy

        measure(
            "np.bincount(array['state']) (reference)",
            lambda: numpy.bincount(after.array["state"], minlength=13),
        )
    except ImportError:
        pass
    print(f"{rows} rows; CPython {platform.python_version()}; {iterations} iterations each")
    print(f"{'what':<46} {'median ms':>10} {'min ms':>8} {'% of poll':>10}")
    for name, median, low in results:
        print(f"{name:<46} {median:>10.3f} {low:>8.3f} {100 * median / poll:>9.1f}%")
    poller.close()
    owners.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
