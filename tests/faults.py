"""Fault injection on Linux: fakes for one poller's system calls.

`Seam` installs Python callbacks in a poller's tcptable_linux_calls table (the C backend calls
socket, sendto, recv, open, read and its monotonic clock through it); a member left out is the
real call.  A fake fails by setting errno and returning -1 (`fail`); `REAL` reaches the real
libc calls, so a fake can pass a call through and then change what it returned.  `Replies` is
such a recv fake: real sock_diag datagrams, each edited by a test before the shim sees it.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Iterable
from typing import Any, Callable

import cffi

import tcptable
from tcptable._native import ffi, lib

_libc_ffi = cffi.FFI()
_libc_ffi.cdef(
    """
    int socket(int domain, int type, int protocol);
    ptrdiff_t sendto(int fd, const void *buffer, size_t length, int flags,
                     const void *address, uint32_t address_length);
    ptrdiff_t recv(int fd, void *buffer, size_t length, int flags);
    int open(const char *path, int flags, ...);
    ptrdiff_t read(int fd, void *buffer, size_t length);
    int setsockopt(int fd, int level, int name, const void *value, uint32_t length);
    int getsockopt(int fd, int level, int name, void *value, uint32_t *length);
    int bind(int fd, const void *address, uint32_t address_length);
    """
)


class _Real:
    """The real libc calls, opened on first use (only Linux tests use them)."""

    def __getattr__(self, name: str) -> Any:
        libc = _libc_ffi.dlopen(None)
        for call in (
            "socket",
            "sendto",
            "recv",
            "open",
            "read",
            "setsockopt",
            "getsockopt",
            "bind",
        ):
            setattr(self, call, getattr(libc, call))
        return getattr(libc, name)


REAL = _Real()

MSG_TRUNC = 0x20
NLMSG_ERROR = 2
NLMSG_DONE = 3
SOCK_DIAG_BY_FAMILY = 20
HEADER = struct.Struct("=IHHII")  # struct nlmsghdr: length, type, flags, sequence, port id


def fail(err: int) -> int:
    """What a fake returns to fail with `err`: -1, errno set for the C caller."""
    ffi.errno = err
    return -1


class KernelStub:
    """A fake kernel behind one poller's sendto and recv (subclasses define `_sendto` and
    `_recv`): `calls` is the tcptable_linux_calls table to install; an exception raised in a
    callback cannot cross the C caller, so it is kept in `errors` (the call then fails)."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.sendto = ffi.callback(
            "ptrdiff_t(int, void *, size_t, int, void *, uint32_t)",
            self._sendto,
            error=-1,
            onerror=self._onerror,
        )
        self.recv = ffi.callback(
            "ptrdiff_t(int, void *, size_t, int)", self._recv, error=-1, onerror=self._onerror
        )
        self.calls = ffi.new("tcptable_linux_calls *", {"sendto": self.sendto, "recv": self.recv})

    def _onerror(self, exception: type, value: BaseException, traceback: Any) -> None:
        self.errors.append(value)

    def _sendto(self, fd: int, buffer: Any, length: int, flags: int, to: Any, size: int) -> int:
        raise NotImplementedError

    def _recv(self, fd: int, buffer: Any, length: int, flags: int) -> int:
        raise NotImplementedError


class Seam:
    """Replaces the named system calls of `poller` with `hooks` (name -> callable with the C
    call's arguments).  `calls` counts every call per name; a hook that raises is recorded in
    `errors` (tests assert there are none) and the call fails."""

    def __init__(self, poller: tcptable.Poller, **hooks: Callable[..., int]) -> None:
        self.poller = poller
        self.calls: collections.Counter[str] = collections.Counter()
        self.errors: list[BaseException] = []
        self._table = ffi.new("tcptable_linux_calls *")
        self._callbacks = []  # the table holds raw pointers: keep the callbacks alive
        fields = dict(ffi.typeof("tcptable_linux_calls").fields)
        for name, hook in hooks.items():
            callback = ffi.callback(
                fields[name].type,
                self._counted(name, hook),
                error=0 if name == "monotonic_ms" else -1,
                onerror=self._onerror,
            )
            self._callbacks.append(callback)
            setattr(self._table, name, callback)
        assert lib.tcptable_poller_set_linux_calls(poller._handle, self._table) == 0

    def _counted(self, name: str, hook: Callable[..., int]) -> Callable[..., int]:
        def call(*args: Any) -> int:
            self.calls[name] += 1
            return hook(*args)

        return call

    def _onerror(self, exception: type, value: BaseException, traceback: Any) -> None:
        self.errors.append(value)

    def remove(self) -> None:
        """Back to the real calls."""
        if not self.poller.closed:
            assert lib.tcptable_poller_set_linux_calls(self.poller._handle, ffi.NULL) == 0


