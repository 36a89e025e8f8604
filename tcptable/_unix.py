"""UNIX domain sockets (Linux sock_diag UNIX_DIAG, what ``ss -x`` reads), with their owners."""

from __future__ import annotations

import math
import os
import socket
import threading
import weakref
from typing import Any, NamedTuple

from ._enums import State
from ._errors import raise_for_status
from ._native import ffi, lib

__all__ = ["UnixPoller", "UnixSocket", "unix_snapshot"]

_UID_NONE = 0xFFFFFFFF


def _socket_type(number: int) -> socket.SocketKind | int:
    try:
        return socket.SocketKind(number)
    except ValueError:  # a type this Python has no name for: the number itself
        return number


# Every open UnixPoller, so that a fork child can give each a fresh lock (a fork while another
# thread was polling copies the lock held).
_live_pollers: weakref.WeakSet[UnixPoller] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for poller in list(_live_pollers):
        poller._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


class UnixSocket(NamedTuple):
    """One UNIX domain socket.

    ``path`` is as ``/proc/net/unix`` and ``ss -x`` show it: a filesystem path, ``"@name"`` for
    an abstract name (a NUL byte in it shows as ``@``), ``""`` for an unnamed socket; bytes that
    are not valid in the filesystem encoding are decoded as ``os.fsdecode`` does (surrogate
    escapes).  ``type`` is ``socket.SOCK_STREAM``, ``SOCK_DGRAM`` or ``SOCK_SEQPACKET``.
    ``state``: ``State.LISTEN``, ``State.ESTABLISHED`` (connected) or ``State.CLOSED`` (not
    connected, as an unbound or bound datagram socket): the kernel numbers UNIX states as TCP's,
    translated as for TCP rows.  ``inode`` is the socket's inode (``socket:[INODE]`` in
    ``/proc/PID/fd``), ``peer_inode`` the connected peer's (0: none).  ``pid`` is a process
    holding it (0: unknown or not asked for; the lowest pid when several hold it), ``fd`` the
    descriptor through which that process holds it (-1: unknown).  ``uid`` is the socket's owner
    (None on kernels older than 5.3, which do not report it).
    """

    path: str
    type: socket.SocketKind | int
    state: State
    inode: int
    peer_inode: int
    pid: int
    fd: int
    uid: int | None


class UnixPoller:
    """Reads the UNIX socket table again and again, keeping what the owner lookup learned
    (as ``Poller`` does for TCP), so that later polls cost less than the first.

    >>> with tcptable.UnixPoller() as poller:
    ...     listeners = [s.path for s in poller.poll() if s.state == tcptable.State.LISTEN]

    ``pids=False`` skips the owner lookup (pid 0, fd -1).  ``pid_max_age`` is Poller's: how
    long (seconds) an owner found in an earlier poll is trusted before it is read again.
    Linux only: elsewhere ``poll()`` raises ``NotSupportedError``.
    """

    def __init__(self, pids: bool = True, *, pid_max_age: float = 1.0) -> None:
        if not isinstance(pids, bool):
            raise TypeError(f"pids must be True or False, not {pids!r}")
        if isinstance(pid_max_age, bool) or not isinstance(pid_max_age, (int, float)):
            raise TypeError(f"pid_max_age must be a number of seconds, not {pid_max_age!r}")
        if not math.isfinite(pid_max_age) or pid_max_age < 0:
            raise ValueError(f"pid_max_age must be a finite number >= 0, not {pid_max_age!r}")
        self.pids = pids
        self.pid_max_age = pid_max_age
        self._flags = lib.TCPTABLE_PIDS if pids else 0
        self._lock = threading.Lock()
        self._counts = ffi.new("size_t[3]")
        handle = lib.tcptable_poller_new()
        if handle == ffi.NULL:
            raise MemoryError("cannot allocate a tcptable poller")
        self._handle: Any = ffi.gc(handle, lib.tcptable_poller_free)
        raise_for_status(handle, lib.tcptable_poller_set_pid_max_age(handle, pid_max_age))
        _live_pollers.add(self)

    def _poll_raw(self) -> tuple[Any, int, bytes]:
        """The rows (a cffi array of tcptable_unix_row), their count, and the paths' bytes."""
        with self._lock:
            handle = self._handle
            if handle is None:
                raise ValueError("poll() on a closed tcptable.UnixPoller")
            counts = self._counts
            raise_for_status(
                handle, lib.tcptable_unix_fetch(handle, self._flags, counts, counts + 1)
            )
            rows = ffi.new("tcptable_unix_row[]", max(1, counts[0]))
            paths = ffi.new("uint8_t[]", max(1, counts[1]))
            raise_for_status(
                handle,
                lib.tcptable_unix_decode(handle, rows, counts[0], paths, counts[1], counts + 2),
            )
            return rows, counts[2], ffi.buffer(paths, counts[1])[:]

    def poll(self) -> list[UnixSocket]:
        """The UNIX sockets now, in the kernel's order."""
        rows, count, paths = self._poll_raw()
        found = []
        decoded: dict[bytes, str] = {b"": ""}
        types: dict[int, socket.SocketKind | int] = {}
        for row in rows[0:count]:
            raw = paths[row.path_offset : row.path_offset + row.path_length]
            path = decoded.get(raw)
            if path is None:
                path = decoded[raw] = os.fsdecode(raw)
            kind = types.get(row.type)
            if kind is None:
                kind = types[row.type] = _socket_type(row.type)
            found.append(
                UnixSocket(
                    path,
                    kind,
                    State(row.state),
                    row.inode,
                    row.peer_inode,
                    row.pid,
                    row.fd,
                    None if row.uid == _UID_NONE else row.uid,
                )
            )
        return found

    def close(self) -> None:
        """Free the OS buffers and the owner lookup's descriptors now."""
        with self._lock:
            if self._handle is not None:
                ffi.release(self._handle)
                self._handle = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> UnixPoller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<tcptable.UnixPoller {state} pids={self.pids} pid_max_age={self.pid_max_age!r}>"


def unix_snapshot(pids: bool = True) -> list[UnixSocket]:
    """The system's UNIX domain sockets once, as ``UnixSocket`` named tuples (Linux; elsewhere
    ``NotSupportedError``).  For repeated reads keep a ``UnixPoller``.

    >>> for sock in tcptable.unix_snapshot():
    ...     if sock.state == tcptable.State.LISTEN and sock.path.startswith("/run/"):
    ...         print(sock.path, sock.pid)
    """
    with UnixPoller(pids=pids) as poller:
        return poller.poll()
