"""``psutil.net_connections``, answered from tcptable's tables.

A drop-in for code that calls ``psutil.net_connections(kind)``:

>>> from tcptable import psutil_compat
>>> for conn in psutil_compat.net_connections("tcp"):
...     if conn.status == "LISTEN":
...         print(conn.laddr.ip, conn.laddr.port, conn.pid)

Every kind psutil accepts (``inet``, the default, ``inet4``, ``inet6``, ``tcp``, ``tcp4``,
``tcp6``, ``udp``, ``udp4``, ``udp6``, ``unix``, ``all``) gives psutil's rows: ``sconn(fd,
family, type, laddr, raddr, status, pid)`` with ``laddr``/``raddr`` ``addr(ip, port)`` named
tuples (``()`` for an end with port 0), a UNIX socket's path as ``laddr`` and ``""`` as its
``raddr``, ``status`` one of psutil's strings (``"NONE"`` for UDP and UNIX sockets), ``pid``
None when the owner is unknown, and on Linux ``fd`` the owner's descriptor of the socket (-1
when unknown, and on Windows, as in psutil).  An unknown kind raises ValueError with psutil's
message.  docs/psutil.md lists every field of every kind and every known difference.

The tables are kept between calls (one ``Poller`` per kind, one ``UnixPoller``), so that a
call costs a fraction of psutil's: an owner found by an earlier call is trusted for up to
``PID_MAX_AGE`` seconds (Poller's ``pid_max_age``) before it is read again.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from itertools import repeat
from typing import Any, Literal, NamedTuple

from ._enums import State
from ._errors import NotSupportedError, raise_for_status
from ._native import ffi, lib
from ._poller import Poller
from ._rows import ROW_SIZE
from ._unix import UnixPoller

__all__ = [
    "CONN_CLOSE",
    "CONN_CLOSE_WAIT",
    "CONN_CLOSING",
    "CONN_DELETE_TCB",
    "CONN_ESTABLISHED",
    "CONN_FIN_WAIT1",
    "CONN_FIN_WAIT2",
    "CONN_LAST_ACK",
    "CONN_LISTEN",
    "CONN_NONE",
    "CONN_SYN_RECV",
    "CONN_SYN_SENT",
    "CONN_TIME_WAIT",
    "PID_MAX_AGE",
    "addr",
    "close",
    "net_connections",
    "sconn",
]

# psutil's status strings (psutil.CONN_*; DELETE_TCB is Windows-only in psutil).
CONN_ESTABLISHED = "ESTABLISHED"
CONN_SYN_SENT = "SYN_SENT"
CONN_SYN_RECV = "SYN_RECV"
CONN_FIN_WAIT1 = "FIN_WAIT1"
CONN_FIN_WAIT2 = "FIN_WAIT2"
CONN_TIME_WAIT = "TIME_WAIT"
CONN_CLOSE = "CLOSE"
CONN_CLOSE_WAIT = "CLOSE_WAIT"
CONN_LAST_ACK = "LAST_ACK"
CONN_LISTEN = "LISTEN"
CONN_CLOSING = "CLOSING"
CONN_DELETE_TCB = "DELETE_TCB"
# psutil's status for a socket with no TCP state (UDP, UNIX).
CONN_NONE = "NONE"

#: Seconds an owner (pid, fd) found by an earlier call is trusted before it is read again
#: (``Poller(pid_max_age=...)``); set it before the first call.  0 reads every owner on every
#: call, as psutil does (exact, and several times slower on a large table).
PID_MAX_AGE = 1.0

_STATUS = {
    State.NONE: CONN_NONE,  # UDP rows (which _Statuses answers by their protocol anyway)
    State.CLOSED: CONN_CLOSE,
    State.LISTEN: CONN_LISTEN,
    State.SYN_SENT: CONN_SYN_SENT,
    State.SYN_RCVD: CONN_SYN_RECV,
    State.ESTABLISHED: CONN_ESTABLISHED,
    State.FIN_WAIT1: CONN_FIN_WAIT1,
    State.FIN_WAIT2: CONN_FIN_WAIT2,
    State.CLOSE_WAIT: CONN_CLOSE_WAIT,
    State.CLOSING: CONN_CLOSING,
    State.LAST_ACK: CONN_LAST_ACK,
    State.TIME_WAIT: CONN_TIME_WAIT,
    State.DELETE_TCB: CONN_DELETE_TCB,
}

_TCP, _UDP = 6, 17
# psutil's kinds, in psutil's order (its error message lists them so): kind -> (Poller family,
# protocols, whether UNIX sockets are in it).
_KINDS: dict[str, tuple[str | None, str | None, bool]] = {
    "all": ("all", "all", True),
    "tcp": ("all", "tcp", False),
    "tcp4": ("ipv4", "tcp", False),
    "udp": ("all", "udp", False),
    "udp4": ("ipv4", "udp", False),
    "inet": ("all", "all", False),
    "inet4": ("ipv4", "all", False),
    "inet6": ("ipv6", "all", False),
    "tcp6": ("ipv6", "tcp", False),
    "udp6": ("ipv6", "udp", False),
}
# psutil accepts "unix" where Python has AF_UNIX (not on Windows).
if hasattr(socket, "AF_UNIX"):
    _KINDS["unix"] = (None, None, True)
_KIND_NAMES = tuple(_KINDS)
_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
_TYPES = {_TCP: socket.SOCK_STREAM, _UDP: socket.SOCK_DGRAM}


class addr(NamedTuple):  # psutil's name
    """An endpoint, as psutil's ``addr``."""

    ip: str
    port: int


