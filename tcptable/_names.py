"""Process names by pid: the executable's base name, read by the shim.

Linux gives the comm (what ``/proc/PID/comm`` and ``ps -o comm`` show, at most 15 bytes);
Windows the image name (``"python.exe"``).
"""

from __future__ import annotations

import threading
from typing import Any

from ._errors import raise_for_status
from ._filters import PID_MAX
from ._native import ffi, lib

__all__ = ["names_for_rows", "process_name"]

# process_name() has no Poller of its own: one shared handle (for its error status and, on
# Windows, its snapshot buffer), used under a lock.
_lock = threading.Lock()
_shared: Any = None


def _read_names(handle: Any, pids: Any, count: int) -> dict[int, str]:
    """{pid: name} for pids[0 .. count); processes without a readable name are left out."""
    if count == 0:
        return {}
    buffer = ffi.new("char[]", count * lib.TCPTABLE_NAME_SIZE)
    raise_for_status(handle, lib.tcptable_process_names(handle, pids, count, buffer))
    names = {}
    raw = ffi.buffer(buffer)
    for index in range(count):
        start = index * lib.TCPTABLE_NAME_SIZE
        end = raw[start : start + lib.TCPTABLE_NAME_SIZE].find(b"\0")
        if end > 0:
            names[int(pids[index])] = raw[start : start + end].decode("utf-8", "replace")
    return names


def names_for_rows(handle: Any, rows: Any, count: int) -> dict[int, str]:
    """{pid: name} for every distinct non-zero pid of rows[0 .. count) that has a name."""
    pids = ffi.new("uint32_t[]", max(count, 1))
    unique = ffi.new("size_t *")
    raise_for_status(handle, lib.tcptable_rows_pids(handle, rows, count, pids, unique))
    return _read_names(handle, pids, unique[0])


def process_name(pid: int) -> str | None:
    """The name of process ``pid``, or None if there is no such process (any more) or it has
    no name (pid 0, the table's "unknown owner", gives None).

    >>> tcptable.process_name(os.getpid())
    'python3'

    The name is the executable's base name: the comm on Linux (``/proc/PID/comm``, at most 15
    bytes), the image name on Windows (``"python.exe"``).
    """
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"pid must be an int, not {type(pid).__name__}")
    if pid < 0 or pid > PID_MAX:
        raise ValueError(f"pid must be between 0 and {PID_MAX}, not {pid!r}")
    if pid == 0:  # the table's "unknown owner"
        return None
    global _shared
    with _lock:
        if _shared is None:
            handle = lib.tcptable_poller_new()
            if handle == ffi.NULL:
                raise MemoryError("cannot allocate a tcptable poller")
            _shared = ffi.gc(handle, lib.tcptable_poller_free)
        pids = ffi.new("uint32_t[1]", [pid])
        return _read_names(_shared, pids, 1).get(pid)
