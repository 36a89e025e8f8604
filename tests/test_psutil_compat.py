"""tcptable.psutil_compat: the same answers as psutil.net_connections, on the test's own sockets."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Iterator

import pytest
from conftest import LOOPBACK, UNDER_WINE, Pair, ipv6_available, open_pair

import tcptable
from tcptable import psutil_compat

psutil = pytest.importorskip("psutil", reason="psutil has no wheel for this Python")

KINDS = {  # kind -> the address families it holds
    "tcp": {4, 6},
    "tcp4": {4},
    "tcp6": {6},
    "inet": {4, 6},
    "inet4": {4},
    "inet6": {6},
}


@pytest.fixture(scope="module")
def pairs() -> Iterator[list[Pair]]:
    opened = [open_pair(4)]
    if ipv6_available():
        opened.append(open_pair(6))
    yield opened
    for pair in opened:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()


def identities(pairs: list[Pair]) -> set[tuple[object, ...]]:
    """(family, laddr, raddr) of the pairs' sockets: listener, client end, server end."""
    found: set[tuple[object, ...]] = set()
    for pair in pairs:
        family = socket.AF_INET if pair.family == 4 else socket.AF_INET6
        loopback = LOOPBACK[pair.family]
        listen, client = (loopback, pair.listen_port), (loopback, pair.client_port)
        found |= {(family, listen, ()), (family, client, listen), (family, listen, client)}
    return found


def own(connections: Iterable[object], pairs: list[Pair]) -> set[tuple[object, ...]]:
    """(family, laddr, raddr, status, pid) of the rows of the test's own TCP sockets (matched
    by family and both ends: other sockets may share a port number)."""
    mine = identities(pairs)
    found = set()
    for conn in connections:
        if conn.type != socket.SOCK_STREAM:  # type: ignore[attr-defined]
            continue  # psutil's inet kinds hold UDP too; a TCP table does not
        identity = (conn.family, conn.laddr, conn.raddr)  # type: ignore[attr-defined]
        if identity in mine:
            # psutil on Windows reports an unknown owner as pid 0; the adapter says None.
            found.add((*identity, conn.status, conn.pid or None))  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_equal_to_psutil_on_own_sockets(kind: str, pairs: list[Pair]) -> None:
    ours = own(psutil_compat.net_connections(kind), pairs)
    theirs = own(psutil.net_connections(kind), pairs)
    assert ours == theirs
    # Not vacuous: three rows (listener, both ends) for every pair of a family in this kind.
    expected = 3 * sum(1 for pair in pairs if pair.family in KINDS[kind])
    assert len(ours) == expected
    listeners = [row for row in ours if row[3] == "LISTEN"]
    assert all(row[2] == () for row in listeners)


def test_shapes_match_psutil(pairs: list[Pair]) -> None:
    pair = pairs[0]
    rows = {
        (c.laddr, c.raddr): c
        for c in psutil_compat.net_connections("tcp4")
        if c.laddr and c.laddr.port in (pair.listen_port, pair.client_port)
    }
    client = rows[(("127.0.0.1", pair.client_port), ("127.0.0.1", pair.listen_port))]
    assert client.fd == -1
    assert client.family is socket.AF_INET
    assert client.type is socket.SOCK_STREAM
    assert client.status == psutil.CONN_ESTABLISHED
    assert client.laddr.ip == "127.0.0.1"
    assert client.raddr.port == pair.listen_port
    if not UNDER_WINE:  # Wine reports no owning pids (0)
        assert client.pid == os.getpid()
    theirs = next(iter(psutil.net_connections("tcp4")), None)
    if theirs is not None:
        assert type(client)._fields == type(theirs)._fields
        assert type(client.laddr)._fields == type(theirs.laddr)._fields


def test_status_strings_are_psutils() -> None:
    statuses = {member: psutil_compat._STATUS[member] for member in tcptable.State}
    assert statuses[tcptable.State.SYN_RCVD] == psutil.CONN_SYN_RECV == "SYN_RECV"
    assert statuses[tcptable.State.CLOSED] == psutil.CONN_CLOSE == "CLOSE"
    assert statuses[tcptable.State.DELETE_TCB] == "DELETE_TCB"
    for member, status in statuses.items():
        if member is not tcptable.State.DELETE_TCB:  # psutil defines it on Windows only
            assert getattr(psutil, f"CONN_{status}") == status
    assert psutil_compat.CONN_NONE == psutil.CONN_NONE == "NONE"


@pytest.mark.parametrize("kind", ["udp", "udp4", "udp6", "unix", "all", "TCP", "", None, 4])
def test_other_kinds_raise_naming_kind(kind: object) -> None:
    with pytest.raises(ValueError, match=r"^kind .*not " + re.escape(repr(kind)) + "$"):
        psutil_compat.net_connections(kind)  # type: ignore[arg-type]
