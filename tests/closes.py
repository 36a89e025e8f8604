"""Short connections the close-event tests make, and how to find exactly their closes.

A connection here leaves no TIME_WAIT row behind and keeps its counters to the end: the server
end is closed with SO_LINGER 0 (a reset), after the client has read a reply byte (whose ACK
covers everything the client sent), and the client is closed after the reset reached it.  (An
end that resets itself is disconnected by the kernel before it is destroyed: its event has
remote port 0 and zeroed counters; the client never does that here.)
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import struct
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import tcptable

# (local address, local port, remote address, remote port) of one socket.
Ends = tuple[str, int, str, int]


def ends_of(connection: tcptable.Connection) -> Ends:
    return (
        connection.local_address,
        connection.local_port,
        connection.remote_address,
        connection.remote_port,
    )


def short_connection(listener: socket.socket, payload: bytes) -> Ends:
    """Connect, send `payload`, see it acknowledged, close both ends; the client's ends."""
    with socket.socket(listener.family) as client:
        client.settimeout(10)
        client.connect(listener.getsockname()[:2])
        server, _ = listener.accept()
        with server:
            server.settimeout(10)
            client.sendall(payload)
            received = 0
            while received < len(payload):
                received += len(server.recv(1 << 16))
            server.sendall(b"!")
            assert client.recv(1) == b"!"
            ends = client.getsockname()[:2] + client.getpeername()[:2]
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Wait for the reset (an event, not a sleep): then the client closes without a FIN.
        with contextlib.suppress(ConnectionResetError):
            client.recv(1)
    return ends


class Seen(NamedTuple):
    connection: tcptable.Connection
    stats: Any  # one STATS_DTYPE record
    unseen: bool


class Collected(NamedTuple):
    finished: dict[Ends, list[Seen]]  # a port can be reused by a later connection
    opened: set[Ends]
    closed: dict[Ends, tcptable.Connection]
    events_lost: int

    def missing(self, wanted: Iterable[Ends]) -> int:
        """How many of `wanted` (ends repeated once per connection) did not finish."""
        count = collections.Counter(wanted)
        return sum(max(0, n - len(self.finished.get(ends, []))) for ends, n in count.items())


def collect(poller: tcptable.Poller, wanted: Iterable[Ends], timeout: float = 10.0) -> Collected:
    """poll_changes() until every socket in `wanted` (ends repeated once per connection) is in
    `finished`, or the deadline: what those polls reported about the wanted sockets."""
    count = collections.Counter(wanted)
    found: dict[Ends, list[Seen]] = {}
    opened: set[Ends] = set()
    closed: dict[Ends, tcptable.Connection] = {}
    lost = 0
    deadline = time.monotonic() + timeout
    while True:
        changes = poller.poll_changes()
        assert changes.finished is not None
        assert changes.events_lost is not None
        lost += changes.events_lost
        opened.update(e for e in map(ends_of, changes.opened) if e in count)
        closed.update((ends_of(c), c) for c in changes.closed if ends_of(c) in count)
        finished = changes.finished
        if len(finished):
            stats = finished.stats_array
            for index, connection in enumerate(finished):
                ends = ends_of(connection)
                if ends in count:
                    seen = Seen(connection, stats[index], finished.unseen_flags[index] == 1)
                    found.setdefault(ends, []).append(seen)
        collected = Collected(found, opened, closed, lost)
        if collected.missing(count.elements()) == 0 or time.monotonic() > deadline:
            for ends, n in count.items():
                assert len(found.get(ends, [])) <= n, f"{ends} finished more often than closed"
            return collected
        time.sleep(0.01)  # paced re-polls until the deadline, not a wait for a duration


def event_socket_inode(before: set[int]) -> int:
    """The inode of the one sock_diag socket with groups that this process opened since
    `before` (a set of this process's socket inodes)."""
    mine = own_socket_inodes() - before
    found = [row for row in netlink_sockets() if row["inode"] in mine and row["groups"]]
    assert len(found) == 1, found
    return int(found[0]["inode"])


def own_socket_inodes() -> set[int]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def netlink_sockets() -> list[dict[str, int]]:
    """/proc/net/netlink's sock_diag (protocol 4) rows: groups, drops, inode."""
    rows = []
    with open("/proc/net/netlink") as table:
        header = table.readline().split()
        for line in table:
            fields = dict(zip(header, line.split()))
            if int(fields["Eth"]) == 4:
                rows.append(
                    {
                        "groups": int(fields["Groups"], 16),
                        "drops": int(fields["Drops"]),
                        "inode": int(fields["Inode"]),
                    }
                )
    return rows


def kernel_drops(inode: int) -> int:
    return next(row["drops"] for row in netlink_sockets() if row["inode"] == inode)


def fd_of_inode(inode: int) -> int:
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == f"socket:[{inode}]":
                return int(fd)
        except OSError:
            continue
    raise AssertionError(f"no descriptor of socket inode {inode}")