class sconn(NamedTuple):  # psutil's name
    """One connection, as psutil's ``sconn`` (what ``psutil.net_connections`` returns)."""

    fd: int
    family: socket.AddressFamily
    type: socket.SocketKind | int
    laddr: addr | tuple[()] | str
    raddr: addr | tuple[()] | str
    status: str
    pid: int | None


class _Endpoints(dict):  # type: ignore[type-arg]
    """(family, the address's two 64-bit halves, port) -> psutil's ``addr`` (or ``()`` for port
    0), built once and shared by every row and every call that sees the same end."""

    def __missing__(self, key: tuple[int, int, int, int]) -> addr | tuple[()]:
        family, high, low, port = key
        packed = _HALVES.pack(high, low)
        if not port:
            value: addr | tuple[()] = ()
        elif family == 4:
            value = addr(_inet_ntop(socket.AF_INET, packed[12:]), port)
        else:
            value = addr(_inet_ntop(socket.AF_INET6, packed), port)
        if len(self) >= _ENDPOINTS_LIMIT:
            self.clear()  # a table that churns through many ends: start over, stay bounded
        self[key] = value
        return value


_ENDPOINTS_LIMIT = 1 << 18
# The address bytes back from the halves _inet_rows reads them as (native order, as read).
_HALVES = struct.Struct("=QQ")
# Bound once: formatting does not go through the socket module's attribute on every end.
_inet_ntop = socket.inet_ntop


class _Statuses(dict):  # type: ignore[type-arg]
    """(protocol, state) -> psutil's status string: the TCP state's name for TCP, "NONE" for
    UDP (UDP has no state)."""

    def __missing__(self, key: tuple[int, int]) -> str:
        protocol, state = key
        value = _STATUS[State(state)] if protocol == _TCP else CONN_NONE
        self[key] = value
        return value


