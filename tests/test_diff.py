"""tcptable.diff, Poller.poll_changes and tcptable.watch: exact cases on hand-built rows (every
OS), then the tests' own sockets opening, changing state and closing."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
from conftest import FAMILIES, LOOPBACK, UNDER_WINE, Pair, open_listener, wait_until
from synthetic_rows import make_row, snapshot_of

import tcptable
from tcptable import Direction, State

ESTABLISHED = State.ESTABLISHED
LISTEN = State.LISTEN
TIME_WAIT = State.TIME_WAIT
CLIENT = ("10.0.0.1", 40000)
SERVER = ("192.0.2.1", 443)


def rows(table: tcptable.Snapshot) -> list[tuple[int, int, State, int, int]]:
    """(local port, remote port, state, inode, pid) of each row, in order."""
    return [(c.local_port, c.remote_port, c.state, c.inode, c.pid) for c in table]


def test_same_snapshot_has_no_changes() -> None:
    table = snapshot_of(
        [make_row(CLIENT, SERVER, inode=5), make_row(("0.0.0.0", 80), state=LISTEN)]
    )
    changes = tcptable.diff(table, table)
    assert len(changes) == 0
    assert not changes
    assert (len(changes.opened), len(changes.closed), len(changes.changed)) == (0, 0, 0)
    assert changes.before is table
    assert changes.after is table


def test_established_to_time_wait_is_a_change_not_a_close() -> None:
    before = snapshot_of([make_row(CLIENT, SERVER, inode=5, pid=9)], timestamp=1.0)
    after = snapshot_of([make_row(CLIENT, SERVER, state=TIME_WAIT)], timestamp=2.0)
    changes = tcptable.diff(before, after)
    assert rows(changes.changed) == [(40000, 443, TIME_WAIT, 0, 0)]
    assert list(changes.changed_from) == [ESTABLISHED]
    assert changes.changed_from.readonly
    assert len(changes.opened) == len(changes.closed) == 0
    assert len(changes) == 1
    assert changes
    assert changes.changed.timestamp == 2.0


@pytest.mark.parametrize("new_first", [True, False])
def test_time_wait_beside_a_new_connection_on_the_same_ports(new_first: bool) -> None:
    before = snapshot_of([make_row(CLIENT, SERVER, inode=5)])
    new = make_row(CLIENT, SERVER, inode=9)
    time_wait = make_row(CLIENT, SERVER, state=TIME_WAIT)
    after = snapshot_of([new, time_wait] if new_first else [time_wait, new])
    changes = tcptable.diff(before, after)
    assert rows(changes.changed) == [(40000, 443, TIME_WAIT, 0, 0)]
    assert list(changes.changed_from) == [ESTABLISHED]
    assert rows(changes.opened) == [(40000, 443, ESTABLISHED, 9, 0)]
    assert len(changes.closed) == 0


def test_reuseport_listeners_pair_by_inode() -> None:
    listener = ("0.0.0.0", 80)
    before = snapshot_of([make_row(listener, state=LISTEN, inode=i) for i in (1, 2)])
    after = snapshot_of([make_row(listener, state=LISTEN, inode=i) for i in (2, 3)])
    changes = tcptable.diff(before, after)
    assert rows(changes.closed) == [(80, 0, LISTEN, 1, 0)]
    assert rows(changes.opened) == [(80, 0, LISTEN, 3, 0)]
    assert len(changes.changed) == 0


def test_rows_without_inodes_pair_by_pid_then_by_identity() -> None:
    # Windows has no inodes: pids pick the pairs first, the rest pair by identity.
    listener = ("0.0.0.0", 80)
    before = snapshot_of([make_row(listener, state=LISTEN, pid=p) for p in (10, 11)])
    after = snapshot_of(
        [make_row(listener, state=LISTEN, pid=12), make_row(listener, state=ESTABLISHED, pid=11)]
    )
    changes = tcptable.diff(before, after)
    assert rows(changes.changed) == [(80, 0, ESTABLISHED, 0, 11)]
    assert list(changes.changed_from) == [LISTEN]
    assert len(changes.opened) == len(changes.closed) == 0


def test_a_new_socket_on_old_ports_is_a_close_and_an_open() -> None:
    before = snapshot_of([make_row(CLIENT, SERVER, inode=5)])
    after = snapshot_of([make_row(CLIENT, SERVER, inode=6)])
    changes = tcptable.diff(before, after)
    assert rows(changes.closed) == [(40000, 443, ESTABLISHED, 5, 0)]
    assert rows(changes.opened) == [(40000, 443, ESTABLISHED, 6, 0)]


def test_identity_includes_family_addresses_and_scope() -> None:
    base = make_row(("fe80::1", 22), ("fe80::2", 5000), scope_ids=(2, 2))
    others = [
        make_row(("fe80::1", 22), ("fe80::2", 5000), scope_ids=(3, 3)),
        make_row(("fe80::1", 22), ("fe80::3", 5000), scope_ids=(2, 2)),
        make_row(("fe80::1", 23), ("fe80::2", 5000), scope_ids=(2, 2)),
        make_row(("::ffff:10.0.0.1", 22), ("::ffff:10.0.0.2", 5000)),
    ]
    mapped = make_row(("10.0.0.1", 22), ("10.0.0.2", 5000))  # same 16 bytes, family 4
    for other in [*others, mapped]:
        changes = tcptable.diff(snapshot_of([base]), snapshot_of([other]))
        assert (len(changes.opened), len(changes.closed)) == (1, 1)
    changes = tcptable.diff(snapshot_of([others[3]]), snapshot_of([mapped]))
    assert (len(changes.opened), len(changes.closed)) == (1, 1)


def test_row_sets_are_snapshots() -> None:
    np = pytest.importorskip("numpy", reason="numpy is not installed (or does not import here)")
    before = snapshot_of([make_row(CLIENT, SERVER, inode=5)], timestamp=1.0)
    after = snapshot_of([make_row(("10.0.0.1", 40001), SERVER, inode=6)], timestamp=2.0)
    changes = tcptable.diff(before, after)
    for part in (changes.opened, changes.closed, changes.changed):
        assert isinstance(part, tcptable.Snapshot)
        assert part.view.readonly
    assert changes.closed.timestamp == 1.0
    assert changes.opened.timestamp == 2.0
    assert [c.local_port for c in changes.opened] == [40001]
    assert changes.opened[0].remote_address == "192.0.2.1"
    assert changes.opened.array["local_port"].tolist() == [40001]
    assert changes.closed.count_by("local_port") == {40000: 1}
    assert changes.changed_from_array.dtype == np.uint8
    assert changes.changed_from_array.size == 0
    assert "opened=1 closed=1 changed=0" in repr(changes)


@pytest.mark.parametrize("bad", [None, b"", [], "snapshot"])
def test_diff_needs_snapshots(bad: Any) -> None:
    table = snapshot_of([])
    with pytest.raises(TypeError, match=r"before must be a tcptable\.Snapshot"):
        tcptable.diff(bad, table)
    with pytest.raises(TypeError, match=r"after must be a tcptable\.Snapshot"):
        tcptable.diff(table, bad)


# ---------------------------------------------------------------- the tests' own sockets


def own(table: tcptable.Snapshot, family: int, ports: set[int]) -> set[tuple[int, int, State]]:
    return {
        (c.local_port, c.remote_port, c.state)
        for c in table
        if c.family == family and c.local_port in ports and c.local_address == LOOPBACK[family]
    }


def test_poll_changes_first_call_opens_every_row() -> None:
    with tcptable.Poller(pids=False) as poller:
        changes = poller.poll_changes()
        assert len(changes.before) == 0
        assert len(changes.closed) == len(changes.changed) == 0
        assert bytes(changes.opened.view) == bytes(changes.after.view)
        assert changes.before.timestamp <= changes.after.timestamp


def collect(poller: tcptable.Poller, part: str, family: int, port: int, into: set[Any]) -> set[Any]:
    """Poll for changes once; add our rows on `port` found in the part named `part`."""
    into.update(own(getattr(poller.poll_changes(), part), family, {port}))
    return into


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
def test_poll_changes_sees_a_listener_open_and_close(family: int) -> None:
    with tcptable.Poller(pids=False) as poller:
        poller.poll_changes()
        listener = open_listener(family)
        port = listener.getsockname()[1]
        expected = {(port, 0, LISTEN)}
        opened: set[Any] = set()
        wait_until(lambda: collect(poller, "opened", family, port, opened) == expected)
        listener.close()
        closed: set[Any] = set()
        wait_until(lambda: collect(poller, "closed", family, port, closed) == expected)


def test_poll_changes_sees_a_client_close_as_state_changes(pair: Pair) -> None:
    client_key = (pair.client_port, pair.listen_port)
    server_key = (pair.listen_port, pair.client_port)
    ours = (client_key, server_key)
    # Wine 10's table lists only sockets that a Wine process still holds: the closed client's
    # row goes at once (the kernel's FIN_WAIT2 socket is no Wine socket's).  Windows and Linux
    # keep it, in FIN_WAIT1/FIN_WAIT2/TIME_WAIT.
    moves: dict[tuple[int, int], tuple[State, State]] = {}
    parts: dict[str, set[tuple[int, int]]] = {"opened": set(), "closed": set()}

    def client_and_server_seen() -> bool:
        changes = poller.poll_changes()
        for connection, old in zip(changes.changed, changes.changed_from):
            key = (connection.local_port, connection.remote_port)
            if connection.family == pair.family and key in ours:
                moves.setdefault(key, (State(old), connection.state))
        for name in parts:
            parts[name].update(
                (c.local_port, c.remote_port)
                for c in getattr(changes, name)
                if c.family == pair.family and (c.local_port, c.remote_port) in ours
            )
        client_seen = client_key in (parts["closed"] if UNDER_WINE else moves)
        return server_key in moves and client_seen

    with tcptable.Poller(pids=False) as poller:
        poller.poll_changes()
        pair.client.close()
        wait_until(client_and_server_seen)
    assert moves[server_key] == (ESTABLISHED, State.CLOSE_WAIT)
    if UNDER_WINE:
        assert parts == {"opened": set(), "closed": {client_key}}
    else:
        assert moves[client_key][0] == ESTABLISHED
        assert moves[client_key][1] in (State.FIN_WAIT1, State.FIN_WAIT2, TIME_WAIT)
        assert parts == {"opened": set(), "closed": set()}


# ---------------------------------------------------------------- watch


@pytest.mark.parametrize("interval", [0, -1, 0.0, math.nan, math.inf, -math.inf])
def test_watch_rejects_bad_interval_values(interval: float) -> None:
    with pytest.raises(ValueError, match="interval"):
        tcptable.watch(interval)


@pytest.mark.parametrize("interval", ["1", None, True, [1.0]])
def test_watch_rejects_non_numbers(interval: Any) -> None:
    with pytest.raises(TypeError, match="interval"):
        tcptable.watch(interval)


def test_watch_checks_poller_keywords_at_once() -> None:
    with pytest.raises(ValueError, match="family"):
        tcptable.watch(1.0, family="ipv5")
    with pytest.raises(TypeError):
        tcptable.watch(1.0, colour="blue")


class RecordingPoller(tcptable.Poller):
    made: ClassVar[list[RecordingPoller]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingPoller.made.append(self)


def test_watch_yields_changes_and_closes_its_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tcptable._watch.Poller", RecordingPoller)
    RecordingPoller.made.clear()
    listener = open_listener(4)
    try:
        port = listener.getsockname()[1]
        stream = tcptable.watch(0.01, family="ipv4", pids=False)
        (poller,) = RecordingPoller.made
        first = next(stream)
        assert isinstance(first, tcptable.Changes)
        assert (port, 0, LISTEN) in own(first.opened, 4, {port})
        listener.close()
        for changes in stream:
            if own(changes.closed, 4, {port}):
                break
        stream.close()
        assert poller.closed
    finally:
        listener.close()


def test_watch_sleeps_to_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake clock: the body's own time and the sleeps advance it; polls must land on the grid.
    now = [100.0]
    polls: list[float] = []
    monkeypatch.setattr("tcptable._pacing.time.monotonic", lambda: now[0])
    monkeypatch.setattr("tcptable._pacing.time.sleep", lambda s: now.__setitem__(0, now[0] + s))

    def fake_poll_changes(self: tcptable.Poller) -> str:
        polls.append(now[0])
        return "changes"

    monkeypatch.setattr(tcptable.Poller, "poll_changes", fake_poll_changes)
    stream = tcptable.watch(1.0, pids=False)
    for body in (0.25, 0.5, 0.0, 2.5, 0.1, 0.0):
        next(stream)
        now[0] += body  # the loop body's work
    stream.close()
    # 100, 101, 102, 103; the body after 103 ran to 105.5: one poll at once, then the grid.
    assert polls == [100.0, 101.0, 102.0, 103.0, 105.5, 106.0]


def test_directions_of_parts_use_the_whole_table() -> None:
    listener = make_row(("0.0.0.0", 80), state=LISTEN)
    before = snapshot_of([listener, make_row(("10.0.0.1", 80), ("192.0.2.9", 7000))])
    inbound = make_row(("10.0.0.1", 80), ("192.0.2.8", 6000))
    outbound = make_row(("10.0.0.1", 41000), SERVER)
    changes = tcptable.diff(before, snapshot_of([listener, outbound, inbound]))
    # The listener is in neither part, yet decides that the new row on port 80 is inbound.
    assert [Direction(d) for d in changes.opened.directions()] == [
        Direction.OUTBOUND,
        Direction.INBOUND,
    ]
    assert changes.opened.count_by("direction") == {Direction.INBOUND: 1, Direction.OUTBOUND: 1}
    assert list(changes.closed.directions()) == [Direction.INBOUND]


def test_shim_rejects_inconsistent_collect() -> None:
    # The Python side never does this; the C side must still refuse, not write out of bounds.
    from tcptable._errors import raise_for_status_of
    from tcptable._native import ffi, lib

    table = snapshot_of([make_row(CLIENT, SERVER)])
    rows = ffi.from_buffer("tcptable_row[]", table.view)
    counts = ffi.new("tcptable_diff_counts *", {"opened": 1})
    after_match = ffi.new("uint32_t[]", [0])  # matched, yet counts say one opened
    before_matched = ffi.new("uint8_t[]", [1])
    out = ffi.new("tcptable_row[]", 1)
    index = ffi.new("uint32_t[]", 1)
    status = ffi.new("tcptable_status *")
    code = lib.tcptable_diff_collect(
        status, rows, 1, rows, 1, after_match, before_matched, counts,
        out, index, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL,
    )  # fmt: skip
    with pytest.raises(ValueError, match="do not fit the counts"):
        raise_for_status_of(status, code)


def test_parts_carry_the_names_of_their_own_pids() -> None:
    before = snapshot_of([make_row(CLIENT, SERVER, inode=5, pid=7)])
    after = snapshot_of([make_row(("10.0.0.1", 40001), SERVER, inode=6, pid=9)])
    after.process_names = {9: "nginx", 7: "curl", 4: "sshd"}
    changes = tcptable.diff(before, after)
    assert changes.opened.process_names == {9: "nginx"}
    assert changes.closed.process_names is None  # before was polled without names
