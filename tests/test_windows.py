"""Windows: the iphlpapi sizing loop driven through the shim's seam, and agreement with an
independent ctypes reading of GetTcpTable2 / GetTcp6Table2 in the same process.

The seam (tcptable_poller_set_iphlpapi) replaces the two iphlpapi calls of one poller with
Python fakes, so every branch of the loop runs on demand: tables that grow, error codes, absurd
sizes, garbage in a port's upper 16 bits, pids and offload states that Wine never reports.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from conftest import FAMILIES, LOOPBACK, Pair, open_pair, own_rows

import tcptable

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="Windows only")

if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    from tcptable._native import ffi, lib

NO_ERROR = 0
ERROR_NOT_SUPPORTED = 50
ERROR_INVALID_PARAMETER = 87
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_GEN_FAILURE = 31  # what a fake returns if it raised: never a success
STATUS_UNSUCCESSFUL = 0xC0000001
ROW4 = struct.Struct("<7I")  # MIB_TCPROW2: state, addr, port, addr, port, pid, offload
ROW6 = struct.Struct("<16sII16sIIIII")  # MIB_TCP6ROW2


def port_dword(port: int, garbage: int = 0) -> int:
    """A port as iphlpapi stores it: network order in the low 16 bits."""
    return socket.htons(port) | (garbage << 16)


def table4(rows: list[tuple[int, str, int, str, int, int, int]]) -> bytes:
    """MIB_TCPTABLE2 bytes from (state, local addr, local port, remote addr, remote port, pid,
    offload) tuples."""
    out = [struct.pack("<I", len(rows))]
    for state, laddr, lport, raddr, rport, pid, offload in rows:
        (laddr_dword,) = struct.unpack("<I", socket.inet_aton(laddr))
        (raddr_dword,) = struct.unpack("<I", socket.inet_aton(raddr))
        out.append(ROW4.pack(state, laddr_dword, lport, raddr_dword, rport, pid, offload))
    return b"".join(out)


def filler4(count: int, first_port: int = 20000) -> bytes:
    """A table of `count` distinct ESTABLISHED rows on 10.0.0.1."""
    return table4(
        [
            (5, "10.0.0.1", port_dword(first_port + i), "10.0.0.2", port_dword(80), 0, 0)
            for i in range(count)
        ]
    )


class FakeGetTable:
    """A stand-in for GetTcpTable2 / GetTcp6Table2 following their contract: a reply per call
    from `script`, ERROR_INSUFFICIENT_BUFFER (with the size needed) when the table does not fit.

    `script(call number, buffer size offered)` gives either table bytes, or an int: an error
    code returned as it is."""

    def __init__(self, script: Callable[[int, int], bytes | int]) -> None:
        self.script = script
        self.calls: list[tuple[int, int]] = []  # (buffer size offered, order)
        self.errors: list[BaseException] = []
        self.callback = ffi.callback(
            "tcptable_get_table_fn", self._call, error=ERROR_GEN_FAILURE, onerror=self._onerror
        )

    def _onerror(self, exception: type, value: BaseException, traceback: Any) -> None:
        self.errors.append(value)

    def _call(self, table: Any, size: Any, order: int) -> int:
        offered = int(size[0])
        self.calls.append((offered, order))
        reply = self.script(len(self.calls), offered)
        if isinstance(reply, int):
            return reply
        if len(reply) > offered:
            size[0] = len(reply)
            return ERROR_INSUFFICIENT_BUFFER
        ffi.memmove(table, reply, len(reply))
        return NO_ERROR


@pytest.fixture
def fake_poller() -> Iterator[Callable[..., tuple[tcptable.Poller, FakeGetTable, FakeGetTable]]]:
    """A Poller whose iphlpapi calls are fakes; the fakes must not have raised."""
    made: list[tuple[tcptable.Poller, FakeGetTable, FakeGetTable]] = []

    def make(
        script4: Callable[[int, int], bytes | int],
        script6: Callable[[int, int], bytes | int] = lambda call, offered: struct.pack("<I", 0),
        **options: Any,
    ) -> tuple[tcptable.Poller, FakeGetTable, FakeGetTable]:
        poller = tcptable.Poller(**options)
        get4, get6 = FakeGetTable(script4), FakeGetTable(script6)
        assert lib.tcptable_poller_set_iphlpapi(poller._handle, get4.callback, get6.callback) == 0
        made.append((poller, get4, get6))
        return poller, get4, get6

    yield make
    for poller, get4, get6 in made:
        poller.close()
        assert not get4.errors, get4.errors
        assert not get6.errors, get6.errors


# ---------------------------------------------------------------- the sizing loop, through the seam


def test_growth_on_every_call_gives_up_after_bounded_tries(fake_poller: Any) -> None:
    # Always 100 rows more than the buffer offered holds.
    poller, get4, _ = fake_poller(
        lambda call, offered: filler4(offered // ROW4.size + 100), family="ipv4"
    )
    with pytest.raises(tcptable.TcpTableError) as raised:
        poller.poll()
    assert type(raised.value) is tcptable.TcpTableError
    assert len(get4.calls) == lib.TCPTABLE_MAX_TRIES
    assert raised.value.winerror == ERROR_INSUFFICIENT_BUFFER
    assert "GetTcpTable2" in str(raised.value)
    # Every retry offered a larger buffer than the one before.
    offered = [size for size, _ in get4.calls]
    assert offered == sorted(set(offered))


def test_growth_twice_then_success(fake_poller: Any) -> None:
    # Too big for the buffer offered on the first two calls; on the third the table stops
    # growing at exactly what that buffer holds.
    final: list[bytes] = []

    def script(call: int, offered: int) -> bytes:
        if call <= 2:
            return filler4(offered // ROW4.size + 10)
        if not final:
            final.append(filler4((offered - 4) // ROW4.size))
        return final[0]

    poller, get4, _ = fake_poller(script, family="ipv4")
    table = poller.poll()
    assert len(get4.calls) == 3
    rows = (get4.calls[2][0] - 4) // ROW4.size
    assert len(table) == rows
    assert sorted(c.local_port for c in table) == list(range(20000, 20000 + rows))
    # The grown buffer is kept: the next poll of the same table needs one call.
    poller.poll()
    assert len(get4.calls) == 4


def test_status_unsuccessful_is_retried(fake_poller: Any) -> None:
    replies: dict[int, bytes | int] = {1: STATUS_UNSUCCESSFUL, 2: STATUS_UNSUCCESSFUL}
    poller, get4, _ = fake_poller(
        lambda call, offered: replies.get(call, filler4(3)), family="ipv4"
    )
    assert len(poller.poll()) == 3
    assert len(get4.calls) == 3


def test_status_unsuccessful_on_every_call_is_an_error(fake_poller: Any) -> None:
    poller, get4, _ = fake_poller(lambda call, offered: STATUS_UNSUCCESSFUL, family="ipv4")
    with pytest.raises(tcptable.TcpTableError) as raised:
        poller.poll()
    assert len(get4.calls) == lib.TCPTABLE_MAX_TRIES
    assert raised.value.os_error == STATUS_UNSUCCESSFUL
    assert raised.value.winerror == STATUS_UNSUCCESSFUL - (1 << 32)  # a C long, as HRESULTs


def test_not_supported_raises_not_supported_error(fake_poller: Any) -> None:
    poller, _, get6 = fake_poller(
        lambda call, offered: filler4(2), lambda call, offered: ERROR_NOT_SUPPORTED
    )
    with pytest.raises(tcptable.NotSupportedError) as raised:
        poller.poll()
    assert len(get6.calls) == 1
    assert raised.value.winerror == ERROR_NOT_SUPPORTED
    assert "GetTcp6Table2" in str(raised.value)
    assert formatted(ERROR_NOT_SUPPORTED) in str(raised.value)


def test_invalid_parameter_is_an_os_error_with_formatmessage_text(fake_poller: Any) -> None:
    poller, get4, _ = fake_poller(lambda call, offered: ERROR_INVALID_PARAMETER, family="ipv4")
    with pytest.raises(tcptable.TcpTableError) as raised:
        poller.poll()
    error = raised.value
    assert type(error) is tcptable.TcpTableError
    assert isinstance(error, OSError)
    assert len(get4.calls) == 1  # not a reason to retry
    assert error.winerror == ERROR_INVALID_PARAMETER
    assert error.errno == errno.EINVAL  # OSError maps the Windows code
    assert error.os_error == ERROR_INVALID_PARAMETER
    assert formatted(ERROR_INVALID_PARAMETER) in error.strerror


def formatted(code: int) -> str:
    """FormatMessage's text for `code`, read independently of the shim, without its final
    period and line break (the shim embeds it in a sentence)."""
    text = ctypes.FormatError(code).strip().rstrip(".")
    assert text, code
    assert not text.startswith("<no description"), text
    return text


def test_absurd_size_is_a_memory_error_not_a_crash() -> None:
    calls = []

    def absurd(table: Any, size: Any, order: int) -> int:
        calls.append(int(size[0]))
        size[0] = 0xFFFFFFF0
        return ERROR_INSUFFICIENT_BUFFER

    callback = ffi.callback("tcptable_get_table_fn", absurd, error=ERROR_GEN_FAILURE)
    with tcptable.Poller(family="ipv4") as poller:
        assert lib.tcptable_poller_set_iphlpapi(poller._handle, callback, ffi.NULL) == 0
        with pytest.raises(MemoryError):
            poller.poll()
        assert len(calls) == 1
        # The poller survives, and still works with the real functions.
        assert lib.tcptable_poller_set_iphlpapi(poller._handle, ffi.NULL, ffi.NULL) == 0
        poller.poll()


def test_row_count_beyond_the_buffer_is_rejected(fake_poller: Any) -> None:
    lying = struct.pack("<I", 0x7FFFFFFF) + filler4(2)[4:]
    poller, _, _ = fake_poller(lambda call, offered: lying, family="ipv4")
    with pytest.raises(tcptable.TcpTableError, match="rows"):
        poller.poll()


def test_rows_decode_every_field_and_mask_port_garbage(fake_poller: Any) -> None:
    """What Wine never reports (pids, offload states) and what Windows may (port garbage)."""
    established = (
        5,
        "192.0.2.7",
        port_dword(443, 0xABCD),
        "198.51.100.9",
        port_dword(51000, 0xFFFF),
    )
    listening = (2, "0.0.0.0", port_dword(8080, 0x1234), "0.0.0.0", port_dword(0, 0x5678))
    ipv4 = table4([(*established, 4242, 2), (*listening, 17, 0)])
    local6 = socket.inet_pton(socket.AF_INET6, "fe80::1")
    remote6 = socket.inet_pton(socket.AF_INET6, "fe80::2")
    ipv6 = struct.pack("<I", 1) + ROW6.pack(
        local6, 7, port_dword(22, 0xDEAD), remote6, 9, port_dword(60000, 0xBEEF), 11, 99, 3
    )
    poller, _, _ = fake_poller(lambda call, offered: ipv4, lambda call, offered: ipv6, pids=True)
    rows = list(poller.poll())
    assert rows == [
        tcptable.Connection(4, tcptable.State.ESTABLISHED, "192.0.2.7", 443, "198.51.100.9", 51000,
                            4242, tcptable.OffloadState.OFFLOADED, 0, 0, 0, 0),
        tcptable.Connection(4, tcptable.State.LISTEN, "0.0.0.0", 8080, "0.0.0.0", 0,
                            17, tcptable.OffloadState.IN_HOST, 0, 0, 0, 0),
        tcptable.Connection(6, tcptable.State.TIME_WAIT, "fe80::1", 22, "fe80::2", 60000,
                            99, tcptable.OffloadState.UPLOADING, 7, 9, 0, 0),
    ]  # fmt: skip


def test_pids_false_hides_the_owning_pid(fake_poller: Any) -> None:
    ipv4 = table4([(5, "127.0.0.1", port_dword(1), "127.0.0.1", port_dword(2), 4242, 0)])
    poller, _, _ = fake_poller(lambda call, offered: ipv4, family="ipv4", pids=False)
    assert [c.pid for c in poller.poll()] == [0]


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ({"states": ["LISTEN"]}, [(4, 80, 0)]),
        ({"states": [5, "TIME_WAIT"]}, [(4, 80, 5000), (4, 443, 5001), (6, 443, 5002)]),
        ({"local_ports": [443]}, [(4, 443, 5001), (6, 443, 5002)]),
        ({"remote_ports": [5000, 0]}, [(4, 80, 0), (4, 80, 5000)]),
        ({"owner_pids": [100]}, [(4, 80, 0), (4, 80, 5000)]),
        ({"owner_pids": [200, 300], "states": ["TIME_WAIT"]}, [(6, 443, 5002)]),
        ({"local_ports": [80], "remote_ports": [5001]}, []),
    ],
)
def test_filters_apply_to_the_iphlpapi_rows(
    fake_poller: Any, keywords: dict[str, Any], expected: list[tuple[int, int, int]]
) -> None:
    """Pids (which Wine never reports) and ports with garbage in their upper bits, filtered
    while the shim flattens the tables."""
    ipv4 = table4(
        [
            (2, "10.0.0.1", port_dword(80, 0x1111), "0.0.0.0", port_dword(0, 0x2222), 100, 0),
            (5, "10.0.0.1", port_dword(80), "10.0.0.2", port_dword(5000, 0xABCD), 100, 0),
            (5, "10.0.0.1", port_dword(443), "10.0.0.3", port_dword(5001), 200, 0),
        ]
    )
    local6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    remote6 = socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    ipv6 = struct.pack("<I", 1) + ROW6.pack(
        local6, 0, port_dword(443, 0xDEAD), remote6, 0, port_dword(5002), 11, 300, 0
    )
    poller, _, _ = fake_poller(
        lambda call, offered: ipv4, lambda call, offered: ipv6, pids=True, **keywords
    )
    assert [(c.family, c.local_port, c.remote_port) for c in poller.poll()] == expected


@pytest.mark.parametrize("sort", [False, True])
def test_sort_is_passed_as_order(fake_poller: Any, sort: bool) -> None:
    poller, get4, get6 = fake_poller(lambda call, offered: filler4(1), sort=sort)
    poller.poll()
    assert [order for _, order in get4.calls + get6.calls] == [int(sort), int(sort)]


def test_no_memory_growth_through_the_seam(fake_poller: Any) -> None:
    """Thousands of polls of a Windows-shaped table (fakes are fast, Wine's iphlpapi is not)."""
    psutil = pytest.importorskip("psutil", reason="psutil measures the process's memory")
    ipv4 = filler4(200)
    ipv6 = struct.pack("<I", 50) + b"".join(
        ROW6.pack(bytes(15) + b"\x01", 0, port_dword(30000 + i), bytes(16), 0, 0, 2, 0, 0)
        for i in range(50)
    )
    poller, _, _ = fake_poller(lambda call, offered: ipv4, lambda call, offered: ipv6)
    process = psutil.Process()
    for _ in range(300):
        assert len(poller.poll()) == 250
    gc.collect()
    before = process.memory_info().rss
    for _ in range(3000):
        table = poller.poll()
        list(table[:2])
    gc.collect()
    after = process.memory_info().rss
    # One leaked row buffer (250 * 72 bytes) or raw reply per poll would be > 40 MB.
    assert after - before < 4 * 1024 * 1024, (before, after)


# ---------------------------------------------------------------- against ctypes, same process


def read_with_ctypes(family: int, order: bool) -> list[tuple[str, int, str, int, int, int]]:
    """GetTcpTable2 / GetTcp6Table2 through ctypes: (local address, local port, remote
    address, remote port, state, pid) per row, in the order the OS gives."""
    iphlpapi = ctypes.WinDLL("iphlpapi")
    function = iphlpapi.GetTcpTable2 if family == 4 else iphlpapi.GetTcp6Table2
    function.argtypes = [ctypes.c_void_p, ctypes.POINTER(wintypes.ULONG), wintypes.BOOL]
    function.restype = wintypes.ULONG
    size = wintypes.ULONG(0)
    for _ in range(50):
        buffer = ctypes.create_string_buffer(max(size.value, 4))
        error = function(buffer, ctypes.byref(size), order)
        if error == NO_ERROR:
            break
        assert error == ERROR_INSUFFICIENT_BUFFER, error
    else:
        pytest.fail("the table kept growing under ctypes")
    data = buffer.raw
    (count,) = struct.unpack_from("<I", data, 0)
    rows = []
    for i in range(count):
        if family == 4:
            state, laddr, lport, raddr, rport, pid, _ = ROW4.unpack_from(data, 4 + i * ROW4.size)
            local = socket.inet_ntoa(struct.pack("<I", laddr))
            remote = socket.inet_ntoa(struct.pack("<I", raddr))
        else:
            row6 = ROW6.unpack_from(data, 4 + i * ROW6.size)
            laddr6, _, lport, raddr6, _, rport, state, pid, _ = row6
            local = socket.inet_ntop(socket.AF_INET6, laddr6)
            remote = socket.inet_ntop(socket.AF_INET6, raddr6)
        lport, rport = socket.ntohs(lport & 0xFFFF), socket.ntohs(rport & 0xFFFF)
        rows.append((local, lport, remote, rport, state, pid))
    return rows


def test_own_sockets_agree_with_ctypes(pair: Pair) -> None:
    with tcptable.Poller(family="ipv4" if pair.family == 4 else "ipv6") as poller:
        found = own_rows(poller.poll(), pair)
    ours = sorted(
        (c.local_address, c.local_port, c.remote_address, c.remote_port, int(c.state))
        for c in found.values()
    )
    theirs = sorted(
        row[:5]
        for row in read_with_ctypes(pair.family, order=False)
        if (row[1], row[3], row[4]) in pair.expected()
    )
    assert ours == theirs
    assert {(port, remote, state) for _, port, _, remote, state in theirs} == pair.expected()
    loopback = LOOPBACK[pair.family]
    assert all(local == loopback for local, *_ in ours)


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
def test_sort_true_matches_order_true(family: int) -> None:
    pairs = [open_pair(family) for _ in range(4)]
    try:
        wanted = set().union(*(p.expected() for p in pairs))
        with tcptable.Poller(family="ipv4" if family == 4 else "ipv6", sort=True) as poller:
            table = poller.poll()
        ours = [
            (c.local_port, c.remote_port, int(c.state))
            for c in table
            if (c.local_port, c.remote_port, c.state) in wanted
        ]
        theirs = [
            (lport, rport, state)
            for _, lport, _, rport, state, _ in read_with_ctypes(family, order=True)
            if (lport, rport, state) in wanted
        ]
        assert len(ours) == len(wanted)
        assert ours == theirs
        # One local address: Order=TRUE means by local port, then remote port.
        assert ours == sorted(ours)
    finally:
        for p in pairs:
            for sock in (p.client, p.server, p.listener):
                sock.close()


# ---------------------------------------------------------------- owning pids, real sockets
# Wine 10 fills dwOwningPid (Wine 8 gave 0), so these run in the Windows lane as on Windows.


def test_own_sockets_carry_this_process_pid(pair: Pair) -> None:
    found = own_rows(tcptable.snapshot(pids=True), pair)
    assert set(found) == pair.expected()
    assert {c.pid for c in found.values()} == {os.getpid()}


def test_pids_false_gives_pid_zero_for_own_sockets(pair: Pair) -> None:
    found = own_rows(tcptable.snapshot(pids=False), pair)
    assert set(found) == pair.expected()
    assert {c.pid for c in found.values()} == {0}


# A child CPython that listens on loopback, prints its port, and holds the socket until its
# stdin closes.
LISTENING_CHILD = """
import socket, sys
family = socket.AF_INET if sys.argv[1] == "4" else socket.AF_INET6
listener = socket.socket(family)
listener.bind((sys.argv[2], 0))
listener.listen(1)
print(listener.getsockname()[1], flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def listening_child(family: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A child process of this Python holding a listener; yields (process, port)."""
    child = subprocess.Popen(
        [sys.executable, "-c", LISTENING_CHILD, str(family), LOOPBACK[family]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), f"the child printed {line!r} (exit {child.poll()})"
        yield child, int(line)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
def test_a_child_process_listener_carries_the_child_pid(family: int) -> None:
    with listening_child(family) as (child, port):
        rows = [
            c
            for c in tcptable.snapshot(pids=True)
            if c.family == family and c.local_port == port and c.state == tcptable.State.LISTEN
        ]
        assert [(c.local_address, c.pid) for c in rows] == [(LOOPBACK[family], child.pid)]
        assert child.pid != os.getpid()


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
def test_owner_pids_filters_on_real_pids(family: int) -> None:
    pair = open_pair(family)
    try:
        with listening_child(family) as (child, child_port):
            own_keys = pair.expected()
            child_key = (child_port, 0, tcptable.State.LISTEN)

            def keys(owner_pids: set[int]) -> set[tuple[int, int, tcptable.State]]:
                return {
                    (c.local_port, c.remote_port, c.state)
                    for c in tcptable.snapshot(owner_pids=owner_pids)
                    if c.family == family
                }

            mine = keys({os.getpid()})
            assert own_keys <= mine
            assert child_key not in mine
            child_rows = keys({child.pid})
            assert child_key in child_rows
            assert not own_keys & child_rows
            assert own_keys | {child_key} <= keys({os.getpid(), child.pid})
    finally:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()


def test_process_names_name_python_exe() -> None:
    pair = open_pair(4)
    try:
        with listening_child(4) as (child, _):
            table = tcptable.snapshot(names=True, owner_pids={os.getpid(), child.pid})
            assert table.process_names is not None
            assert table.process_names == {os.getpid(): "python.exe", child.pid: "python.exe"}
            assert tcptable.process_name(child.pid) == "python.exe"
            assert tcptable.process_name(os.getpid()) == "python.exe"
    finally:
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()
