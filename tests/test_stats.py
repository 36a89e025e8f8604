"""Per-socket TCP stats (stats=True): values on the tests' own sockets, alignment with their
rows through sort and filters, and Windows' refusal."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import pytest
from conftest import LOOPBACK, Pair, ipv6_available, open_pair, wait_until

import tcptable

LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="per-socket TCP stats are Linux's")
SOURCES = ["netlink", "proc"]


def stats_of(table: tcptable.Snapshot, family: int) -> dict[tuple[int, int, int], Any]:
    """Each loopback row's stats record, keyed by (local port, remote port, state)."""
    found = {}
    for row, stats in zip(table, table.stats_array):
        if row.family == family and row.local_address == LOOPBACK[family]:
            found[(row.local_port, row.remote_port, int(row.state))] = stats
    return found


def established(pair: Pair) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Keys of the pair's client and server rows."""
    state = int(tcptable.State.ESTABLISHED)
    return (
        (pair.client_port, pair.listen_port, state),
        (pair.listen_port, pair.client_port, state),
    )


def read_exactly(sock: socket.socket, count: int) -> None:
    while count:
        count -= len(sock.recv(count))


@linux_only
def test_bytes_acked_and_received_count_what_was_sent(pair: Pair) -> None:
    sent = 300_000
    pair.client.sendall(b"x" * sent)
    read_exactly(pair.server, sent)
    client, server = established(pair)
    ports = {pair.listen_port, pair.client_port}
    with tcptable.Poller(stats=True, pids=False, local_ports=ports) as poller:

        def counted() -> bool:
            found = stats_of(poller.poll(), pair.family)
            return bool(
                found[client]["bytes_acked"] >= sent and found[server]["bytes_received"] >= sent
            )

        wait_until(counted)
        found = stats_of(poller.poll(), pair.family)
    assert found[client]["segs_out"] > 0
    assert found[server]["segs_in"] > 0
    assert found[client]["snd_cwnd"] > 0
    assert found[client]["rtt_us"] > 0


@linux_only
@pytest.mark.parametrize("source", SOURCES)
def test_rx_queue_shows_unread_data(pair: Pair, source: str) -> None:
    unread = 12_345
    pair.client.sendall(b"y" * unread)
    client, server = established(pair)
    options = {"source": source, "family": f"ipv{pair.family}", "pids": False}
    with tcptable.Poller(stats=True, **options) as poller:
        wait_until(lambda: stats_of(poller.poll(), pair.family)[server]["rx_queue"] == unread)
        found = stats_of(poller.poll(), pair.family)
    assert found[client]["rx_queue"] == 0
    if source == "proc":  # the queues are all /proc has
        assert set(found[server].tolist()[2:]) == {0}


@linux_only
@pytest.mark.parametrize("source", SOURCES)
def test_stats_stay_with_their_rows_through_sort_and_filters(source: str) -> None:
    """Each server holds a different amount of unread data: after the sort and the filters
    (which drop other owners' rows in between), each row's record must still be its own."""
    pairs = [open_pair(4) for _ in range(4)]
    if ipv6_available():
        pairs += [open_pair(6) for _ in range(2)]
    try:
        unread = {}
        for index, pair in enumerate(pairs):
            amount = 1000 * (index + 1)
            pair.client.sendall(b"z" * amount)
            unread[(pair.family, established(pair)[1])] = amount
        ports = [port for pair in pairs for port in (pair.listen_port, pair.client_port)]
        keywords: list[dict[str, Any]] = [
            {"sort": True, "owner_pids": [os.getpid()]},
            {"sort": True, "pids": False, "states": ["ESTABLISHED", "LISTEN"]},
            {"sort": False, "pids": False, "states": ["ESTABLISHED"], "local_ports": ports},
        ]
        for options in keywords:
            with tcptable.Poller(source=source, stats=True, **options) as poller:

                def aligned() -> bool:
                    table = poller.poll()
                    assert len(table.stats_array) == len(table)
                    seen = {}
                    for family in (4, 6):
                        for key, stats in stats_of(table, family).items():
                            if (family, key) in unread:
                                seen[(family, key)] = int(stats["rx_queue"])
                    return seen == unread

                wait_until(aligned)
    finally:
        for pair in pairs:
            for sock in (pair.client, pair.server, pair.listener):
                sock.close()


@linux_only
def test_stats_views_keep_their_memory_from_the_next_poll() -> None:
    pair = open_pair(4)
    with tcptable.Poller(stats=True, pids=False) as poller:
        stats = poller.poll().stats_array  # the snapshot itself is gone
        assert len(stats) >= 3
        before = stats.copy()
        assert not any(buffer.is_free() for buffer in poller._pool)
        for _ in range(3):
            poller.poll()
        assert (stats == before).all()
        del stats
        assert any(buffer.is_free() for buffer in poller._pool)
    for sock in (pair.client, pair.server, pair.listener):
        sock.close()


def test_stats_without_stats_true_raise_value_error() -> None:
    table = tcptable.snapshot(pids=False)
    with pytest.raises(ValueError, match="poll with stats=True"):
        _ = table.stats
    with pytest.raises(ValueError, match="poll with stats=True"):
        _ = table.stats_array


def test_stats_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="stats"):
        tcptable.Poller(stats=1)  # type: ignore[arg-type]


def test_stats_dtype_matches_the_record() -> None:
    pytest.importorskip("numpy", reason="STATS_DTYPE needs numpy")
    from tcptable._native import ffi

    assert tcptable.STATS_DTYPE.itemsize == ffi.sizeof("tcptable_stats")
    assert tcptable.STATS_DTYPE.names == (
        "rx_queue",
        "tx_queue",
        "rtt_us",
        "rttvar_us",
        "min_rtt_us",
        "retransmits",
        "total_retrans",
        "lost",
        "bytes_acked",
        "bytes_received",
        "segs_in",
        "segs_out",
        "snd_cwnd",
        "delivery_rate",
    )


@pytest.mark.skipif(sys.platform != "win32", reason="Windows refuses stats=True")
def test_windows_refuses_stats_and_says_why() -> None:
    with (
        tcptable.Poller(stats=True) as poller,
        pytest.raises(tcptable.NotSupportedError, match="GetPerTcpConnectionEStats"),
    ):
        poller.poll()
