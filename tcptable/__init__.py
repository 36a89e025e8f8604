"""tcptable: the operating system's TCP connection table as a zero-copy, numpy-friendly view.

On Windows the rows come from GetTcpTable2 / GetTcp6Table2 (iphlpapi); on Linux from
NETLINK_SOCK_DIAG (what ``ss`` uses) or /proc/net/tcp*.  Every OS yields the same packed rows.

>>> import tcptable
>>> with tcptable.Poller(family="all") as poller:
...     table = poller.poll()                   # a Snapshot: immutable, zero-copy
...     established = table.array["state"] == tcptable.State.ESTABLISHED
"""

from __future__ import annotations

# Every name is imported on first access (PEP 562): the command's quickest paths import
# nothing of the Python layer (its typing, enum and re imports are most of their start-up).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._changes import Changes, diff
    from ._containers import Container, container_of
    from ._enums import Direction, OffloadState, Protocol, State
    from ._errors import NotSupportedError, TcpTableError
    from ._finished import Finished
    from ._names import process_name
    from ._poller import Poller, snapshot
    from ._rows import ROW_SIZE, Connection
    from ._snapshot import Snapshot
    from ._tcp_mib import TcpStatistics, statistics
    from ._unix import UnixPoller, UnixSocket, unix_snapshot
    from ._watch import watch

_LAZY = {
    "Changes": "_changes",
    "diff": "_changes",
    "Container": "_containers",
    "container_of": "_containers",
    "Direction": "_enums",
    "OffloadState": "_enums",
    "Protocol": "_enums",
    "State": "_enums",
    "NotSupportedError": "_errors",
    "TcpTableError": "_errors",
    "Finished": "_finished",
    "process_name": "_names",
    "Poller": "_poller",
    "snapshot": "_poller",
    "ROW_SIZE": "_rows",
    "Connection": "_rows",
    "Snapshot": "_snapshot",
    "TcpStatistics": "_tcp_mib",
    "statistics": "_tcp_mib",
    "watch": "_watch",
    "UnixPoller": "_unix",
    "UnixSocket": "_unix",
    "unix_snapshot": "_unix",
}

__all__ = [
    "ROW_DTYPE",
    "ROW_SIZE",
    "STATS_DTYPE",
    "Changes",
    "Connection",
    "Container",
    "Direction",
    "Finished",
    "NotSupportedError",
    "OffloadState",
    "Poller",
    "Protocol",
    "Snapshot",
    "State",
    "TcpStatistics",
    "TcpTableError",
    "UnixPoller",
    "UnixSocket",
    "container_of",
    "diff",
    "process_name",
    "snapshot",
    "statistics",
    "unix_snapshot",
    "watch",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    # ROW_DTYPE needs numpy, which is optional: build it on first access only.
    if name == "ROW_DTYPE":
        from ._rows import row_dtype

        return row_dtype()
    if name == "STATS_DTYPE":
        from ._socket_stats import stats_dtype

        return stats_dtype()
    if name == "__version__":  # one source of truth: pyproject.toml, via the installed metadata
        from importlib.metadata import version

        return version("tcptable")
    raise AttributeError(f"module 'tcptable' has no attribute {name!r}")
