"""Poll cost at scale, side by side in one run: tcptable vs the bare C netlink floor, psutil
and `ss`.

    python benchmarks/bench_poll.py [--connections 10000] [--iterations 30]

Child processes hold N established loopback connections (2N rows, plus their listeners), as
busy servers would (several children when one may not open that many files); this process
polls.  Linux only (the Windows numbers need a Windows host).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Event, Process
from typing import Callable

import tcptable

HERE = os.path.dirname(os.path.abspath(__file__))


def hold_connections(count: int, ready, stop) -> None:
    needed = 2 * count + 64
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    try:  # root may raise the hard limit too
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(needed, hard), max(needed, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    sockets = [listener]
    for _ in range(count):
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        sockets += [client, server]
    ready.set()
    stop.wait()


def timed(function: Callable[[], object], iterations: int) -> tuple[float, float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3, min(samples) * 1e3


def c_floor(iterations: int) -> tuple[float, float, int] | None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    binary = os.path.join(tempfile.mkdtemp(), "netlink_floor")
    subprocess.run(
        [compiler, "-O2", "-o", binary, os.path.join(HERE, "netlink_floor.c")], check=True
    )
    out = subprocess.run(
        [binary, str(iterations)], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(item.split("=") for item in out.split())
    return float(fields["median_us"]) / 1e3, float(fields["min_us"]) / 1e3, int(fields["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("this benchmark runs on Linux", file=sys.stderr)
        return 2

    per_holder = max(1, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 200) // 2)
    stop = Event()
    holders = []
    for first in range(0, args.connections, per_holder):
        ready = Event()
        holder = Process(
            target=hold_connections,
            daemon=True,
            args=(min(per_holder, args.connections - first), ready, stop),
        )
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
        rows = len(tcptable.snapshot(pids=False))
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux "
            f"{platform.release()}, Python {platform.python_version()}"
        )
        print(
            f"table: {rows} TCP rows ({args.connections} established pairs held by children; "
            "the rest are the machine's own, TIME_WAIT included)"
        )
        print(f"{'what':<44} {'median ms':>10} {'min ms':>9}")
        results = {}
        floor = c_floor(args.iterations)
        if floor is not None:
            results["bare C netlink dump (floor)"] = floor[:2]
        poller = tcptable.Poller(pids=False)
        results["tcptable Poller.poll() pids=False"] = timed(poller.poll, args.iterations)
        results["tcptable poll + array['state'] counts"] = timed(
            lambda: __import__("numpy").bincount(poller.poll().array["state"], minlength=13),
            args.iterations,
        )
        sorted_poller = tcptable.Poller(pids=False, sort=True)
        results["tcptable Poller.poll() pids=False sort=True"] = timed(
            sorted_poller.poll, args.iterations
        )
        proc_poller = tcptable.Poller(pids=False, source="proc")
        results["tcptable /proc/net source pids=False"] = timed(proc_poller.poll, args.iterations)
        pid_poller = tcptable.Poller(pids=True)
        results["tcptable Poller.poll() pids=True"] = timed(
            pid_poller.poll, max(3, args.iterations // 3)
        )
        results["tcptable list(poll()) (Connection objects)"] = timed(
            lambda: list(poller.poll()), max(3, args.iterations // 3)
        )
        try:
            import psutil

            results["psutil.net_connections('tcp')"] = timed(
                lambda: psutil.net_connections("tcp"), max(3, args.iterations // 6)
            )
        except ImportError:
            print("(psutil not installed: skipped)")
        if shutil.which("ss"):
            results["ss -tan (whole process)"] = timed(
                lambda: subprocess.run(["ss", "-tan"], stdout=subprocess.DEVNULL, check=True),
                max(3, args.iterations // 3),
            )
        for name, (median, best) in results.items():
            print(f"{name:<44} {median:>10.2f} {best:>9.2f}")
        if floor is not None:
            ratio = results["tcptable Poller.poll() pids=False"][0] / floor[0]
            print(f"tcptable pids=False / C floor: {ratio:.2f}x")
        if "psutil.net_connections('tcp')" in results:
            speedup = (
                results["psutil.net_connections('tcp')"][0]
                / results["tcptable Poller.poll() pids=False"][0]
            )
            print(f"psutil / tcptable pids=False: {speedup:.1f}x")
    finally:
        stop.set()
        for holder, _ in holders:
            holder.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
