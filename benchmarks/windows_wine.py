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


def timed(function: Callable[[], object], iterations: int) -> tuple[float, float]:
    """(median, min) wall time of one call, in ms."""
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3, min(samples) * 1e3


def c_floor(program: str, iterations: int) -> tuple[float, float, int]:
    """(median ms, min ms, rows) of the bare C loop, a separate Windows process."""
    out = subprocess.run(
        [program, str(iterations)], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(item.split("=") for item in out.split())
    return float(fields["median_us"]) / 1e3, float(fields["min_us"]) / 1e3, int(fields["rows"])


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
        floor_median, floor_min, rows = c_floor(args.floor, args.iterations)
        results = {
            "bare C GetTcpTable2 + GetTcp6Table2 (floor)": (floor_median, floor_min),
            "tcptable Poller.poll()": timed(poller.poll, args.iterations),
            "tcptable list(Poller.poll())": timed(lambda: list(poller.poll()), args.iterations),
            "psutil.net_connections('tcp')": timed(
                lambda: psutil.net_connections("tcp"), max(3, args.iterations // 4)
            ),
        }
        poller.close()
        print(f"{wine_version()}, Python {sys.version.split()[0]} (64-bit), psutil "
              f"{psutil.__version__}: Wine timings, not Windows ones")  # fmt: skip
        print(
            f"table: {rows} TCP rows, {len(held)} of them this process's own "
            f"({args.pairs} established loopback pairs and 2 listeners); Wine lists only the "
            "sockets of Wine processes"
        )
        print(f"{'what':<46} {'median ms':>10} {'min ms':>9}")
        for name, (median, best) in results.items():
            print(f"{name:<46} {median:>10.3f} {best:>9.3f}")
        poll = results["tcptable Poller.poll()"][0]
        psutil_median = results["psutil.net_connections('tcp')"][0]
        print(f"tcptable Poller.poll() / C floor: {poll / floor_median:.2f}x")
        print(
            f"psutil.net_connections('tcp') / tcptable Poller.poll(): {psutil_median / poll:.1f}x"
        )
    finally:
        for sock in held:
            sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
