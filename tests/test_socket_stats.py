"""Per-socket TCP stats (stats=True): values on the tests' own sockets, alignment with their
rows through sort and filters, and Windows' refusal."""

from __future__ import annotations

import os
import socket
import struct
import sys
from typing import Any, Callable

import pytest
from conftest import LOOPBACK, Pair, ipv6_available, open_pair, wait_until
from faults import KernelStub

import tcptable

LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="per-socket TCP stats are Linux's")
SOURCES = ["netlink", "proc"]

if LINUX:
    from tcptable._native import ffi, lib


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


# ---- a crafted sock_diag reply, through the system-call seam ------------------------------

NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
NLMSG_DONE = 3
NLM_F_MULTI = 2
INET_DIAG_INFO = 2
# struct tcp_info offsets (include/uapi/linux/tcp.h; the kernel only ever appends to it)
TCPI_RETRANSMITS, TCPI_LOST, TCPI_RTT, TCPI_RTTVAR, TCPI_SND_CWND = 2, 32, 68, 72, 80
TCPI_BYTES_ACKED = 120


def diag_message(sequence: int, kind: int, state: int, port: int, attributes: bytes) -> bytes:
    """One inet_diag_msg for 127.0.0.1:port -> 127.0.0.1:9 (Linux state numbering), rqueue
    port + 1, wqueue port + 2, then `attributes`."""
    address = socket.inet_aton("127.0.0.1") + bytes(12)
    body = struct.pack("=BBBB", socket.AF_INET, state, 0, 0) + struct.pack("!HH", port, 9)
    body += address + address + struct.pack("=III", 0, 0, 0)
    body += struct.pack("=IIIII", 0, port + 1, port + 2, 0, 0) + attributes
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), kind, NLM_F_MULTI, sequence, 0) + body


def attribute(kind: int, payload: bytes, length: int | None = None) -> bytes:
    size = 4 + len(payload) if length is None else length
    raw = struct.pack("=HH", size, kind) + payload
    return raw + bytes(-len(raw) % 4)


class CraftedKernel(KernelStub):
    """sendto keeps the request; recv answers it with `reply(sequence, type)` then
    NLMSG_DONE.  Nothing reaches the kernel."""

    def __init__(self, reply: Callable[[int, int], bytes]) -> None:
        self.reply = reply
        self.request: bytes | None = None
        super().__init__()

    def _sendto(self, fd: int, buffer: Any, length: int, flags: int, to: Any, size: int) -> int:
        self.request = ffi.buffer(buffer, length)[:]
        return length

    def _recv(self, fd: int, buffer: Any, length: int, flags: int) -> int:
        assert self.request is not None
        _, kind, _, sequence, _ = NLMSG_HEADER.unpack_from(self.request)
        self.request = None
        datagram = self.reply(sequence, kind)
        datagram += NLMSG_HEADER.pack(NLMSG_HEADER.size + 4, NLMSG_DONE, NLM_F_MULTI, sequence, 0)
        datagram += bytes(4)
        ffi.memmove(buffer, datagram, len(datagram))
        return len(datagram)


@linux_only
def test_tcp_info_is_copied_as_far_as_the_kernel_sent_it() -> None:
    old_info = bytearray(76)  # an old kernel's tcp_info: ends before snd_cwnd
    old_info[TCPI_RETRANSMITS] = 3
    struct.pack_into("=I", old_info, TCPI_LOST, 4)
    struct.pack_into("=II", old_info, TCPI_RTT, 1500, 700)
    new_info = bytearray(256)  # a newer kernel's: longer than this build's struct is fine too
    struct.pack_into("=I", new_info, TCPI_SND_CWND, 10)
    struct.pack_into("=Q", new_info, TCPI_BYTES_ACKED, 123456789012)

    def reply(sequence: int, kind: int) -> bytes:
        return (
            diag_message(sequence, kind, 1, 1000, attribute(INET_DIAG_INFO, bytes(old_info)))
            # filtered out (LISTEN): its record must not shift the next one
            + diag_message(sequence, kind, 10, 1001, attribute(INET_DIAG_INFO, bytes(new_info)))
            # another attribute first, then the info
            + diag_message(
                sequence,
                kind,
                1,
                1002,
                attribute(8, b"\x01") + attribute(INET_DIAG_INFO, bytes(new_info)),
            )
            # an attribute claiming more bytes than the message has: queues only
            + diag_message(sequence, kind, 1, 1003, attribute(INET_DIAG_INFO, bytes(8), 200))
            # TIME_WAIT: no attribute at all
            + diag_message(sequence, kind, 6, 1004, b"")
        )

    kernel = CraftedKernel(reply)
    with tcptable.Poller(
        family="ipv4", pids=False, source="netlink", stats=True, states={5, 11}
    ) as poller:
        assert lib.tcptable_poller_set_linux_calls(poller._handle, kernel.calls) == 0
        table = poller.poll()
        assert lib.tcptable_poller_set_linux_calls(poller._handle, ffi.NULL) == 0
    assert not kernel.errors, kernel.errors
    ports = [row.local_port for row in table]
    assert ports == [1000, 1002, 1003, 1004]
    records = dict(zip(ports, table.stats_array.tolist()))
    names = tcptable.STATS_DTYPE.names
    got = {port: dict(zip(names, record)) for port, record in records.items()}
    zero = dict.fromkeys(names, 0)
    assert got[1000] == {
        **zero,
        "rx_queue": 1001,
        "tx_queue": 1002,
        "rtt_us": 1500,
        "rttvar_us": 700,
        "retransmits": 3,
        "lost": 4,
    }
    assert got[1002] == {
        **zero,
        "rx_queue": 1003,
        "tx_queue": 1004,
        "snd_cwnd": 10,
        "bytes_acked": 123456789012,
    }
    assert got[1003] == {**zero, "rx_queue": 1004, "tx_queue": 1005}
    assert got[1004] == {**zero, "rx_queue": 1005, "tx_queue": 1006}
