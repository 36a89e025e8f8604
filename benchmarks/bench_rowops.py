"""Row operations at scale, each timed on its own beside the poll that made its rows, in one
run: count_by (every key), directions, diff (two polls with churn between them, and a snapshot
against itself) and poll_changes.

    python benchmarks/bench_rowops.py [--sockets 20000] [--iterations 30]

Child processes (benchmarks/holders.py) hold N loopback sockets; this process polls, then times
each operation over the same snapshots.  Linux only (the holders' loopback addresses are).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

# Run as a script: the sibling modules are imported by name from this directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import holders
import measures

import tcptable
from tcptable import Snapshot

KEYS = ("state", "family", "local_port", "remote_port", "remote_address", "pid")


def report(held: holders.PairHolders, iterations: int) -> None:
    poller = tcptable.Poller(pids=False)
    table = poller.poll()
    held.replace(0.05)  # 5% of the pairs closed and reopened: a diff with real changes
    churned = poller.poll()
    results: list[tuple[str, float, float]] = []

    def measure(name: str, run: object) -> float:
        timing = measures.timed(run, iterations, budget=60.0)  # type: ignore[arg-type]
        results.append((name, timing.median_ms, timing.min_ms))
        return timing.median_ms

    poll = measure("`Poller.poll()`, pids=False", poller.poll)
    for key in KEYS:
        measure(f'`count_by("{key}")`', lambda key=key: table.count_by(key))
    # directions() is computed once per snapshot: time it on a fresh wrapper of the same rows.
    measure("`directions()`", lambda: Snapshot._from_rows(table.view, 0.0).directions())
    measure(
        '`count_by("direction")` (directions included)',
        lambda: Snapshot._from_rows(table.view, 0.0).count_by("direction"),
    )
    changes = tcptable.diff(table, churned)
    measure("`diff(before, after)`, 5% of pairs replaced", lambda: tcptable.diff(table, churned))
    measure("`diff(s, s)`", lambda: tcptable.diff(table, table))
    measure("`Poller.poll_changes()` (poll + diff)", poller.poll_changes)
    poller.close()
    print(
        f"{len(table)} rows ({held.pairs} held pairs); diff with churn: {len(changes.opened)} "
        f"opened, {len(changes.closed)} closed, {len(changes.changed)} changed; "
        f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}"
    )
    print("| what | median ms | min ms | median / poll |\n|---|---:|---:|---:|")
    for name, median, low in results:
        print(f"| {name} | {median:.3f} | {low:.3f} | {100 * median / poll:.1f}% |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=20000)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("this benchmark runs on Linux", file=sys.stderr)
        return 2
    with holders.PairHolders(args.sockets) as held:
        report(held, args.iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
