"""Odd inputs to Snapshot: any integer-like index, as lists take them; a Snapshot built by
hand is checked when it is built, not when it is read."""

from __future__ import annotations

import array
from typing import Any

import pytest
from conftest import Pair

import tcptable


class Two:
    def __index__(self) -> int:
        return 2


def test_any_index_like_object_indexes_as_in_a_list(pair: Pair) -> None:
    numpy = pytest.importorskip("numpy", reason="numpy integers")
    table = tcptable.snapshot(pids=False)
    rows = list(table)
    assert len(rows) >= 3  # at least the pair's own rows
    for index in (numpy.int64(0), numpy.uint8(1), numpy.int32(-1), Two(), True, False):
        assert table[index] == rows[index], index  # type: ignore[call-overload]
    with pytest.raises(IndexError, match="out of range"):
        table[numpy.int64(len(rows))]


@pytest.mark.parametrize("index", [1.0, "0", None, (0,)], ids=repr)
def test_a_non_integer_index_is_a_type_error_as_in_a_list(pair: Pair, index: Any) -> None:
    table = tcptable.snapshot(pids=False)
    with pytest.raises(TypeError) as from_list:
        list(table)[index]
    with pytest.raises(TypeError, match="Snapshot indices must be integers or slices") as ours:
        table[index]
    assert type(from_list.value) is type(ours.value)


def test_a_snapshot_built_from_a_polls_rows_reads_the_same(pair: Pair) -> None:
    table = tcptable.snapshot(pids=False)
    copy = tcptable.Snapshot(bytes(table.view), table.timestamp)
    assert list(copy) == list(table)
    assert copy.timestamp == table.timestamp
    assert list(tcptable.Snapshot(table.view, 0)) == list(table)
    assert len(tcptable.Snapshot(b"", 1.5)) == 0


@pytest.mark.parametrize(
    ("view", "error", "words"),
    [
        (None, TypeError, "bytes-like object, not NoneType"),
        ([0] * 64, TypeError, "bytes-like object, not list"),
        ("x" * 64, TypeError, "bytes-like object, not str"),
        (bytearray(64), ValueError, "read-only"),
        (memoryview(bytearray(64)), ValueError, "read-only"),
        (b"\0" * 71, ValueError, "whole rows of 72 bytes, not 71 bytes"),
        (memoryview(array.array("I", [0] * 16).tobytes()).cast("I").toreadonly(), ValueError,
         "format 'I'"),
        (memoryview(b"\0" * 128).cast("B", (2, 64)), ValueError, "2 dimensions"),
        (memoryview(b"\0" * 128)[::2], ValueError, "contiguous"),
    ],
)  # fmt: skip
def test_a_bad_view_fails_when_built(view: Any, error: type, words: str) -> None:
    with pytest.raises(error, match="Snapshot view must") as raised:
        tcptable.Snapshot(view, 0.0)
    assert words in str(raised.value)


@pytest.mark.parametrize("timestamp", [None, "1.0", True, 1j], ids=repr)
def test_a_bad_timestamp_fails_when_built(timestamp: Any) -> None:
    with pytest.raises(TypeError, match="Snapshot timestamp must be a real number"):
        tcptable.Snapshot(b"", timestamp)