class _Tables:
    """The pollers kept between calls, and what rows share across calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inet: dict[tuple[str, str], tuple[Poller, Any]] = {}
        self.unix: UnixPoller | None = None
        self.endpoints = _Endpoints()
        self.statuses = _Statuses()
        self.paths: dict[bytes, str] = {b"": ""}

    def inet_poller(self, family: str, protocol: str) -> tuple[Poller, Any]:
        key = (family, protocol)
        found = self.inet.get(key)
        if found is None:
            poller = Poller(family=family, protocol=protocol, pid_max_age=PID_MAX_AGE)
            found = self.inet[key] = (poller, ffi.new("int32_t[]", 1))
        return found

    def unix_poller(self) -> UnixPoller:
        if self.unix is None:
            self.unix = UnixPoller(pid_max_age=PID_MAX_AGE)
        return self.unix


_tables = _Tables()


def close() -> None:
    """Close the pollers kept between calls now (their sock_diag sockets and the directory
    descriptors of owner processes, which the owner lookup keeps open); the next call opens new
    ones, and looks every owner up again."""
    global _tables
    with _tables.lock:
        for poller, _ in _tables.inet.values():
            poller.close()
        if _tables.unix is not None:
            _tables.unix.close()
        _tables = _Tables()


def _after_fork_in_child() -> None:
    _tables.lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _column(
    view: memoryview, code: Literal["B", "H", "I", "Q"], field: str, part: int = 0
) -> list[int]:
    """One field of every row: a strided slice of the row buffer seen as items of the field's
    size (every field sits at a multiple of its size; rows are 72 bytes, a multiple of 8).
    `part` picks the n-th item of a wider field (the halves of an address)."""
    size = struct.calcsize(code)
    start = ffi.offsetof("tcptable_row", field) // size + part
    items: list[int] = view.cast(code)[start :: ROW_SIZE // size].tolist()
    return items


def _inet_rows(family: str, protocol: str) -> list[sconn]:
    poller, fds = _tables.inet_poller(family, protocol)
    table = poller.poll()
    count = len(table)
    if count == 0:
        return []
    view = table.view
    if len(fds) < count:
        fds = ffi.new("int32_t[]", count + count // 4)
        _tables.inet[(family, protocol)] = (poller, fds)
    raise_for_status(
        poller._handle,
        lib.tcptable_poller_owner_fds(
            poller._handle, ffi.from_buffer("tcptable_row[]", view), count, fds
        ),
    )
    # Columns in bulk (strided slices of the row buffer: C loops, no per-row tuple), then one
    # shared lookup per field; addresses as two 64-bit halves, cheap to hash.
    family_number = _column(view, "B", "family")
    protocol_number = _column(view, "B", "protocol")
    endpoints = _tables.endpoints.__getitem__
    laddr = map(
        endpoints,
        zip(
            family_number,
            _column(view, "Q", "local_addr"),
            _column(view, "Q", "local_addr", 1),
            _column(view, "H", "local_port"),
        ),
    )
    raddr = map(
        endpoints,
        zip(
            family_number,
            _column(view, "Q", "remote_addr"),
            _column(view, "Q", "remote_addr", 1),
            _column(view, "H", "remote_port"),
        ),
    )
    status = map(_tables.statuses.__getitem__, zip(protocol_number, _column(view, "B", "state")))
    families = map(_FAMILIES.__getitem__, family_number)
    types = map(_TYPES.__getitem__, protocol_number)
    owners = [number or None for number in _column(view, "I", "pid")]
    return list(
        map(
            tuple.__new__,
            repeat(sconn),
            zip(ffi.unpack(fds, count), families, types, laddr, raddr, status, owners),
        )
    )


def _unix_rows(required: bool) -> list[sconn]:
    try:
        rows, count, paths = _tables.unix_poller()._poll_raw()
    except NotSupportedError as error:
        # An OS with no UNIX sockets to list (Windows): psutil lists none there either.  A
        # Linux kernel without UNIX sock_diag says so with an errno, and that is raised.
        if required or error.os_error is not None:
            raise
        return []
    decoded = _tables.paths
    found = []
    af_unix = socket.AF_UNIX
    types: dict[int, Any] = {}
    for row in rows[0:count]:
        raw = paths[row.path_offset : row.path_offset + row.path_length]
        path = decoded.get(raw)
        if path is None:
            if len(decoded) >= _ENDPOINTS_LIMIT:
                decoded.clear()
            path = decoded[raw] = os.fsdecode(raw)
        kind = types.get(row.type)
        if kind is None:
            try:
                kind = socket.SocketKind(row.type)
            except ValueError:
                kind = row.type
            types[row.type] = kind
        found.append(
            tuple.__new__(sconn, (row.fd, af_unix, kind, path, "", CONN_NONE, row.pid or None))
        )
    return found


def _unique(rows: list[sconn]) -> list[sconn]:
    """psutil returns a set's members: rows alike in every field are one row.  Only rows
    without an owner's fd can be alike (an owned row is the only one with its (pid, fd))."""
    alike = [row for row in rows if row[0] == -1]
    if len(alike) == len(set(alike)):
        return rows
    owned = [row for row in rows if row[0] != -1]
    return owned + list(dict.fromkeys(alike))


def net_connections(kind: str = "inet") -> list[sconn]:
    """The system's sockets of ``kind`` as psutil-shaped ``sconn`` tuples (psutil's kinds,
    default ``"inet"``: TCP and UDP over IPv4 and IPv6).

    Raises ValueError, with psutil's message, for any other kind; ``tcptable.TcpTableError``
    when the OS refuses a table; ``tcptable.NotSupportedError`` for ``"unix"`` on an OS
    without UNIX sockets to list.
    """
    if not isinstance(kind, str) or kind not in _KIND_NAMES:
        raise ValueError(f"invalid kind argument {kind!r}; valid ones are: {_KIND_NAMES}")
    family, protocol, with_unix = _KINDS[kind]
    with _tables.lock:
        rows: list[sconn] = []
        if family is not None and protocol is not None:
            rows = _inet_rows(family, protocol)
        if with_unix:
            rows += _unix_rows(required=kind == "unix")
    return _unique(rows)
