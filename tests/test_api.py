"""The public API on every OS: rows of the tests' own sockets, arguments, life cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import LOOPBACK, Pair, open_pair, own_rows

import tcptable


def test_pair_rows_have_exact_endpoints(pair: Pair) -> None:
    table = tcptable.snapshot()
    found = own_rows(table, pair)
    assert set(found) == pair.expected()
    loopback = LOOPBACK[pair.family]
    client_row = found[(pair.client_port, pair.listen_port, tcptable.State.ESTABLISHED)]
    assert client_row.local_address == loopback
    assert client_row.remote_address == loopback
    assert client_row.family == pair.family
    assert isinstance(client_row.state, tcptable.State)
    assert isinstance(client_row.offload_state, tcptable.OffloadState)
    listen_row = found[(pair.listen_port, 0, tcptable.State.LISTEN)]
    assert listen_row.local_address == loopback
    assert listen_row.remote_address == ("0.0.0.0" if pair.family == 4 else "::")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_family_filter_keeps_only_that_family(pair: Pair, family: str) -> None:
    table = tcptable.snapshot(family=family)
    wanted = 4 if family == "ipv4" else 6
    assert all(connection.family == wanted for connection in table)
    found = own_rows(table, pair)
    assert set(found) == (pair.expected() if pair.family == wanted else set())


def test_sort_orders_rows_like_order_true(pair: Pair) -> None:
    table = list(tcptable.snapshot(sort=True))
    assert own_rows(table, pair)

    def key(c: tcptable.Connection) -> tuple:
        import ipaddress

        return (
            c.family,
            ipaddress.ip_address(c.local_address),
            c.local_port,
            ipaddress.ip_address(c.remote_address),
            c.remote_port,
        )

    assert [key(c) for c in table] == sorted(key(c) for c in table)


@pytest.mark.parametrize("bad", ["IPv4", "inet", "", None, 4, b"all"])
def test_bad_family_raises_value_error_naming_it(bad: object) -> None:
    with pytest.raises(ValueError, match="family"):
        tcptable.snapshot(family=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="family"):
        tcptable.Poller(family=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("argument", ["sort", "pids"])
@pytest.mark.parametrize("bad", [1, "yes", None])
def test_non_bool_flags_raise_type_error_naming_them(argument: str, bad: object) -> None:
    with pytest.raises(TypeError, match=argument):
        tcptable.Poller(**{argument: bad})  # type: ignore[arg-type]


def test_bad_source_raises_value_error() -> None:
    with pytest.raises(ValueError, match="source"):
        tcptable.Poller(source="bpf")


def test_poll_after_close_raises_and_close_is_idempotent() -> None:
    poller = tcptable.Poller()
    poller.poll()
    poller.close()
    poller.close()
    assert poller.closed
    with pytest.raises(ValueError, match="closed"):
        poller.poll()


def test_context_manager_closes() -> None:
    with tcptable.Poller() as poller:
        poller.poll()
    assert poller.closed


def test_snapshot_outlives_its_poller(pair: Pair) -> None:
    with tcptable.Poller() as poller:
        table = poller.poll()
    del poller
    assert set(own_rows(table, pair)) == pair.expected()


def test_indexing_matches_iteration(pair: Pair) -> None:
    table = tcptable.snapshot()
    rows = list(table)
    assert len(rows) == len(table) >= 3  # at least the pair's own three rows
    assert table[0] == rows[0]
    assert table[-1] == rows[-1]
    assert table[:2] == rows[:2]
    with pytest.raises(IndexError, match="out of range"):
        table[len(table)]
    with pytest.raises(TypeError, match="integers"):
        table["0"]  # type: ignore[call-overload]


def test_to_dicts_is_json_ready(pair: Pair) -> None:
    table = tcptable.snapshot()
    decoded = json.loads(json.dumps(table.to_dicts()))
    ours = [
        row
        for row in decoded
        if (row["local_port"], row["remote_port"]) == (pair.client_port, pair.listen_port)
    ]
    assert len(ours) == 1
    assert ours[0]["state"] == "ESTABLISHED"
    assert ours[0]["local_address"] == LOOPBACK[pair.family]
    assert ours[0]["offload_state"] in {"IN_HOST", "OFFLOADING", "OFFLOADED", "UPLOADING"}


def test_timestamp_is_when_the_poll_happened() -> None:
    import time

    before = time.time()
    table = tcptable.snapshot()
    assert before <= table.timestamp <= time.time()


def test_state_and_offload_numbering_is_windows() -> None:
    # NONE (0) is UDP's: no MIB_TCP_STATE is 0.
    assert [s.value for s in tcptable.State] == list(range(13))
    assert tcptable.State.ESTABLISHED == 5
    assert tcptable.State.TIME_WAIT == 11
    assert [s.value for s in tcptable.OffloadState] == [0, 1, 2, 3]
    assert issubclass(tcptable.NotSupportedError, tcptable.TcpTableError)
    assert issubclass(tcptable.TcpTableError, OSError)


def test_pollers_in_two_threads_see_the_same_sockets(pair: Pair) -> None:
    results: dict[int, set] = {}
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with tcptable.Poller() as poller:
                for _ in range(50):
                    found = own_rows(poller.poll(), pair)
                results[index] = set(found)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == {0: pair.expected(), 1: pair.expected()}


def test_one_poller_shared_by_threads_serialises(pair: Pair) -> None:
    errors: list[BaseException] = []
    with tcptable.Poller() as poller:

        def worker() -> None:
            try:
                for _ in range(50):
                    assert set(own_rows(poller.poll(), pair)) == pair.expected()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors


def test_import_does_not_need_numpy() -> None:
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import tcptable\n"
        "table = tcptable.snapshot()\n"
        "list(table)\n"
        "try:\n"
        "    table.array\n"
        "except ImportError:\n"
        "    print('array needs numpy')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "array needs numpy"


def test_python_m_tcptable_rejects_a_bad_family() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tcptable", "--family", "ipx"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--family" in result.stderr
    assert "ipx" in result.stderr


def test_python_m_tcptable_shows_a_test_listener() -> None:
    pair = open_pair(4)
    listen_port, client_port = pair.listen_port, pair.client_port
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tcptable"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONUTF8": "1"},
        )
    finally:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["Proto", "State"]
    listen = [line for line in lines if line.split()[1:3] == ["LISTEN", f"127.0.0.1:{listen_port}"]]
    assert len(listen) == 1, result.stdout
    established = [
        line
        for line in lines
        if line.split()[1] == "ESTABLISHED" and f"127.0.0.1:{client_port}" in line.split()[2:4]
    ]
    assert len(established) == 2, result.stdout
