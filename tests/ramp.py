"""Pollers under a growing table: the machinery of benchmarks/stress_ramp.py, the sanitizer
stress step (tests/sanitizers/run.sh) and tests/test_stress_ramp.py.  Linux only.

Child processes ("holders") hold loopback pairs and open more on command; meanwhile threads
poll, each with pollers of its own, and check on every poll that two listeners opened at the
start (one per family) are in the table.  Run as a script, this file is a holder: it reads a
number of pairs to add per stdin line and answers with its total.
"""

from __future__ import annotations

import itertools
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import tcptable

PAIRS_PER_HOLDER = 2500  # 5,000 fds a process, well under the usual hard limit
FAMILIES = ("all", "ipv4", "ipv6")
SOURCES = ("default", "netlink", "proc")
# The benchmark's threads: pids on and off, every family, both sources, sorted or not.
BASIC_POLLERS = (
    {"family": "all", "pids": False},
    {"family": "all", "pids": True},
    {"family": "ipv4", "sort": True, "pids": False},
    {"family": "ipv6", "pids": False, "source": "proc"},
)


def every_combination() -> list[dict[str, Any]]:
    """One poller per family x source x sort x pids combination (36)."""
    return [
        {"family": f, "source": s, "sort": o, "pids": p}
        for f, s, o, p in itertools.product(FAMILIES, SOURCES, (False, True), (False, True))
    ]


