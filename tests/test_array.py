"""The zero-copy numpy view: layout, sharing, immutability, buffer reuse, memory."""

from __future__ import annotations

import gc
import socket
import sys

import pytest

np = pytest.importorskip("numpy", reason="numpy is not installed (or does not import here)")

from conftest import Pair, open_pair  # noqa: E402

import tcptable  # noqa: E402
from tcptable._native import ffi  # noqa: E402


def test_dtype_matches_the_c_struct() -> None:
    dtype = tcptable.ROW_DTYPE
    assert dtype.itemsize == ffi.sizeof("tcptable_row") == tcptable.ROW_SIZE
    for name in (
        "local_addr",
        "remote_addr",
        "local_scope_id",
        "remote_scope_id",
        "pid",
        "uid",
        "inode",
        "local_port",
        "remote_port",
        "family",
        "state",
        "offload_state",
    ):
        field_dtype, offset = dtype.fields[name][:2]
        assert offset == ffi.offsetof("tcptable_row", name), name
        c_field = dict(ffi.typeof("tcptable_row").fields)[name]
        assert field_dtype.itemsize == ffi.sizeof(c_field.type), name


def test_array_is_a_read_only_view_of_the_snapshot(pair: Pair) -> None:
    table = tcptable.snapshot()
    array = table.array
    assert array.dtype == tcptable.ROW_DTYPE
    assert len(array) == len(table)
    assert not array.flags.owndata
    assert not array.flags.writeable
    assert np.shares_memory(array, np.frombuffer(table.view, dtype=np.uint8))
    assert table.array is array  # built once per snapshot
    assert table.view.readonly
    assert table.view.nbytes == len(table) * tcptable.ROW_SIZE
    with pytest.raises(ValueError, match="read-only"):
        array["pid"][0] = 1


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Python classes export buffers from 3.12")
def test_memoryview_of_snapshot_is_zero_copy(pair: Pair) -> None:
    table = tcptable.snapshot()
    view = memoryview(table)  # type: ignore[arg-type]
    assert view.readonly
    assert view.nbytes == len(table) * tcptable.ROW_SIZE
    rows = np.frombuffer(table, dtype=tcptable.ROW_DTYPE)
    assert np.shares_memory(rows, table.array)
    assert rows.tobytes() == table.array.tobytes()


def test_array_fields_agree_with_connections(pair: Pair) -> None:
    table = tcptable.snapshot()
    array = table.array
    for index, connection in enumerate(table):
        row = array[index]
        assert (int(row["local_port"]), int(row["remote_port"])) == (
            connection.local_port,
            connection.remote_port,
        )
        assert int(row["state"]) == connection.state
        assert int(row["family"]) == connection.family
        packed = bytes(row["local_addr"])
        family = socket.AF_INET6 if connection.family == 6 else socket.AF_INET
        assert socket.inet_ntop(family, packed if connection.family == 6 else packed[12:]) == (
            connection.local_address
        )


def test_ipv4_addresses_are_integers_without_a_loop() -> None:
    pair = open_pair(4)
    listen_port, client_port = pair.listen_port, pair.client_port
    try:
        array = tcptable.snapshot(family="ipv4").array
    finally:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()
    mine = array[(array["local_port"] == client_port) & (array["remote_port"] == listen_port)]
    assert len(mine) == 1
    assert int(mine["local_ipv4"][0]) == 0x7F000001
    assert int(mine["remote_ipv4"][0]) == 0x7F000001
    assert np.all(array["local_addr"][:, 10:12] == 0xFF)


def test_kept_snapshot_never_changes_across_polls() -> None:
    pairs = [open_pair(4)]
    try:
        with tcptable.Poller(sort=True) as poller:
            kept = poller.poll()
            kept_array = kept.array
            frozen = bytes(kept.view)
            sliced = kept_array[: max(1, len(kept_array) // 2)]
            for _ in range(5):
                pairs.append(open_pair(4))  # the table changes between polls
                poller.poll()
            del kept
            gc.collect()
            for _ in range(5):
                pairs[-1].client.close()
                pairs.append(open_pair(4))
                poller.poll()
            assert kept_array.tobytes() == frozen
            assert sliced.tobytes() == frozen[: len(sliced) * tcptable.ROW_SIZE]
    finally:
        for p in pairs:
            for sock in (p.client, p.server, p.listener):
                sock.close()


def test_steady_state_polling_reuses_row_memory() -> None:
    addresses = set()
    with tcptable.Poller(pids=False) as poller:
        for _ in range(50):
            table = poller.poll()
            addresses.add(ffi.cast("uintptr_t", ffi.from_buffer(table.view)))
            del table
    # One buffer in steady state (a second only if the table outgrew the first).
    assert len(addresses) <= 2


def test_live_snapshots_never_share_memory(pair: Pair) -> None:
    with tcptable.Poller(pids=False) as poller:
        tables = [poller.poll() for _ in range(10)]  # more than the pool keeps
        arrays = [t.array for t in tables]
        assert all(len(array) >= 3 for array in arrays)  # the pair's rows at least
        for i in range(len(arrays)):
            for j in range(i + 1, len(arrays)):
                assert not np.shares_memory(arrays[i], arrays[j])


def test_no_memory_growth_over_thousands_of_polls() -> None:
    psutil = pytest.importorskip("psutil", reason="psutil measures the process's memory")
    process = psutil.Process()
    with tcptable.Poller(pids=False) as poller:
        for _ in range(300):
            assert poller.poll().array.dtype == tcptable.ROW_DTYPE
        gc.collect()
        before = process.memory_info().rss
        for _ in range(3000):
            table = poller.poll()
            table.array["state"].sum()
            list(table[:2])
        gc.collect()
        after = process.memory_info().rss
    # A leak of one row buffer or one raw reply per poll would be > 3000 * 72 bytes at least;
    # the bound leaves room for allocator noise.
    assert after - before < 4 * 1024 * 1024, (before, after)
