"""Counts and directions over a snapshot's packed rows: one C pass each, GIL released."""

from __future__ import annotations

from typing import Any, cast

from ._enums import Direction, State
from ._errors import raise_for_status_of
from ._native import ffi, lib
from ._rows import ROW_SIZE
from ._rows import _address as format_address  # the one formatting Connection uses

__all__ = ["COUNT_KEYS", "count_by", "directions", "rows_of"]

# key name -> (shim key, most groups it can have)
_KEYS = {
    "state": (lib.TCPTABLE_KEY_STATE, 256),
    "family": (lib.TCPTABLE_KEY_FAMILY, 256),
    "local_port": (lib.TCPTABLE_KEY_LOCAL_PORT, 65536),
    "remote_port": (lib.TCPTABLE_KEY_REMOTE_PORT, 65536),
    "remote_address": (lib.TCPTABLE_KEY_REMOTE_ADDRESS, None),
    "pid": (lib.TCPTABLE_KEY_PID, None),
    "direction": (lib.TCPTABLE_KEY_DIRECTION, 256),
    "netns": (lib.TCPTABLE_KEY_NETNS, None),
}
COUNT_KEYS = tuple(_KEYS)

# Output memory is fully written by the shim before it is read.
_allocate = ffi.new_allocator(should_clear_after_alloc=False)


def rows_of(view: memoryview) -> tuple[Any, int]:
    """A ``tcptable_row[]`` over ``view`` (no copy, read-only use) and its row count."""
    return ffi.from_buffer("tcptable_row[]", view), len(view) // ROW_SIZE


def directions(view: memoryview, subset: Any = None, subset_count: int = 0) -> memoryview:
    """One ``Direction`` byte per row of ``view`` (read-only memoryview); with ``subset`` (a
    ``uint32_t[]`` of ``subset_count`` row indices), one per row picked, judged against the
    listeners of every row of ``view``."""
    rows, count = rows_of(view)
    if subset is None:
        subset, subset_count = ffi.NULL, count
    out = _allocate("uint8_t[]", subset_count)
    status = ffi.new("tcptable_status *")
    raise_for_status_of(
        status, lib.tcptable_directions_of(status, rows, count, subset, subset_count, out)
    )
    return memoryview(ffi.buffer(out)).toreadonly()


def count_by(view: memoryview, key: str, direction_bytes: memoryview | None) -> dict[Any, int]:
    """Rows of ``view`` counted by ``key`` (see ``Snapshot.count_by``)."""
    shim_key, most = _KEYS[key]
    rows, count = rows_of(view)
    capacity = count if most is None else min(count, most)
    values = _allocate("uint64_t[]", capacity)
    counts = _allocate("uint64_t[]", capacity)
    written = ffi.new("size_t *")
    status = ffi.new("tcptable_status *")
    directions_in = ffi.NULL if direction_bytes is None else ffi.from_buffer(direction_bytes)
    raise_for_status_of(
        status,
        lib.tcptable_count_by(
            status, rows, count, shim_key, directions_in, values, counts, capacity, written
        ),
    )
    # Two lists built in C (ffi.unpack), zipped: a port key can have tens of thousands of groups.
    # ffi.unpack gives a list for an integer array (bytes or str only for a char one).
    keys: list[Any] = cast("list[int]", ffi.unpack(values, written[0]))
    numbers = cast("list[int]", ffi.unpack(counts, written[0]))
    if key == "state":
        keys = [State(k) for k in keys]
    elif key == "direction":
        keys = [Direction(k) for k in keys]
    elif key == "remote_address":
        # The C groups by (family, 16 address bytes); an IPv4 row formats only the last 4,
        # so rows whose first 12 bytes differ (never the case in a polled table) add up.
        result: dict[Any, int] = {}
        for first_row, number in zip(keys, numbers):
            row = rows[first_row]
            address = format_address(row.family, bytes(ffi.buffer(row.remote_addr)))
            result[address] = result.get(address, 0) + number
        return result
    return dict(zip(keys, numbers))
