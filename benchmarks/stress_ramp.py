"""Stress ramp (Linux): 0 -> 15,000 loopback pairs (30,000 sockets) held by child processes,
while threads poll with pollers of their own (pids on and off, every family, both sources)
and one thread calls poll_changes() (when the Poller has it).

    python benchmarks/stress_ramp.py                      # 0 -> 15,000 pairs in 15 steps
    python benchmarks/stress_ramp.py --pairs 3000 --every-combination   # the sanitizer stress

Reports each thread's polls, errors (must be 0), misses (a listener opened at the start
absent from a poll; must be 0) and its worst poll against its median; exits 1 on any error
or miss.  A benchmark, not a test: the timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from ramp import BASIC_POLLERS, every_combination, has_poll_changes, run_ramp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=15000, help="pairs at the top of the ramp")
    parser.add_argument("--steps", type=int, default=15, help="ramp steps")
    parser.add_argument(
        "--every-combination",
        action="store_true",
        help="36 pollers (family x source x sort x pids) spread over --threads threads",
    )
    parser.add_argument("--threads", type=int, default=6, help="threads for --every-combination")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("stress_ramp.py holds pairs in Linux child processes: run it on Linux")
        return 2
    if args.every_combination:
        combos = every_combination()
        threads = [combos[i :: args.threads] for i in range(args.threads)]
    else:
        threads = [[options] for options in BASIC_POLLERS]
    if not has_poll_changes():
        print("note: this tcptable has no Poller.poll_changes(); no poll_changes() thread")
    result = run_ramp(args.pairs, args.steps, threads, report=print)
    print(f"\n{result.pairs} pairs in {result.seconds:.1f} s; {result.polls} polls")
    for stats in result.threads:
        print(stats.describe())
    print(f"errors {result.errors}, misses {result.misses}")
    return 1 if result.errors or result.misses else 0


if __name__ == "__main__":
    sys.exit(main())
