"""The packed row: its layout as the C struct defines it, as a numpy dtype, and as tuples.

Everything here is derived from ``ffi.offsetof`` / ``ffi.sizeof`` and checked at import, so the
C struct and the Python views cannot drift apart silently.
"""

from __future__ import annotations

import struct

# socket.inet_ntop itself, from socket's C half: importing socket builds its enum classes,
# start-up time the command does not need.
from _socket import AF_INET, AF_INET6, inet_ntop
from typing import TYPE_CHECKING, Any, NamedTuple

from ._enums import OffloadState, Protocol, State
from ._native import ffi

if TYPE_CHECKING:
    import numpy

__all__ = ["ROW_SIZE", "ROW_STRUCT", "Connection", "connection_from_fields", "row_dtype"]

ROW_SIZE: int = ffi.sizeof("tcptable_row")

# (field, struct code, numpy code) in the C struct's order.
_FIELDS = (
    ("local_addr", "16s", ("u1", (16,))),
    ("remote_addr", "16s", ("u1", (16,))),
    ("local_scope_id", "I", "u4"),
    ("remote_scope_id", "I", "u4"),
    ("pid", "I", "u4"),
    ("uid", "I", "u4"),
    ("inode", "Q", "u8"),
    ("local_port", "H", "u2"),
    ("remote_port", "H", "u2"),
    ("family", "B", "u1"),
    ("state", "B", "u1"),
    ("offload_state", "B", "u1"),
    ("protocol", "B", "u1"),
    ("netns", "Q", "u8"),
)

# Native byte order, no alignment padding: the offsets below prove it matches the C struct.
ROW_STRUCT = struct.Struct("=" + "".join(code for _, code, _ in _FIELDS))


def _check_layout() -> None:
    offset = 0
    for name, code, _ in _FIELDS:
        if ffi.offsetof("tcptable_row", name) != offset:
            raise ImportError(
                f"tcptable_row.{name} is at {ffi.offsetof('tcptable_row', name)}, "
                f"the Python layout expects {offset}"
            )
        offset += struct.calcsize("=" + code)
    if offset != ROW_SIZE or ROW_STRUCT.size != ROW_SIZE:
        raise ImportError(f"tcptable_row is {ROW_SIZE} bytes, the Python layout {offset}")


_check_layout()

_dtype: numpy.dtype | None = None


def row_dtype() -> numpy.dtype:
    """The numpy structured dtype of one row (built on first use: numpy is optional).

    Besides the C struct's fields it has ``local_ipv4`` and ``remote_ipv4``: big-endian uint32
    views of the last 4 address bytes, i.e. an IPv4 address as an integer, with no copy.
    """
    global _dtype
    if _dtype is None:
        import numpy

        names = [name for name, _, _ in _FIELDS]
        formats: list[Any] = [fmt for _, _, fmt in _FIELDS]
        offsets = [ffi.offsetof("tcptable_row", name) for name in names]
        # IPv4 is stored IPv4-mapped: bytes 12..15 hold the address in network order.
        for side in ("local", "remote"):
            names.append(f"{side}_ipv4")
            formats.append(">u4")
            offsets.append(ffi.offsetof("tcptable_row", f"{side}_addr") + 12)
        dtype = numpy.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": ROW_SIZE}
        )
        if dtype.itemsize != ROW_SIZE:
            raise ImportError(f"row dtype is {dtype.itemsize} bytes, tcptable_row {ROW_SIZE}")
        _dtype = dtype
    return _dtype


class Connection(NamedTuple):
    """One row as Python objects: convenient, but a poll loop should prefer ``Snapshot.array``."""

    family: int
    state: State
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    pid: int
    offload_state: OffloadState
    local_scope_id: int
    remote_scope_id: int
    uid: int
    inode: int
    protocol: Protocol = Protocol.TCP
    netns: int = 0


def _address(family: int, packed: bytes) -> str:
    if family == 4:
        return inet_ntop(AF_INET, packed[12:])
    return inet_ntop(AF_INET6, packed)


def connection_from_fields(fields: tuple[Any, ...]) -> Connection:
    """Build a Connection from one ``ROW_STRUCT`` unpacking."""
    (
        local_addr,
        remote_addr,
        local_scope_id,
        remote_scope_id,
        pid,
        uid,
        inode,
        local_port,
        remote_port,
        family,
        state,
        offload_state,
        protocol,
        netns,
    ) = fields
    return Connection(
        family,
        State(state),
        _address(family, local_addr),
        local_port,
        _address(family, remote_addr),
        remote_port,
        pid,
        OffloadState(offload_state),
        local_scope_id,
        remote_scope_id,
        uid,
        inode,
        Protocol(protocol),
        netns,
    )
