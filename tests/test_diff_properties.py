"""Property tests of tcptable.diff on hand-built row sets full of duplicate identities
(SO_REUSEPORT-like twins, TIME_WAIT rows beside new sockets): the laws hold on every OS."""

from __future__ import annotations

import collections
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed here")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from synthetic_rows import make_row, snapshot_of  # noqa: E402

import tcptable  # noqa: E402
from tcptable._rows import ROW_SIZE  # noqa: E402

STATES = [tcptable.State.LISTEN, tcptable.State.ESTABLISHED, tcptable.State.TIME_WAIT]
ADDRESSES = {4: ["10.0.0.1", "10.0.0.2"], 6: ["::1", "fe80::1"]}


@st.composite
def rows(draw: Any) -> bytes:
    """A row from small pools, so that identities repeat often."""
    family = draw(st.sampled_from([4, 6]))
    return make_row(
        (draw(st.sampled_from(ADDRESSES[family])), draw(st.sampled_from([80, 81]))),
        (draw(st.sampled_from(ADDRESSES[family])), draw(st.sampled_from([0, 5000]))),
        family=family,
        state=draw(st.sampled_from(STATES)),
        pid=draw(st.sampled_from([0, 7])),
        inode=draw(st.sampled_from([0, 1, 2])),
        scope_ids=(draw(st.sampled_from([0, 3])), 0),
    )


def mutate(row: bytes, action: str) -> bytes | None:
    """What may happen to a socket between polls."""
    connection = snapshot_of([row])[0]
    local = (connection.local_address, connection.local_port)
    remote = (connection.remote_address, connection.remote_port)
    keep = {"family": connection.family, "scope_ids": (connection.local_scope_id, 0)}
    if action == "close":
        return None
    if action == "time_wait":  # the Linux inode drops to 0
        return make_row(local, remote, state=tcptable.State.TIME_WAIT, **keep)
    if action == "new_pid":
        return make_row(local, remote, state=connection.state, inode=connection.inode, **keep)
    return row


@st.composite
def polls(draw: Any) -> tuple[list[bytes], list[bytes]]:
    """Two polls: the second evolved from the first (some rows closed, changed, added), or
    unrelated to it."""
    before = draw(st.lists(rows(), max_size=20))
    if draw(st.booleans()):
        return before, draw(st.lists(rows(), max_size=20))
    actions = st.sampled_from(["keep", "keep", "close", "time_wait", "new_pid"])
    evolved = [mutate(row, draw(actions)) for row in before]
    after = [row for row in evolved if row is not None]
    added = draw(st.lists(rows(), max_size=8))
    if draw(st.booleans()):
        # The order kept (as the kernel keeps it) with new rows slotted in: diff's aligned walk
        # pairs most rows before any hashing.
        for row in added:
            after.insert(draw(st.integers(0, len(after))), row)
        return before, after
    return before, draw(st.permutations(after + added))


def identity(connection: tcptable.Connection) -> tuple[Any, ...]:
    c = connection
    return (c.family, c.local_address, c.local_port, c.remote_address, c.remote_port,
            c.local_scope_id, c.remote_scope_id)  # fmt: skip


def row_bytes(table: tcptable.Snapshot) -> collections.Counter[bytes]:
    view = table.view
    return collections.Counter(bytes(view[i : i + ROW_SIZE]) for i in range(0, len(view), ROW_SIZE))


@settings(max_examples=100, deadline=None)
@given(st.lists(rows(), max_size=30))
def test_a_snapshot_against_itself_has_no_changes(table_rows: list[bytes]) -> None:
    table = snapshot_of(table_rows)
    assert len(tcptable.diff(table, table)) == 0


@settings(max_examples=150, deadline=None)
@given(polls())
def test_multiset_law(pair_of_polls: tuple[list[bytes], list[bytes]]) -> None:
    before, after = (snapshot_of(p) for p in pair_of_polls)
    changes = tcptable.diff(before, after)
    ids = collections.Counter(map(identity, before))
    ids.subtract(map(identity, changes.closed))
    ids.update(map(identity, changes.opened))
    assert +ids == collections.Counter(map(identity, after))
    # The parts are rows of the tables they come from, whole.
    assert not row_bytes(changes.closed) - row_bytes(before)
    assert not row_bytes(changes.opened) - row_bytes(after)
    assert not row_bytes(changes.changed) - row_bytes(after)
    assert len(changes.changed_from) == len(changes.changed)
    for connection, old in zip(changes.changed, changes.changed_from):
        assert connection.state != old
    assert len(changes) == len(changes.opened) + len(changes.closed) + len(changes.changed)


@settings(max_examples=150, deadline=None)
@given(polls())
def test_state_change_rule(pair_of_polls: tuple[list[bytes], list[bytes]]) -> None:
    """An identity seen once in each poll is one socket unless two non-zero inodes differ:
    then a differing state is a change (never a close and an open)."""
    before, after = (snapshot_of(p) for p in pair_of_polls)
    changes = tcptable.diff(before, after)
    once_before = _unique(before)
    once_after = _unique(after)
    changed = {
        identity(c): (c, tcptable.State(old))
        for c, old in zip(changes.changed, changes.changed_from)
    }
    closed = set(map(identity, changes.closed))
    opened = set(map(identity, changes.opened))
    for key in once_before.keys() & once_after.keys():
        old, new = once_before[key], once_after[key]
        if old.inode and new.inode and old.inode != new.inode:
            assert key in closed
            assert key in opened
            continue
        assert key not in closed
        assert key not in opened
        if old.state != new.state:
            assert changed[key] == (new, old.state)
        else:
            assert key not in changed


def _unique(table: tcptable.Snapshot) -> dict[tuple[Any, ...], tcptable.Connection]:
    counts = collections.Counter(map(identity, table))
    return {identity(c): c for c in table if counts[identity(c)] == 1}
