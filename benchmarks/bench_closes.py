"""Close events: what a poll with ``closes=True`` costs while connections close at a steady
rate, side by side with the same poll without (Linux).

    python benchmarks/bench_closes.py [--sockets 5000] [--rate 5000] [--seconds 10]

Child processes hold ``--sockets`` loopback sockets (the table), and one more opens and closes
connections so that ``--rate`` sockets are destroyed per second.  Two pollers, one with
``closes=True``, call ``poll_changes()`` in turn (each first in every other round), 10 times
a second each; both pay the same table, so the difference is what the events cost: receiving
them, decoding them and matching their owners.  Then a burst of closes with nothing else
going on gives the cost of one event alone (``tcptable_events_drain`` timed by itself).
Target: the poll with events costs at most 1.2x the poll without, plus the events' own cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import holders

import tcptable


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def event_cost_ns(events: int) -> tuple[float, int]:
    """Nanoseconds per event of one drain of `events` queued destroy events (and how many the
    drain got): a burst of resets with this poller's queue filling, then one timed drain."""
    from tcptable._native import lib

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    with tcptable.Poller(family="ipv4", pids=False, closes=True) as poller:
        poller.poll_changes()
        for _ in range(events // 2):
            client = socket.create_connection(listener.getsockname())
            server, _ = listener.accept()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, holders.NO_LINGER)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, holders.NO_LINGER)
            server.close()
            client.close()
        time.sleep(0.2)  # the kernel queues the events from a work queue, a little later
        start = time.perf_counter_ns()
        code = lib.tcptable_events_drain(poller._handle)
        elapsed = time.perf_counter_ns() - start
        assert code == 0
        drained = len(poller.poll_changes().finished or ())
    listener.close()
    return elapsed / max(1, drained), drained


def measure(sockets: int, rate: int, seconds: float) -> dict[str, float]:
    """The figures of one run: medians in ms, events per poll, ns per event, the ratio."""
    with holders.PairHolders(sockets), holders.CloseChurn(rate) as churn:
        off = tcptable.Poller(pids=True)
        on = tcptable.Poller(pids=True, closes=True)
        times: dict[str, list[float]] = {"off": [], "on": []}
        events: list[int] = []
        lost = 0
        for poller in (off, on):
            poller.poll_changes()  # warm-up; the first Changes holds every row
        deadline = time.monotonic() + seconds
        tick = time.monotonic()
        order = [("off", off), ("on", on)]
        while time.monotonic() < deadline:
            order.reverse()  # each goes first in every other round: neither pays for the other
            for name, poller in order:
                start = time.perf_counter()
                changes = poller.poll_changes()
                times[name].append((time.perf_counter() - start) * 1e3)
                if name == "on":
                    assert changes.finished is not None
                    assert changes.events_lost is not None
                    events.append(len(changes.finished))
                    lost += changes.events_lost
            tick += 0.1
            time.sleep(max(0.0, tick - time.monotonic()))
        rows = len(off.poll())
        off.close()
        on.close()
    per_event_ns, burst = event_cost_ns(4000)
    median_off, median_on = statistics.median(times["off"]), statistics.median(times["on"])
    per_poll = statistics.median(events)
    own_cost_ms = per_poll * per_event_ns / 1e6
    return {
        "rows": rows,
        "rate": churn.achieved or 0.0,
        "polls": len(times["on"]),
        "off_ms": median_off,
        "on_ms": median_on,
        "events_per_poll": per_poll,
        "events_per_s": sum(events) / seconds,
        "lost": lost,
        "per_event_ns": per_event_ns,
        "burst": burst,
        "own_cost_ms": own_cost_ms,
        "ratio": (median_on - own_cost_ms) / median_off,
    }


def report(figures: dict[str, float]) -> list[str]:
    return [
        f"table: {figures['rows']:.0f} rows; closes: {figures['rate']:.0f} sockets destroyed a "
        f"second (achieved); {figures['polls']:.0f} polls each, 10 a second",
        f"poll_changes(), pids=True:                 median {figures['off_ms']:.2f} ms",
        f"poll_changes(), pids=True, closes=True:    median {figures['on_ms']:.2f} ms "
        f"({figures['events_per_poll']:.0f} events a poll, {figures['events_per_s']:.0f} "
        f"events/s drained, {figures['lost']:.0f} lost)",
        f"one event alone (a drain of {figures['burst']:.0f}): {figures['per_event_ns']:.0f} ns "
        f"-> {figures['own_cost_ms']:.3f} ms a poll",
        f"(closes=True - events' own cost) / closes=False: {figures['ratio']:.2f}x "
        f"(target <= 1.2x)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sockets", type=int, default=5000, help="sockets held (the table)")
    parser.add_argument("--rate", type=int, default=5000, help="sockets destroyed a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to poll")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("close events are Linux only", file=sys.stderr)
        return 1
    holders.raise_fd_limit()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}; load average {load_average()} at the start"
    )
    figures = measure(args.sockets, args.rate, args.seconds)
    print("\n".join(report(figures)))
    print(f"load average {load_average()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
