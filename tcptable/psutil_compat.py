"""``psutil.net_connections`` for TCP, answered from tcptable's table.

A drop-in for code that calls ``psutil.net_connections(kind)`` for TCP only:

>>> from tcptable import psutil_compat
>>> for conn in psutil_compat.net_connections("tcp"):
...     if conn.status == "LISTEN":
...         print(conn.laddr.ip, conn.laddr.port, conn.pid)

The tuples have psutil's shapes, field names and values: ``sconn(fd, family, type, laddr,
raddr, status, pid)`` with ``laddr``/``raddr`` ``addr(ip, port)`` named tuples, ``raddr == ()``
when there is no remote end (a listener), ``status`` one of psutil's strings, ``pid`` None
when the owner is unknown, ``fd`` always -1 (no file descriptor is looked up).

Differences from psutil, on purpose: the ``inet`` kinds return TCP rows only (UDP is not in a
TCP table); ``udp*``, ``unix`` and ``all`` raise ValueError.  psutil on Windows reports an
unknown owner as pid 0; here it is None on every OS.  IPv6 scope ids are not part of ``ip``,
as in psutil.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

from ._enums import State
from ._poller import Poller

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
    "addr",
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
# psutil's status for a socket with no TCP state (UDP, UNIX); never produced for a TCP row.
CONN_NONE = "NONE"

_STATUS = {
    State.NONE: CONN_NONE,  # UDP rows (the adapter asks for TCP only)
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

# kind -> Poller family.  The inet kinds include UDP in psutil; a TCP table has TCP rows only.
_KINDS = {
    "tcp": "all",
    "tcp4": "ipv4",
    "tcp6": "ipv6",
    "inet": "all",
    "inet4": "ipv4",
    "inet6": "ipv6",
}
_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}


class addr(NamedTuple):  # psutil's name
    """An endpoint, as psutil's ``addr``."""

    ip: str
    port: int


class sconn(NamedTuple):  # psutil's name
    """One connection, as psutil's ``sconn`` (what ``psutil.net_connections`` returns)."""

    fd: int
    family: socket.AddressFamily
    type: socket.SocketKind
    laddr: addr | tuple[()]
    raddr: addr | tuple[()]
    status: str
    pid: int | None


def _endpoint(ip: str, port: int) -> addr | tuple[()]:
    # psutil gives () for an end with port 0: a listener's remote end, an unbound local end.
    return addr(ip, port) if port else ()


def net_connections(kind: str = "tcp") -> list[sconn]:
    """The system's TCP connections as psutil-shaped ``sconn`` tuples.

    ``kind`` is ``"tcp"``, ``"tcp4"``, ``"tcp6"``, ``"inet"``, ``"inet4"`` or ``"inet6"``
    (the inet kinds give TCP rows only); any other kind raises ValueError.  Raises
    ``tcptable.TcpTableError`` when the OS refuses the table.
    """
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(repr(k) for k in _KINDS)} (TCP only), not {kind!r}"
        )
    with Poller(family=_KINDS[kind], pids=True) as poller:
        table = poller.poll()
    return [
        sconn(
            -1,
            _FAMILIES[row.family],
            socket.SOCK_STREAM,
            _endpoint(row.local_address, row.local_port),
            _endpoint(row.remote_address, row.remote_port),
            _STATUS[row.state],
            row.pid or None,
        )
        for row in table
    ]
