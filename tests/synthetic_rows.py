"""Packed rows built by hand, OS-independent: for the row operations (counts, directions, diff)
whose results must follow from the rows alone."""

from __future__ import annotations

import socket
from collections.abc import Iterable

import tcptable
from tcptable._rows import ROW_STRUCT


def packed_address(family: int, text: str) -> bytes:
    """16 bytes as the shim stores them: IPv4 IPv4-mapped, IPv6 as is."""
    if family == 4:
        return bytes(10) + b"\xff\xff" + socket.inet_aton(text)
    return socket.inet_pton(socket.AF_INET6, text)


def make_row(
    local: tuple[str, int],
    remote: tuple[str, int] = ("0.0.0.0", 0),
    *,
    state: int = tcptable.State.ESTABLISHED,
    family: int | None = None,
    pid: int = 0,
    inode: int = 0,
    scope_ids: tuple[int, int] = (0, 0),
    protocol: int = 6,
    netns: int = 0,
) -> bytes:
    """One packed row; the family follows from the local address unless given."""
    if family is None:
        family = 6 if ":" in local[0] else 4
    remote_address = remote[0]
    if family == 6 and remote_address == "0.0.0.0":
        remote_address = "::"
    return ROW_STRUCT.pack(
        packed_address(family, local[0]),
        packed_address(family, remote_address),
        scope_ids[0],
        scope_ids[1],
        pid,
        0,
        inode,
        local[1],
        remote[1],
        family,
        int(state),
        0,
        protocol,
        netns,
    )


def snapshot_of(rows: Iterable[bytes], timestamp: float = 0.0) -> tcptable.Snapshot:
    """A Snapshot over these rows, made the way the library makes its own."""
    return tcptable.Snapshot._from_rows(memoryview(b"".join(rows)).toreadonly(), timestamp)
