"""One poll for the command's quick paths (tcptable/_cli_counts.py, tcptable/_cli_table.py),
through the shim directly: what ``Poller.poll()`` does, without the Python layer's imports."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["fetch"]

_LISTEN = 2  # State.LISTEN


def fetch(lib: Any, ffi: Any, handle: Any, families: int, flags: int, listening: bool) -> Any:
    """The rows of one poll of ``handle`` and their count: ``families`` and ``flags`` as
    tcptable_fetch() takes them, only listeners when ``listening``.  TcpTableError as a poll
    raises it."""
    found = ffi.new("size_t[2]")
    code = lib.tcptable_poller_set_pid_max_age(handle, 1.0)  # Poller's default
    if code == lib.TCPTABLE_OK and listening:
        code = lib.tcptable_poller_set_filter(
            handle, 1 << _LISTEN, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL, 0
        )
    if code == lib.TCPTABLE_OK:
        code = lib.tcptable_fetch(handle, families, lib.TCPTABLE_SOURCE_DEFAULT, flags, found)
    rows = ffi.new("tcptable_row[]", max(found[0], 1))
    if code == lib.TCPTABLE_OK:
        code = lib.tcptable_decode(handle, rows, max(found[0], 1), found + 1)
    if code != lib.TCPTABLE_OK:
        from ._errors import raise_for_status

        raise_for_status(handle, code)
    return rows, found[1]
