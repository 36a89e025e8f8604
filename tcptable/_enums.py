"""The state enumerations, numbered as Windows numbers them on every OS."""

from __future__ import annotations

import enum

__all__ = ["Direction", "OffloadState", "Protocol", "State"]


class State(enum.IntEnum):
    """A connection's state, numbered as MIB_TCP_STATE (1..12) on every OS.

    Linux's own numbers are translated in C; Linux's request sockets (NEW_SYN_RECV) show as
    SYN_RCVD, as ``ss`` shows them.  NONE (0) is the state of every UDP row and of no TCP
    row: UDP has no connection state (psutil calls it NONE too).
    """

    NONE = 0
    CLOSED = 1
    LISTEN = 2
    SYN_SENT = 3
    SYN_RCVD = 4
    ESTABLISHED = 5
    FIN_WAIT1 = 6
    FIN_WAIT2 = 7
    CLOSE_WAIT = 8
    CLOSING = 9
    LAST_ACK = 10
    TIME_WAIT = 11
    DELETE_TCB = 12


class Protocol(enum.IntEnum):
    """A row's transport protocol, numbered as IPPROTO_TCP and IPPROTO_UDP."""

    TCP = 6
    UDP = 17


class OffloadState(enum.IntEnum):
    """TCP_CONNECTION_OFFLOAD_STATE: whether the NIC handles the connection (Windows only;
    always IN_HOST elsewhere)."""

    IN_HOST = 0
    OFFLOADING = 1
    OFFLOADED = 2
    UPLOADING = 3


class Direction(enum.IntEnum):
    """Who opened a connection, as ``Snapshot.directions()`` classifies each row.

    LISTEN: a listening socket; for UDP, a socket that is bound and not connected (every UDP
    row on Windows, whose table has no remote end).  INBOUND: its local port is one that a
    listener of the same protocol and family accepts on, at its local address or a wildcard
    (an IPv6 ``::`` listener also counts for IPv4 rows: dual-stack sockets accept IPv4 unless
    IPV6_V6ONLY is set, which the table does not show).  OUTBOUND: any other row with a
    remote end.  UNKNOWN: neither listening nor connected (a bound or closed TCP socket,
    remote port 0).
    """

    UNKNOWN = 0
    LISTEN = 1
    INBOUND = 2
    OUTBOUND = 3
