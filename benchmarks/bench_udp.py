"""A UDP poll against a TCP poll of the same size, per row, side by side in one run.

    python benchmarks/bench_udp.py [--sockets 10000] [--rounds 31]
    python benchmarks/run.py ...     (runs it too: --udp-sockets, 0 to skip)

Child processes hold N UDP sockets (bound on loopback, a share of them IPv6, a share connected)
and N TCP sockets (benchmarks/holders.py's established pairs).  Each round polls the TCP table
and the UDP table once per setting, alternating, so that both see the same machine; the report
gives median and minimum wall time per poll and per row for each, and their ratio.  The TCP
table also holds whatever else the machine has open: per-row cost is the fair comparison.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import contextlib

import holders

import tcptable

# (label, Poller keywords) of each setting; every one runs for "tcp" and for "udp".
SETTINGS = (
    ("sock_diag, pids=False", {"pids": False}),
    ("sock_diag, pids=True", {"pids": True}),
    ("/proc/net, pids=False", {"pids": False, "source": "proc"}),
)
IPV6_SHARE = 40  # percent, as holders.py's pairs
CONNECTED_SHARE = 25  # percent of the UDP sockets connected to a bound one


def _hold_udp(commands: Connection, count: int) -> None:
    """Child: open `count` UDP sockets, report, wait for "stop"."""
    sockets: list[socket.socket] = []
    try:
        holders.raise_fd_limit()
        for index in range(count):
            family = socket.AF_INET6 if index % 100 < IPV6_SHARE else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
            if index % 100 >= 100 - CONNECTED_SHARE and sockets:
                peer = sockets[-1]
                if peer.family == family:
                    sock.connect(peer.getsockname()[:2])
            sockets.append(sock)
    except OSError as error:
        commands.send(("error", f"{type(error).__name__}: {error}"))
        return
    commands.send(("ready", len(sockets)))
    with contextlib.suppress(EOFError):
        commands.recv()
    for sock in sockets:
        sock.close()


class UdpHolders:
    """`count` UDP sockets held by children (as many as the fd limit needs)."""

    def __init__(self, count: int) -> None:
        per_child = max(1, holders.raise_fd_limit()[1] - 100) if os.name == "posix" else count
        self.counts = [min(per_child, count - start) for start in range(0, count, per_child)]
        self.children: list[tuple[Process, Connection]] = []

    def __enter__(self) -> UdpHolders:
        for count in self.counts:
            parent, child = Pipe()
            process = Process(target=_hold_udp, args=(child, count), daemon=True)
            process.start()
            self.children.append((process, parent))
        for _, pipe in self.children:
            if not pipe.poll(300):
                raise RuntimeError("a UDP holder did not report within 300 s")
            word, value = pipe.recv()
            if word != "ready":
                raise RuntimeError(f"a UDP holder failed: {value}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process, pipe in self.children:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
            process.join(30)


@dataclass
class Timing:
    label: str
    protocol: str
    rows: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.seconds) * 1e3

    @property
    def median_us_per_row(self) -> float:
        return statistics.median(s / max(1, r) for s, r in zip(self.seconds, self.rows)) * 1e6

    @property
    def min_us_per_row(self) -> float:
        return min(s / max(1, r) for s, r in zip(self.seconds, self.rows)) * 1e6


@dataclass
class Run:
    sockets: int
    load_before: str
    load_after: str = ""
    timings: list[Timing] = field(default_factory=list)
    note: str = ""


def _load() -> str:
    getloadavg = getattr(os, "getloadavg", None)
    return f"{getloadavg()[0]:.2f}" if getloadavg is not None else "unknown"


def measure(sockets: int, rounds: int) -> Run:
    """Hold `sockets` UDP and `sockets` TCP sockets, then time every setting."""
    run = Run(sockets, _load())
    try:
        with holders.PairHolders(sockets), UdpHolders(sockets):
            pollers = []
            for label, keywords in SETTINGS:
                for protocol in ("tcp", "udp"):
                    try:
                        poller = tcptable.Poller(protocol=protocol, **keywords)  # type: ignore[arg-type]
                        poller.poll()  # warm: buffers sized, owner cache filled
                    except tcptable.NotSupportedError as reason:
                        run.note = f"{label}: not measured ({reason})"
                        continue
                    pollers.append((poller, Timing(label, protocol)))
            for _ in range(rounds):
                for poller, timing in pollers:
                    started = time.perf_counter()
                    table = poller.poll()
                    timing.seconds.append(time.perf_counter() - started)
                    timing.rows.append(len(table))
            for poller, timing in pollers:
                poller.close()
                run.timings.append(timing)
    except (OSError, RuntimeError) as error:
        run.note = f"could not hold the sockets ({error})"
    run.load_after = _load()
    return run


def show(run: Run) -> None:
    if run.note:
        print(f"   UDP beside TCP: {run.note}", flush=True)
    for timing in run.timings:
        print(
            f"   {timing.protocol} poll, {timing.label:<24} {statistics.median(timing.rows):>8.0f}"
            f" rows {timing.median_ms:9.2f} {timing.min_ms:9.2f} ms"
            f" {timing.median_us_per_row:7.3f} {timing.min_us_per_row:7.3f} us/row",
            flush=True,
        )


def report(runs: list[Run], rounds: int) -> list[str]:
    """The markdown section: per setting, TCP and UDP per row side by side."""
    lines = [
        "## A UDP poll beside a TCP poll (per row)",
        "",
        f"Command: `python benchmarks/bench_udp.py` (or `run.py`); {rounds} rounds, the TCP "
        "and UDP polls of each setting alternating.  N UDP sockets (40% IPv6, 25% connected) "
        "and N TCP sockets (established pairs) held by child processes; the TCP table also "
        "has the machine's other rows.  Wall time per poll and per row, median (min).",
        "",
    ]
    for run in runs:
        lines += [
            f"N = {run.sockets:,}; load average (1 min) {run.load_before} at the start, "
            f"{run.load_after} at the end." + (f"  {run.note}." if run.note else ""),
            "",
            "| setting | TCP rows | TCP ms | TCP µs/row | UDP rows | UDP ms | UDP µs/row "
            "| UDP/TCP per row (median) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        by_label: dict[str, dict[str, Timing]] = {}
        for timing in run.timings:
            by_label.setdefault(timing.label, {})[timing.protocol] = timing
        for label, pair in by_label.items():
            tcp, udp = pair.get("tcp"), pair.get("udp")
            if tcp is None or udp is None:
                continue
            lines.append(
                f"| {label} | {statistics.median(tcp.rows):,.0f} | {tcp.median_ms:.2f} "
                f"({tcp.min_ms:.2f}) | {tcp.median_us_per_row:.3f} ({tcp.min_us_per_row:.3f}) "
                f"| {statistics.median(udp.rows):,.0f} | {udp.median_ms:.2f} ({udp.min_ms:.2f}) "
                f"| {udp.median_us_per_row:.3f} ({udp.min_us_per_row:.3f}) "
                f"| {udp.median_us_per_row / tcp.median_us_per_row:.2f} |"
            )
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10000, help="UDP and TCP sockets each")
    parser.add_argument("--rounds", type=int, default=31, help="polls per setting and protocol")
    args = parser.parse_args(argv)
    run = measure(args.sockets, args.rounds)
    show(run)
    print("\n".join(report([run], args.rounds)))
    return 1 if run.note.startswith("could not") else 0


if __name__ == "__main__":
    sys.exit(main())
