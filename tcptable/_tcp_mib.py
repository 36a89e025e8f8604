"""``tcptable.statistics``: the system-wide TCP-MIB counters (MIB-II's TCP group) beside the
table.  Not the per-socket records of ``stats=True``: those are ``_socket_stats.py``."""

from __future__ import annotations

from typing import NamedTuple

from ._errors import raise_for_status
from ._native import ffi, lib
from ._poller import _FAMILIES  # the one family -> shim mask table, as Poller(family=...)

__all__ = ["TcpStatistics", "statistics"]


class TcpStatistics(NamedTuple):
    """The MIB-II TCP group (RFC 1213's tcp* objects; Windows MIB_TCPSTATS2).

    Counters (``active_opens`` ... ``out_rsts``) count since boot and only grow (they wrap
    at 2**32 where the OS keeps 32 bits; ``in_segs``/``out_segs`` are 64-bit where the OS has
    them).  ``curr_estab`` connections are ESTABLISHED or CLOSE_WAIT now; ``num_conns`` is the
    number of rows in the TCP table now.  ``rto_min``/``rto_max`` are milliseconds;
    ``max_conn`` is -1 when the limit is dynamic.
    """

    rto_algorithm: int
    rto_min: int
    rto_max: int
    max_conn: int
    active_opens: int
    passive_opens: int
    attempt_fails: int
    estab_resets: int
    curr_estab: int
    in_segs: int
    out_segs: int
    retrans_segs: int
    in_errs: int
    out_rsts: int
    num_conns: int


def statistics(family: str = "all") -> TcpStatistics:
    """The kernel's TCP counters now: ``tcptable.TcpStatistics``.

    ``family`` is ``"all"``, ``"ipv4"`` or ``"ipv6"``.  Windows: ``GetTcpStatisticsEx2`` per
    family (``GetTcpStatisticsEx``, 32-bit segment counters, where Ex2 is missing); for
    ``"all"`` the counters and ``num_conns`` are summed, ``rto_algorithm`` is IPv4's,
    ``rto_min`` the smaller and ``rto_max`` the larger of the two, ``max_conn`` -1 if either
    is dynamic, else the sum.  Linux: the ``Tcp:`` lines of /proc/net/snmp, which count IPv4
    and IPv6 together, so ``"ipv4"``/``"ipv6"`` raise ``NotSupportedError``; ``num_conns``
    (absent there) is the TCP sockets in use plus TIME_WAIT from /proc/net/sockstat{,6}.

    >>> before = tcptable.statistics()
    >>> ...
    >>> tcptable.statistics().retrans_segs - before.retrans_segs
    """
    if not isinstance(family, str) or family not in _FAMILIES:
        raise ValueError(f"family must be 'all', 'ipv4' or 'ipv6', not {family!r}")
    handle = lib.tcptable_poller_new()  # holds the error status; no buffers are allocated
    if handle == ffi.NULL:
        raise MemoryError("cannot allocate a tcptable poller")
    try:
        out = ffi.new("tcptable_tcp_statistics *")
        raise_for_status(handle, lib.tcptable_statistics(handle, _FAMILIES[family], out))
        return TcpStatistics(*(int(getattr(out, name)) for name in TcpStatistics._fields))
    finally:
        lib.tcptable_poller_free(handle)
