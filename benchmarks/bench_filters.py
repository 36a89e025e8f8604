"""Filtered polls (and per-socket stats) against the full poll, side by side in one run (Linux).

    python benchmarks/bench_filters.py [--sockets 20000] [--iterations 30]

Child processes (benchmarks/holders.py) hold the sockets as loopback pairs; this process polls
with and without filters.  The rounds interleave the scenarios (one poll of each per round), so
that the machine's noise hits them alike.  Target: ``states={"LISTEN"}`` costs at most a tenth
of a full poll at 20k rows.  (``python benchmarks/run.py`` times the same filters among the
suite's other measurements.)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import holders

import tcptable


def interleaved(
    scenarios: dict[str, Callable[[], object]], rounds: int
) -> dict[str, tuple[float, float]]:
    samples: dict[str, list[float]] = {name: [] for name in scenarios}
    for function in scenarios.values():
        function()  # warm-up
    for _ in range(rounds):
        for name, function in scenarios.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {
        name: (statistics.median(times) * 1e3, min(times) * 1e3) for name, times in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sockets", type=int, default=20000)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("this benchmark runs on Linux", file=sys.stderr)
        return 2
    holders.raise_fd_limit()
    with holders.PairHolders(args.sockets):
        full = tcptable.Poller(pids=False)
        table = full.poll()
        listeners = [
            row.local_port
            for row in table
            if row.state == tcptable.State.LISTEN and row.local_address.startswith("127.77.")
        ]
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux "
            f"{platform.release()}, Python {platform.python_version()}"
        )
        print(f"table: {len(table)} TCP rows")
        pollers = {
            "full poll (pids=False)": full,
            'states={"LISTEN"}': tcptable.Poller(pids=False, states={"LISTEN"}),
            'states={"ESTABLISHED"}': tcptable.Poller(pids=False, states={"ESTABLISHED"}),
            "local_ports={a held listener's port}": tcptable.Poller(
                pids=False, local_ports=listeners[:1] or [9]
            ),
            "remote_ports={443} (bytecode, ~no row kept)": tcptable.Poller(
                pids=False, remote_ports={443}
            ),
            "full poll, stats=True (tcp_info)": tcptable.Poller(pids=False, stats=True),
            "full poll, source=proc": tcptable.Poller(pids=False, source="proc"),
            'states={"LISTEN"}, source=proc': tcptable.Poller(
                pids=False, source="proc", states={"LISTEN"}
            ),
        }
        results = interleaved({name: p.poll for name, p in pollers.items()}, args.iterations)
        base = results["full poll (pids=False)"][0]
        proc_base = results["full poll, source=proc"][0]
        print(f"{'what':<44} {'rows':>7} {'median ms':>10} {'min ms':>9} {'vs full':>8}")
        for name, (median, best) in results.items():
            rows = len(pollers[name].poll())
            reference = proc_base if "proc" in name else base
            print(f"{name:<44} {rows:>7} {median:>10.2f} {best:>9.2f} {median / reference:>7.2f}x")
        ratio = results['states={"LISTEN"}'][0] / base
        print(f'states={{"LISTEN"}} / full poll: {ratio:.3f} (target <= 0.1)')
        for poller in pollers.values():
            poller.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
