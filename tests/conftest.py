"""Sockets the tests own, and how to find exactly those rows in a table.

Tests never count table totals (other processes open and close connections at any moment):
they look up their own sockets by exact (local port, remote port, state).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Callable, NamedTuple

import pytest

import tcptable

LOOPBACK = {4: "127.0.0.1", 6: "::1"}
WILDCARD = {4: "0.0.0.0", 6: "::"}


def under_wine() -> bool:
    """True in a Windows CPython that Wine runs (the Windows lane, tests/windows/run.sh)."""
    if sys.platform != "win32":
        return False
    import ctypes

    return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


UNDER_WINE = under_wine()


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


FAMILIES = [
    4,
    pytest.param(6, marks=pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")),
]


class Pair(NamedTuple):
    """A listener and one established connection through it, all on loopback."""

    family: int
    listener: socket.socket
    client: socket.socket
    server: socket.socket

    @property
    def listen_port(self) -> int:
        return self.listener.getsockname()[1]

    @property
    def client_port(self) -> int:
        return self.client.getsockname()[1]

    def expected(self) -> set[tuple[int, int, tcptable.State]]:
        """The three rows this pair must show: (local port, remote port, state)."""
        return {
            (self.listen_port, 0, tcptable.State.LISTEN),
            (self.client_port, self.listen_port, tcptable.State.ESTABLISHED),
            (self.listen_port, self.client_port, tcptable.State.ESTABLISHED),
        }


def open_listener(family: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6)
    listener.bind((LOOPBACK[family], 0))
    listener.listen(8)
    return listener


def open_pair(family: int) -> Pair:
    listener = open_listener(family)
    client = socket.socket(listener.family)
    client.connect(listener.getsockname()[:2])
    server, _ = listener.accept()
    return Pair(family, listener, client, server)


@pytest.fixture(params=FAMILIES, ids=["ipv4", "ipv6"])
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    opened = open_pair(request.param)
    yield opened
    for sock in (opened.client, opened.server, opened.listener):
        sock.close()


def own_rows(
    connections: Iterable[tcptable.Connection], pair: Pair
) -> dict[tuple[int, int, tcptable.State], tcptable.Connection]:
    """The rows of `pair`'s sockets, keyed by (local port, remote port, state).

    Addresses are matched too: another process's connection may share both port numbers
    (ports are per address, and a dual-stack socket's IPv4 peers show as ::ffff:127.0.0.1
    in the IPv6 table)."""
    wanted = pair.expected()
    loopback = LOOPBACK[pair.family]
    found = {}
    for connection in connections:
        key = (connection.local_port, connection.remote_port, connection.state)
        if key not in wanted or connection.family != pair.family:
            continue
        listening = connection.state == tcptable.State.LISTEN
        if connection.local_address != loopback or (
            connection.remote_address != (WILDCARD[pair.family] if listening else loopback)
        ):
            continue
        assert key not in found, f"row {key} appears twice"
        found[key] = connection
    return found


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> object:
    """Re-check `condition` until it is truthy or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)
