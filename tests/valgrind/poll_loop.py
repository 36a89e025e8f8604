"""The poll loop that tests/valgrind/run.sh runs under memcheck.

Holds loopback pairs of both families (rows with inodes, so the owner lookup has work), then
polls with a poller for every family x source x sort x pids combination, ROUNDS times each,
reading every row (through numpy) and a few as Connection tuples, and closes every poller.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import sys

import tcptable

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
PAIRS = 50


def open_pairs(family: int, address: str) -> list[socket.socket]:
    listener = socket.socket(family)
    listener.bind((address, 0))
    listener.listen(PAIRS)
    held = [listener]
    for _ in range(PAIRS):
        client = socket.create_connection(listener.getsockname()[:2])
        server, _ = listener.accept()
        held += (client, server)
    return held


def main() -> int:
    held = open_pairs(socket.AF_INET, "127.0.0.1")
    # Without an IPv6 loopback the IPv6 pollers still run, over a smaller table.
    with contextlib.suppress(OSError):
        held += open_pairs(socket.AF_INET6, "::1")
    pollers = [
        tcptable.Poller(family=family, source=source, sort=order, pids=pids)
        for family, source, order, pids in itertools.product(
            ("all", "ipv4", "ipv6"), ("default", "netlink", "proc"), (False, True), (False, True)
        )
    ]
    polls = rows = 0
    for _ in range(ROUNDS):
        for poller in pollers:
            table = poller.poll()
            # Read every row (numpy), and a few through the Python row decoder.
            rows += int((table.array["state"] > 0).sum())
            assert all(connection.family in (4, 6) for connection in table[:3])
            polls += 1
    for poller in pollers:
        poller.close()
    for sock in held:
        sock.close()
    print(f"{polls} polls by {len(pollers)} pollers, {rows} rows read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
