"""Poll cost on Windows as Wine gives it: tcptable vs a bare C GetTcpTable2 + GetTcp6Table2 loop
and psutil, on one table of a few hundred sockets that this process holds.

    bash tests/windows/run.sh --bench [--pairs 200] [--iterations 200]

run.sh builds the C loop (benchmarks/windows_tcp_floor.c) with mingw and runs this file in the
Windows CPython it installed tcptable into, under the lane's Wine 10.  These are Wine timings:
Wine serves the table from wineserver and lists only Wine processes' sockets, so they say how
tcptable compares with the floor and with psutil on the same calls, not what Windows costs.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Callable

import tcptable

ROUNDS = 5


def hold_pairs(count: int) -> list[socket.socket]:
    """`count` established loopback pairs, three quarters IPv4 and a quarter IPv6."""
    held = []
    for family, address, share in ((socket.AF_INET, "127.0.0.1", count - count // 4),
                                   (socket.AF_INET6, "::1", count // 4)):  # fmt: skip
        listener = socket.socket(family)
        listener.bind((address, 0))
        listener.listen(128)
        held.append(listener)
        for _ in range(share):
            client = socket.socket(family)
            client.connect(listener.getsockname()[:2])
            server, _ = listener.accept()
            held += [client, server]
    return held


def timed(function: Callable[[], object], iterations: int) -> list[float]:
    """Wall time of each of `iterations` calls, in ms."""
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def c_floor(program: str, iterations: int) -> tuple[list[float], int]:
    """Per-call ms of the bare C loop (a separate Windows process), and the rows it saw."""
    out = subprocess.run(
        [program, str(iterations)], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(item.split("=") for item in out.split())
    return [float(us) / 1e3 for us in fields["samples_us"].split(",")], int(fields["rows"])


def wine_version() -> str:
    ntdll = ctypes.WinDLL("ntdll")
    if not hasattr(ntdll, "wine_get_version"):
        return "not Wine"
    ntdll.wine_get_version.restype = ctypes.c_char_p
    return "Wine " + ntdll.wine_get_version().decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floor", required=True, help="windows_tcp_floor.exe (run.sh passes it)")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    if sys.platform != "win32":
        print("this benchmark runs in Windows CPython (tests/windows/run.sh --bench)")
        return 2
    import psutil

    held = hold_pairs(args.pairs)
    try:
        poller = tcptable.Poller()
        own = sum(1 for c in poller.poll() if c.pid == os.getpid())
        if own != len(held):
            print(f"expected {len(held)} rows of this process, the poll shows {own}")
            return 1
        # Rounds that alternate the contenders, so that load from elsewhere on the machine
        # falls on all of them alike.
        names = [
            "bare C GetTcpTable2 + GetTcp6Table2 (floor)",
            "tcptable Poller.poll()",
            "tcptable list(Poller.poll())",
            "psutil.net_connections('tcp')",
        ]
        samples: dict[str, list[float]] = {name: [] for name in names}
        per_round = max(1, args.iterations // ROUNDS)
        rows = 0
        for _ in range(ROUNDS):
            floor, rows = c_floor(args.floor, per_round)
            samples[names[0]] += floor
            samples[names[1]] += timed(poller.poll, per_round)
            samples[names[2]] += timed(lambda: list(poller.poll()), per_round)
            samples[names[3]] += timed(
                lambda: psutil.net_connections("tcp"), max(1, per_round // 4)
            )
        results = {name: (statistics.median(s), min(s)) for name, s in samples.items()}
        poller.close()
        print(f"{wine_version()}, Python {sys.version.split()[0]} (64-bit), psutil "
              f"{psutil.__version__}: Wine timings, not Windows ones")  # fmt: skip
        print(
            f"table: {rows} TCP rows, {len(held)} of them this process's own "
            f"({args.pairs} established loopback pairs and 2 listeners); Wine lists only the "
            "sockets of Wine processes"
        )
        print(f"{'what (median and min of all rounds)':<46} {'median ms':>10} {'min ms':>9}")
        for name, (median, best) in results.items():
            print(f"{name:<46} {median:>10.3f} {best:>9.3f}")
        for label, index in (("medians", 0), ("minimums", 1)):
            floor_time = results[names[0]][index]
            poll = results[names[1]][index]
            psutil_time = results[names[3]][index]
            print(
                f"ratios of the {label}: Poller.poll() / C floor {poll / floor_time:.2f}x, "
                f"psutil / Poller.poll() {psutil_time / poll:.1f}x"
            )
    finally:
        for sock in held:
            sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
