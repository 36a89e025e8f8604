"""Counts and directions over a snapshot's packed rows: one C pass each, GIL released."""

from __future__ import annotations

import socket
from typing import Any, Union

from ._enums import Direction, State
from ._errors import raise_for_status_of
from ._native import ffi, lib
from ._rows import ROW_SIZE

__all__ = ["COUNT_KEYS", "CountKey", "count_by", "directions", "rows_of"]

CountKey = Union[State, Direction, int, str]

# key name -> (shim key, most groups it can have)
_KEYS = {
    "state": (lib.TCPTABLE_KEY_STATE, 256),
    "family": (lib.TCPTABLE_KEY_FAMILY, 256),
    "local_port": (lib.TCPTABLE_KEY_LOCAL_PORT, 65536),
    "remote_port": (lib.TCPTABLE_KEY_REMOTE_PORT, 65536),
    "remote_address": (lib.TCPTABLE_KEY_REMOTE_ADDRESS, None),
    "pid": (lib.TCPTABLE_KEY_PID, None),
    "direction": (lib.TCPTABLE_KEY_DIRECTION, 256),
}
COUNT_KEYS = tuple(_KEYS)

# Output memory is fully written by the shim before it is read.
_allocate = ffi.new_allocator(should_clear_after_alloc=False)


def rows_of(view: memoryview) -> tuple[Any, int]:
    """A ``tcptable_row[]`` over ``view`` (no copy, read-only use) and its row count."""
    return ffi.from_buffer("tcptable_row[]", view), len(view) // ROW_SIZE


def directions(view: memoryview) -> memoryview:
    """One ``Direction`` byte per row of ``view``, as a read-only memoryview."""
    rows, count = rows_of(view)
    out = _allocate("uint8_t[]", count)
    status = ffi.new("tcptable_status *")
    raise_for_status_of(status, lib.tcptable_directions(status, rows, count, out))
    return memoryview(ffi.buffer(out)).toreadonly()


def _remote_address(row: Any) -> str:
    # Formatted as Connection formats it: IPv4 rows hold the address IPv4-mapped.
    packed = bytes(ffi.buffer(row.remote_addr))
    if row.family == 4:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)


def count_by(view: memoryview, key: str, direction_bytes: memoryview | None) -> dict[Any, int]:
    """Rows of ``view`` counted by ``key`` (see ``Snapshot.count_by``)."""
    shim_key, most = _KEYS[key]
    rows, count = rows_of(view)
    capacity = count if most is None else min(count, most)
    counts = _allocate("tcptable_count[]", capacity)
    written = ffi.new("size_t *")
    status = ffi.new("tcptable_status *")
    directions_in = ffi.NULL if direction_bytes is None else ffi.from_buffer(direction_bytes)
    raise_for_status_of(
        status,
        lib.tcptable_count_by(
            status, rows, count, shim_key, directions_in, counts, capacity, written
        ),
    )
    groups = counts[0 : written[0]]
    if key == "state":
        return {State(g.value): g.count for g in groups}
    if key == "direction":
        return {Direction(g.value): g.count for g in groups}
    if key == "remote_address":
        # The C groups by (family, 16 address bytes); an IPv4 row formats only the last 4,
        # so rows whose first 12 bytes differ (never the case in a polled table) add up.
        result: dict[Any, int] = {}
        for g in groups:
            address = _remote_address(rows[g.value])
            result[address] = result.get(address, 0) + g.count
        return result
    return {g.value: g.count for g in groups}
