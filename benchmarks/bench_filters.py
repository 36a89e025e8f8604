"""Filtered polls against the full poll, side by side in one run (Linux).

    python benchmarks/bench_filters.py [--connections 10000] [--iterations 30]

Child processes hold N established loopback pairs (2N rows plus their listeners); this process
polls with and without filters.  The rounds interleave the scenarios (one poll of each per
round), so that the machine's noise hits them alike.  Target: ``states={"LISTEN"}`` costs at
most a tenth of a full poll at 20k rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from multiprocessing import Event, Process
from typing import Callable

from bench_poll import hold_connections

import tcptable


def start_holders(connections: int) -> tuple[list[Process], object]:
    import resource

    per_holder = max(1, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 200) // 2)
    stop = Event()
    holders = []
    for first in range(0, connections, per_holder):
        ready = Event()
        holder = Process(
            target=hold_connections,
            daemon=True,
            args=(min(per_holder, connections - first), ready, stop),
        )
        holder.start()
        holders.append((holder, ready))
    deadline = time.monotonic() + 300
    for holder, ready in holders:
        while not ready.wait(0.5) and holder.is_alive() and time.monotonic() < deadline:
            pass
        if not ready.is_set():
            stop.set()
            raise SystemExit("a connection holder did not get ready")
    return [holder for holder, _ in holders], stop


def interleaved(
    scenarios: dict[str, Callable[[], object]], rounds: int
) -> dict[str, tuple[float, float]]:
    samples: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(rounds):
        for name, function in scenarios.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {
        name: (statistics.median(times) * 1e3, min(times) * 1e3) for name, times in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("this benchmark runs on Linux", file=sys.stderr)
        return 2
    holders, stop = start_holders(args.connections)
    try:
        full = tcptable.Poller(pids=False)
        table = full.poll()
        listeners = [row.local_port for row in table if row.state == tcptable.State.LISTEN]
        some_port = listeners[0] if listeners else 22
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux "
            f"{platform.release()}, Python {platform.python_version()}"
        )
        print(f"table: {len(table)} TCP rows, {len(listeners)} listening")
        pollers = {
            "full poll (pids=False)": full,
            'states={"LISTEN"}': tcptable.Poller(pids=False, states={"LISTEN"}),
            "local_ports={one listener's port}": tcptable.Poller(
                pids=False, local_ports={some_port}
            ),
            'states={"ESTABLISHED"}': tcptable.Poller(pids=False, states={"ESTABLISHED"}),
            "full poll, source=proc": tcptable.Poller(pids=False, source="proc"),
            'states={"LISTEN"}, source=proc': tcptable.Poller(
                pids=False, source="proc", states={"LISTEN"}
            ),
        }
        results = interleaved({name: p.poll for name, p in pollers.items()}, args.iterations)
        base = results["full poll (pids=False)"][0]
        proc_base = results["full poll, source=proc"][0]
        print(f"{'what':<40} {'rows':>7} {'median ms':>10} {'min ms':>9} {'vs full':>8}")
        for name, (median, best) in results.items():
            rows = len(pollers[name].poll())
            reference = proc_base if "proc" in name else base
            print(f"{name:<40} {rows:>7} {median:>10.2f} {best:>9.2f} {median / reference:>7.2f}x")
        ratio = results['states={"LISTEN"}'][0] / base
        print(f'states={{"LISTEN"}} / full poll: {ratio:.3f} (target <= 0.1)')
    finally:
        stop.set()  # type: ignore[attr-defined]
        for holder in holders:
            holder.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
