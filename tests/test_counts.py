"""Snapshot.count_by and Snapshot.directions: on hand-built rows (exact answers, every OS) and
on the tests' own loopback sockets."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from conftest import LOOPBACK, Pair, own_rows
from synthetic_rows import make_row, snapshot_of

import tcptable
from tcptable import Direction, State

LISTEN = State.LISTEN
ESTABLISHED = State.ESTABLISHED
TIME_WAIT = State.TIME_WAIT


def python_count(table: tcptable.Snapshot, key: str) -> dict[Any, int]:
    """What count_by must return, computed one Connection at a time."""
    if key == "direction":
        values: list[Any] = [Direction(d) for d in table.directions()]
    else:
        values = [getattr(connection, key) for connection in table]
    return dict(collections.Counter(values))


SYNTHETIC = snapshot_of(
    [
        make_row(("0.0.0.0", 80), state=LISTEN, pid=10),
        make_row(("10.0.0.1", 80), ("192.0.2.7", 50000), pid=10),
        make_row(("10.0.0.1", 80), ("192.0.2.7", 50001), state=TIME_WAIT),
        make_row(("10.0.0.1", 41000), ("198.51.100.1", 443), pid=7),
        make_row(("::", 22), state=LISTEN, pid=3),
        make_row(("2001:db8::1", 22), ("2001:db8::9", 60000), pid=3),
    ]
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("state", {LISTEN: 2, ESTABLISHED: 3, TIME_WAIT: 1}),
        ("family", {4: 4, 6: 2}),
        ("local_port", {22: 2, 80: 3, 41000: 1}),
        ("remote_port", {0: 2, 443: 1, 50000: 1, 50001: 1, 60000: 1}),
        ("pid", {0: 1, 3: 2, 7: 1, 10: 2}),
        (
            "remote_address",
            {"0.0.0.0": 1, "192.0.2.7": 2, "198.51.100.1": 1, "::": 1, "2001:db8::9": 1},
        ),
        ("direction", {Direction.LISTEN: 2, Direction.INBOUND: 3, Direction.OUTBOUND: 1}),
    ],
)
def test_count_by_synthetic_rows(key: str, expected: dict[Any, int]) -> None:
    counts = SYNTHETIC.count_by(key)
    assert counts == expected
    assert list(counts) == list(expected), "groups come in ascending order of the key"
    assert counts == python_count(SYNTHETIC, key)


def test_count_by_value_types() -> None:
    assert all(type(k) is State for k in SYNTHETIC.count_by("state"))
    assert all(type(k) is Direction for k in SYNTHETIC.count_by("direction"))
    for key in ("family", "pid", "local_port", "remote_port"):
        assert all(type(k) is int for k in SYNTHETIC.count_by(key))
    assert all(type(k) is str for k in SYNTHETIC.count_by("remote_address"))


KEYS = ["state", "family", "local_port", "remote_port", "remote_address", "pid", "direction"]


@pytest.mark.parametrize("key", KEYS)
def test_count_by_live_table_matches_its_rows(pair: Pair, key: str) -> None:
    table = tcptable.snapshot()
    assert set(own_rows(table, pair)) == pair.expected()
    counts = table.count_by(key)
    assert counts == python_count(table, key)
    if key == "local_port":
        assert counts[pair.listen_port] >= 2  # the listener and the accepted socket
        assert counts[pair.client_port] >= 1
    if key == "remote_address":
        assert counts[LOOPBACK[pair.family]] >= 2


def test_count_by_empty() -> None:
    empty = snapshot_of([])
    for key in ("state", "pid", "remote_address", "direction"):
        assert empty.count_by(key) == {}
    assert len(empty.directions()) == 0


@pytest.mark.parametrize("key", ["State", "port", "", "local_address", 1, None, ("state",)])
def test_count_by_bad_key(key: Any) -> None:
    with pytest.raises(ValueError, match="count_by key") as raised:
        SYNTHETIC.count_by(key)
    assert repr(key) in str(raised.value)


def test_directions_of_a_loopback_pair(pair: Pair) -> None:
    table = tcptable.snapshot()
    directions = table.directions()
    assert directions.readonly
    assert len(directions) == len(table)
    found = {}
    for connection, direction in zip(table, directions):
        key = (connection.local_port, connection.remote_port, connection.state)
        if key in pair.expected() and connection.family == pair.family:
            found[key] = Direction(direction)
    assert found == {
        (pair.listen_port, 0, LISTEN): Direction.LISTEN,
        (pair.listen_port, pair.client_port, ESTABLISHED): Direction.INBOUND,
        (pair.client_port, pair.listen_port, ESTABLISHED): Direction.OUTBOUND,
    }
    assert table.directions() is directions  # computed once per snapshot


def test_direction_array_is_the_same_bytes(pair: Pair) -> None:
    np = pytest.importorskip("numpy", reason="numpy is not installed (or does not import here)")
    table = tcptable.snapshot()
    array = table.direction_array
    assert array.dtype == np.uint8
    assert not array.flags.writeable
    assert array.tobytes() == bytes(table.directions())


@pytest.mark.parametrize(
    ("listener", "connection", "expected"),
    [
        # the listener's own address, a wildcard of the same family, the IPv6 wildcard
        (("127.0.0.1", 80), ("127.0.0.1", 80), Direction.INBOUND),
        (("0.0.0.0", 80), ("10.1.2.3", 80), Direction.INBOUND),
        (("::", 80), ("2001:db8::5", 80), Direction.INBOUND),
        (("::", 80), ("10.1.2.3", 80), Direction.INBOUND),
        (("::", 80), ("::ffff:10.1.2.3", 80), Direction.INBOUND),
        # another address, another port, an IPv4 wildcard for an IPv6 row
        (("127.0.0.1", 80), ("10.1.2.3", 80), Direction.OUTBOUND),
        (("0.0.0.0", 80), ("10.1.2.3", 81), Direction.OUTBOUND),
        (("0.0.0.0", 80), ("2001:db8::5", 80), Direction.OUTBOUND),
        (("2001:db8::1", 80), ("2001:db8::5", 80), Direction.OUTBOUND),
    ],
)
def test_direction_rules(
    listener: tuple[str, int], connection: tuple[str, int], expected: Direction
) -> None:
    family = 6 if ":" in connection[0] else 4
    remote = ("2001:db8::99", 5555) if family == 6 else ("192.0.2.99", 5555)
    table = snapshot_of(
        [
            make_row(listener, state=LISTEN),
            make_row(listener, state=LISTEN),  # an SO_REUSEPORT twin changes nothing
            make_row(connection, remote, family=family),
            make_row(connection, state=State.CLOSED, family=family),  # bound, no remote end
        ]
    )
    assert [Direction(d) for d in table.directions()] == [
        Direction.LISTEN,
        Direction.LISTEN,
        expected,
        Direction.UNKNOWN,
    ]


def test_directions_without_listeners() -> None:
    table = snapshot_of([make_row(("10.0.0.1", 80), ("10.0.0.2", 90), state=TIME_WAIT)])
    assert list(table.directions()) == [Direction.OUTBOUND]


def test_direction_enum() -> None:
    assert [(d.name, int(d)) for d in Direction] == [
        ("UNKNOWN", 0),
        ("LISTEN", 1),
        ("INBOUND", 2),
        ("OUTBOUND", 3),
    ]


def test_shim_rejects_bad_buffers() -> None:
    # The Python side sizes these right; the C side must still refuse, not write out of bounds.
    from tcptable._errors import raise_for_status_of
    from tcptable._native import ffi, lib

    rows = ffi.from_buffer("tcptable_row[]", SYNTHETIC.view)
    status = ffi.new("tcptable_status *")
    written = ffi.new("size_t *")
    values = ffi.new("uint64_t[]", 2)
    counts = ffi.new("uint64_t[]", 2)
    code = lib.tcptable_count_by(
        status, rows, len(SYNTHETIC), lib.TCPTABLE_KEY_PID, ffi.NULL, values, counts, 2, written
    )
    with pytest.raises(ValueError, match="4 groups, room for 2"):
        raise_for_status_of(status, code)
    subset = ffi.new("uint32_t[]", [len(SYNTHETIC)])
    out = ffi.new("uint8_t[]", 1)
    code = lib.tcptable_directions_of(status, rows, len(SYNTHETIC), subset, 1, out)
    with pytest.raises(ValueError, match="row 6 of 6"):
        raise_for_status_of(status, code)
    code = lib.tcptable_count_by(status, rows, 1, 99, ffi.NULL, values, counts, 2, written)
    with pytest.raises(ValueError, match="unknown key 99"):
        raise_for_status_of(status, code)