def fail_first(call: str, err: int, times: int = 1) -> Callable[..., int]:
    """A hook for `call` that fails its first `times` calls with `err`, then is the real call."""
    left = [times]

    def hook(*args: Any) -> int:
        if left[0] > 0:
            left[0] -= 1
            return fail(err)
        return int(getattr(REAL, call)(*args))

    return hook


def passthrough(call: str, record: list[Any] | None = None) -> Callable[..., int]:
    """The real `call`; its results are appended to `record`."""

    def hook(*args: Any) -> int:
        result = int(getattr(REAL, call)(*args))
        if record is not None:
            record.append(result)
        return result

    return hook


class Clock:
    """A monotonic_ms fake that jumps `step` milliseconds at every reading."""

    def __init__(self, step: int = 1000) -> None:
        self.now = 1_000_000
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


# ---------------------------------------------------------------- netlink datagrams


def messages(datagram: bytes) -> list[bytes]:
    """The netlink messages of a well-formed datagram, each with its own length."""
    out, offset = [], 0
    while offset + HEADER.size <= len(datagram):
        length = HEADER.unpack_from(datagram, offset)[0]
        out.append(bytes(datagram[offset : offset + length]))
        offset += (length + 3) & ~3
    return out


def join(parts: Iterable[bytes]) -> bytes:
    """A datagram of messages, each padded to 4 bytes as the kernel pads them."""
    return b"".join(part + bytes(-len(part) % 4) for part in parts)


def kind(message: bytes) -> int:
    return int(HEADER.unpack_from(message)[1])


def sequence(message: bytes) -> int:
    return int(HEADER.unpack_from(message)[3])


def with_sequence(message: bytes, seq: int) -> bytes:
    length, type_, flags, _, port = HEADER.unpack_from(message)
    return HEADER.pack(length, type_, flags, seq, port) + message[HEADER.size :]


def make_message(type_: int, seq: int, payload: bytes, length: int | None = None) -> bytes:
    size = HEADER.size + len(payload) if length is None else length
    return HEADER.pack(size, type_, 2, seq, 0) + payload  # flags: NLM_F_MULTI


def error_message(seq: int, err: int) -> bytes:
    """NLMSG_ERROR carrying -err and the header of the request it answers."""
    return make_message(NLMSG_ERROR, seq, struct.pack("=i", -err) + HEADER.pack(0, 0, 0, seq, 0))


def done_message(seq: int, result: int = 0) -> bytes:
    return make_message(NLMSG_DONE, seq, struct.pack("=i", result))


def diag_port(message: bytes) -> int:
    """An inet_diag_msg's local port (idiag_sport, network order, at payload byte 4)."""
    return int(struct.unpack_from("!H", message, HEADER.size + 4)[0])


def set_diag_byte(message: bytes, offset: int, value: int) -> bytes:
    """The message with payload byte `offset` (0 family, 1 state) set to `value`."""
    edited = bytearray(message)
    edited[HEADER.size + offset] = value
    return bytes(edited)


class Replies:
    """A recv fake: each real datagram goes through `edit(index, datagram)` (index from 1),
    which returns what recv delivers instead, in order: datagrams (bytes, truncated as recv
    truncates them) and errno values (int: that recv fails)."""

    def __init__(self, edit: Callable[[int, bytes], list[bytes | int]]) -> None:
        self.edit = edit
        self.received = 0
        self.offered: list[int] = []  # the length of every recv the shim made
        self.pending: collections.deque[bytes | int] = collections.deque()
        self._space = _libc_ffi.new("char[]", 1 << 20)

    def __call__(self, fd: int, buffer: Any, length: int, flags: int) -> int:
        self.offered.append(length)
        while not self.pending:
            got = REAL.recv(fd, self._space, len(self._space), 0)
            if got < 0:
                return fail(_libc_ffi.errno)
            self.received += 1
            self.pending.extend(self.edit(self.received, bytes(_libc_ffi.buffer(self._space, got))))
        item = self.pending.popleft()
        if isinstance(item, int):
            return fail(item)
        ffi.memmove(buffer, item, min(len(item), length))
        return len(item) if flags & MSG_TRUNC else min(len(item), length)


class Text:
    """A read fake serving `chunks` one per call (then end of file), for /proc/net/tcp*; the
    open is real so that the shim closes a real descriptor."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.pending = b""

    def __call__(self, fd: int, buffer: Any, length: int) -> int:
        if not self.pending:
            self.pending = next(self.chunks, b"")
        piece, self.pending = self.pending[:length], self.pending[length:]
        ffi.memmove(buffer, piece, len(piece))
        return len(piece)
