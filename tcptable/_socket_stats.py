"""Per-socket TCP stats: the C record's layout as a numpy dtype, checked at import.

One ``tcptable_stats`` record (``_shim/common/tcptable_stats.h``) per row of a snapshot polled
with ``stats=True``, in row order.  Not the system-wide TCP-MIB counters of
``tcptable.statistics()``: those are ``_tcp_mib.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._native import ffi

if TYPE_CHECKING:
    import numpy

__all__ = ["STATS_FIELDS", "STATS_SIZE", "stats_dtype"]

STATS_SIZE: int = ffi.sizeof("tcptable_stats")

# (field, numpy code, size) in the C struct's order; "reserved" is padding, not exported.
_FIELDS = (
    ("rx_queue", "u4", 4),
    ("tx_queue", "u4", 4),
    ("rtt_us", "u4", 4),
    ("rttvar_us", "u4", 4),
    ("min_rtt_us", "u4", 4),
    ("retransmits", "u4", 4),
    ("total_retrans", "u4", 4),
    ("lost", "u4", 4),
    ("bytes_acked", "u8", 8),
    ("bytes_received", "u8", 8),
    ("segs_in", "u4", 4),
    ("segs_out", "u4", 4),
    ("snd_cwnd", "u4", 4),
    ("reserved", "u4", 4),
    ("delivery_rate", "u8", 8),
)
STATS_FIELDS: tuple[str, ...] = tuple(name for name, _, _ in _FIELDS if name != "reserved")


def _check_layout() -> None:
    offset = 0
    for name, _, size in _FIELDS:
        if ffi.offsetof("tcptable_stats", name) != offset:
            raise ImportError(
                f"tcptable_stats.{name} is at {ffi.offsetof('tcptable_stats', name)}, "
                f"the Python layout expects {offset}"
            )
        offset += size
    if offset != STATS_SIZE:
        raise ImportError(f"tcptable_stats is {STATS_SIZE} bytes, the Python layout {offset}")


_check_layout()

_dtype: numpy.dtype | None = None


def stats_dtype() -> numpy.dtype:
    """The numpy structured dtype of one stats record (numpy is optional: built on first use)."""
    global _dtype
    if _dtype is None:
        import numpy

        formats: list[Any] = [code for name, code, _ in _FIELDS if name != "reserved"]
        dtype = numpy.dtype(
            {
                "names": list(STATS_FIELDS),
                "formats": formats,
                "offsets": [ffi.offsetof("tcptable_stats", name) for name in STATS_FIELDS],
                "itemsize": STATS_SIZE,
            }
        )
        if dtype.itemsize != STATS_SIZE:
            raise ImportError(f"stats dtype is {dtype.itemsize} bytes, tcptable_stats {STATS_SIZE}")
        _dtype = dtype
    return _dtype
