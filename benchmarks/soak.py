"""Soak: a million polls of a small table; the process's RSS must stay flat.

    python benchmarks/soak.py                       # 1,000,000 polls
    python benchmarks/soak.py --polls 100000 --whole-family

Opens 3 loopback pairs and polls them with one Poller (pids=False, IPv4, filtered to the
pairs' own local ports, so the table stays small whatever else the machine runs: 9 rows);
every poll must show all of those rows.  RSS is read after a warm-up and then every tenth
of the run; exits 1 when it grew by more than --max-growth-kib or a poll came back wrong.
A benchmark, not a test: the rate depends on the machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import time

import tcptable


def rss_kib() -> int:
    """Resident set size of this process, in KiB (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss // 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=10_000)
    parser.add_argument("--max-growth-kib", type=int, default=1024)
    parser.add_argument(
        "--whole-family", action="store_true", help="poll every IPv4 row, not just the pairs'"
    )
    args = parser.parse_args()

    held = []
    for _ in range(3):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        held += [listener, client, server]
    ports = sorted({sock.getsockname()[1] for sock in held})
    options = {} if args.whole_family else {"local_ports": ports}
    poller = tcptable.Poller(family="ipv4", pids=False, **options)
    # Our 9 rows, by both ends.  Other processes' sockets may share our ports (an ephemeral
    # port is reused towards other destinations), so extra rows are counted, not failed.
    expected = set()
    for index in range(0, len(held), 3):
        listener, client, server = held[index : index + 3]
        listen, near = listener.getsockname()[1], client.getsockname()[1]
        expected |= {(listen, 0, 2), (near, listen, 5), (listen, near, 5)}

    counts = {"missing": 0, "extra": 0}

    def poll_once() -> tcptable.Snapshot:
        table = poller.poll()
        rows = table.array
        own = {
            (int(local), int(remote), int(state))
            for local, remote, state, address in zip(
                rows["local_port"], rows["remote_port"], rows["state"], rows["local_ipv4"]
            )
            if address == 0x7F000001
        }
        counts["missing"] += not expected <= own
        counts["extra"] += len(rows) > len(expected)
        return table

    for _ in range(args.warmup):  # buffers, numpy and the interpreter's caches settle first
        poll_once()
    counts["missing"] = counts["extra"] = 0
    gc.collect()
    start_rss = rss_kib()
    samples = [(0, start_rss)]
    started = time.perf_counter()
    step = max(1, args.polls // 10)
    for done in range(1, args.polls + 1):
        table = poll_once()
        if done % step == 0:
            samples.append((done, rss_kib()))
    seconds = time.perf_counter() - started
    gc.collect()
    end_rss = rss_kib()
    poller.close()
    for sock in held:
        sock.close()

    print(
        f"{args.polls} polls in {seconds:.1f} s ({args.polls / seconds:,.0f} polls/s, "
        f"{seconds / args.polls * 1e6:.1f} us each), {len(table)} rows in the last poll"
    )
    print("RSS KiB by polls: " + ", ".join(f"{n}: {kib}" for n, kib in samples))
    growth = end_rss - start_rss
    print(
        f"RSS start {start_rss} KiB, end {end_rss} KiB, growth {growth} KiB; polls missing one "
        f"of our rows {counts['missing']}; polls with other rows on our ports too "
        f"{counts['extra']}"
    )
    return 1 if growth > args.max_growth_kib or counts["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