def loopback(family: int) -> str:
    return "127.0.0.1" if family == socket.AF_INET else "::1"


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def hold() -> None:
    """The holder process: open pairs on command, keep them until stdin closes."""
    import resource

    family = socket.AF_INET6 if sys.argv[1:] == ["6"] else socket.AF_INET
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * PAIRS_PER_HOLDER + 64
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    listener = socket.socket(family)
    listener.bind((loopback(family), 0))
    listener.listen(1024)
    held: list[socket.socket] = []
    for line in sys.stdin:
        try:
            for _ in range(int(line)):
                client = socket.socket(family)
                held.append(client)
                client.connect(listener.getsockname()[:2])
                held.append(listener.accept()[0])
        except OSError as error:  # the parent says why the ramp cannot go on
            print(f"error after {len(held) // 2} pairs: {error!r}", flush=True)
            break
        print(len(held) // 2, flush=True)
    for sock in held:
        sock.close()


class Holders:
    """Child processes that hold `total` pairs between them, IPv4 and IPv6 in turn."""

    def __init__(self, total: int) -> None:
        # At least one holder per family, so that both families' replies grow.
        ipv6 = ipv6_loopback()
        count = max(2 if ipv6 else 1, -(-total // PAIRS_PER_HOLDER))
        families = ["6" if i % 2 and ipv6 else "4" for i in range(count)]
        self.processes = [
            subprocess.Popen(
                [sys.executable, __file__, family],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for family in families
        ]
        self.pairs = 0

    def add(self, pairs: int) -> None:
        """Open `pairs` more pairs, spread over the holders; returns once they are open."""
        share, extra = divmod(pairs, len(self.processes))
        asked = []
        for index, process in enumerate(self.processes):
            n = share + (index < extra)
            if n:
                assert process.stdin is not None
                process.stdin.write(f"{n}\n")
                process.stdin.flush()
                asked.append(process)
        for process in asked:
            assert process.stdout is not None
            answer = process.stdout.readline().strip()
            if not answer.isdigit():
                raise RuntimeError(
                    f"pair holder {process.pid}: {answer or f'died (exit {process.wait()})'}"
                )
        self.pairs += pairs

    def close(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in self.processes:
            process.wait(timeout=60)


@dataclass
class PollerStats:
    """What one thread's pollers saw."""

    name: str
    polls: int = 0
    errors: int = 0
    misses: int = 0
    first_error: str = ""
    seconds: list[float] = field(default_factory=list)

    def describe(self) -> str:
        median = statistics.median(self.seconds) * 1000 if self.seconds else 0.0
        worst = max(self.seconds) * 1000 if self.seconds else 0.0
        ratio = worst / median if median else 0.0
        text = (
            f"{self.name:<44} polls {self.polls:6d}  errors {self.errors}  misses {self.misses}"
            f"  median {median:8.2f} ms  worst {worst:8.2f} ms ({ratio:.1f}x)"
        )
        return text + (f"  first error: {self.first_error}" if self.first_error else "")


class Sentinels:
    """A listener per family, opened before the ramp: every poll must show it."""

    def __init__(self) -> None:
        self.listeners = {4: socket.socket(socket.AF_INET)}
        if ipv6_loopback():
            self.listeners[6] = socket.socket(socket.AF_INET6)
        for listener in self.listeners.values():
            listener.bind((loopback(listener.family), 0))
            listener.listen(1)
        self.ports = {f: s.getsockname()[1] for f, s in self.listeners.items()}

    def missing(self, table: tcptable.Snapshot, family: str) -> int:
        """How many of the sentinels this poll's family should show are not in `table`."""
        rows = table.array
        listening = rows[rows["state"] == tcptable.State.LISTEN]
        missed = 0
        for number, port in self.ports.items():
            if family in ("all", f"ipv{number}"):
                found = (listening["family"] == number) & (listening["local_port"] == port)
                missed += not found.any()
        return missed

    def close(self) -> None:
        for listener in self.listeners.values():
            listener.close()


def poller_name(options: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(options.items()))


class PollThread(threading.Thread):
    """Polls its pollers in turn until stopped; poll_changes() instead when `changes`."""

    def __init__(
        self, options: list[dict[str, Any]], sentinels: Sentinels, changes: bool = False
    ) -> None:
        super().__init__(daemon=True)
        label = "poll_changes() " if changes else ""
        self.stats = PollerStats(label + " | ".join(poller_name(o) for o in options))
        self.options = options
        self.sentinels = sentinels
        self.changes = changes
        self.stop = threading.Event()
        self.progress = threading.Condition()

    def run(self) -> None:
        pollers = [tcptable.Poller(**options) for options in self.options]
        try:
            while not self.stop.is_set():
                for poller in pollers:
                    self.poll_once(poller)
        finally:
            for poller in pollers:
                poller.close()

    def poll_once(self, poller: tcptable.Poller) -> None:
        started = time.perf_counter()
        try:
            table = poller.poll_changes().after if self.changes else poller.poll()  # type: ignore[attr-defined]
        except Exception as error:  # every failure is counted and reported, none may happen
            self.stats.errors += 1
            self.stats.first_error = self.stats.first_error or repr(error)
        else:
            self.stats.seconds.append(time.perf_counter() - started)
            self.stats.misses += self.sentinels.missing(table, poller.family)
        with self.progress:
            self.stats.polls += 1
            self.progress.notify_all()

    def wait_for_polls(self, count: int, timeout: float) -> bool:
        """Wait until this thread has finished `count` polls in all."""
        with self.progress:
            return self.progress.wait_for(lambda: self.stats.polls >= count, timeout)


@dataclass
class RampResult:
    pairs: int
    threads: list[PollerStats]
    seconds: float

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.threads)

    @property
    def misses(self) -> int:
        return sum(t.misses for t in self.threads)

    @property
    def polls(self) -> int:
        return sum(t.polls for t in self.threads)


def has_poll_changes() -> bool:
    return hasattr(tcptable.Poller, "poll_changes")


def run_ramp(
    pairs: int,
    steps: int,
    threads: list[list[dict[str, Any]]],
    changes_thread: bool = True,
    report: Any = None,
) -> RampResult:
    """Ramp from 0 to `pairs` pairs in `steps` steps while `threads` (each a list of Poller
    options) poll; after every step, every thread finishes at least one whole round of its
    pollers before the next step.  A poll_changes() thread joins when the API exists."""
    sentinels = Sentinels()
    holders = Holders(pairs)
    workers = [PollThread(options, sentinels) for options in threads]
    if changes_thread and has_poll_changes():
        workers.append(PollThread([{"family": "all", "pids": False}], sentinels, changes=True))
    started = time.perf_counter()
    try:
        for worker in workers:
            worker.start()
        done = 0
        for step in range(1, steps + 1):
            target = pairs * step // steps
            holders.add(target - done)
            done = target
            for worker in workers:
                # A whole round of its pollers after this step's pairs opened (the poll under
                # way may have started before).
                wanted = worker.stats.polls + len(worker.options) + 1
                if not worker.wait_for_polls(wanted, timeout=600):
                    raise RuntimeError(f"{worker.stats.name}: no poll finished in 600 s")
            if report is not None:
                report(f"{done:6d} pairs: {sum(w.stats.polls for w in workers)} polls so far")
    finally:
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            worker.join(timeout=600)
        holders.close()
        sentinels.close()
    return RampResult(done, [w.stats for w in workers], time.perf_counter() - started)


if __name__ == "__main__":
    hold()
