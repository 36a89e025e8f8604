"""Order=TRUE as the shim sorts it (tcptable_sort_rows), on many made-up rows with ties: the
order, its stability, and per-row records that must move with their rows.  Portable: the sort is
the same C on every OS."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

from tcptable._errors import raise_for_status
from tcptable._native import ffi, lib

MAPPED = bytes(10) + b"\xff\xff"


@pytest.fixture
def handle() -> Any:
    poller = ffi.gc(lib.tcptable_poller_new(), lib.tcptable_poller_free)
    assert poller != ffi.NULL
    return poller


def make_rows(count: int, seed: int, odd: bool = False) -> Any:
    """`count` rows drawn from a few addresses and ports (many ties); inode = the row's index.
    With `odd`, some IPv4 rows lack the ::ffff: prefix, which the sort must still order."""
    chooser = random.Random(seed)
    ipv4 = [MAPPED + bytes([127, 0, 0, n]) for n in (1, 2)] + [MAPPED + bytes([10, 1, 255, 7])]
    ipv6 = [bytes(15) + b"\x01", bytes([0xFE, 0x80]) + bytes(13) + b"\x05", bytes(16)]
    ports = [0, 1, 255, 256, 443, 65535]
    rows = ffi.new("tcptable_row[]", count)
    for index in range(count):
        row = rows[index]
        family = chooser.choice([4, 4, 6])
        addresses = ipv4 if family == 4 else ipv6
        local, remote = chooser.choice(addresses), chooser.choice(addresses)
        if odd and family == 4 and chooser.random() < 0.1:
            local = bytes([1]) + local[1:]
        row.family = family
        row.local_addr = list(local)
        row.remote_addr = list(remote)
        row.local_port = chooser.choice(ports)
        row.remote_port = chooser.choice(ports)
        row.state = chooser.randint(1, 12)
        row.inode = index
    return rows


def key(row: Any) -> tuple[int, bytes, int, bytes, int]:
    return (
        row.family,
        bytes(row.local_addr),
        row.local_port,
        bytes(row.remote_addr),
        row.remote_port,
    )


def check_sorted(rows: Any, count: int) -> None:
    """Order=TRUE order, and stable: equal keys keep their original (inode) order."""
    keys = [(*key(rows[i]), rows[i].inode) for i in range(count)]
    assert keys == sorted(keys)
    assert sorted(rows[i].inode for i in range(count)) == list(range(count))


@pytest.mark.parametrize("odd", [False, True], ids=["backend rows", "odd IPv4 prefixes"])
@pytest.mark.parametrize("count", [2, 3, 257, 5000])
def test_sort_orders_many_rows_with_ties(handle: Any, count: int, odd: bool) -> None:
    rows = make_rows(count, seed=count, odd=odd)
    raise_for_status(handle, lib.tcptable_sort_rows(handle, rows, count, ffi.NULL, 0))
    check_sorted(rows, count)


@pytest.mark.parametrize("record_size", [1, 8, 12, 100])
def test_parallel_records_move_with_their_rows(handle: Any, record_size: int) -> None:
    count = 3000
    rows = make_rows(count, seed=record_size)
    record = struct.Struct(f"<{record_size}s")
    records = ffi.new("unsigned char[]", count * record_size)
    buffer = ffi.buffer(records)
    for index in range(count):  # each record spells its row's original index
        record.pack_into(buffer, index * record_size, index.to_bytes(4, "little")[:record_size])
    raise_for_status(handle, lib.tcptable_sort_rows(handle, rows, count, records, record_size))
    check_sorted(rows, count)
    for position in range(count):
        (stored,) = record.unpack_from(buffer, position * record_size)
        expected = rows[position].inode.to_bytes(4, "little")[:record_size]
        assert stored[: len(expected)] == expected, position


def test_sorting_again_keeps_the_order(handle: Any) -> None:
    count = 1000
    rows = make_rows(count, seed=7)
    raise_for_status(handle, lib.tcptable_sort_rows(handle, rows, count, ffi.NULL, 0))
    before = bytes(ffi.buffer(rows))
    raise_for_status(handle, lib.tcptable_sort_rows(handle, rows, count, ffi.NULL, 0))
    assert bytes(ffi.buffer(rows)) == before
