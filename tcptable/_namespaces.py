"""Which network namespaces a poll reads (Linux), and what it found in each."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Union

from ._errors import raise_for_status
from ._native import ffi, lib

__all__ = ["NamespacesArgument", "apply_namespaces", "check_namespaces", "namespaces_of_poll"]

NamespacesArgument = Union[None, str, Iterable[Union[int, str, "os.PathLike[str]"]]]
_PID_LIMIT = 0xFFFFFFFF


def _text(array: Any) -> str:
    """A C char array's text."""
    raw = ffi.string(array)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def check_namespaces(namespaces: object) -> tuple[int, tuple[int, ...], tuple[str, ...]]:
    """(mode, pids, paths) of a ``namespaces`` argument, checked."""
    if namespaces is None:
        return lib.TCPTABLE_NAMESPACES_OWN, (), ()
    if isinstance(namespaces, str):
        if namespaces != "all":
            raise ValueError(
                f"namespaces must be None, 'all' or an iterable of pids and namespace paths, "
                f"not {namespaces!r}"
            )
        return lib.TCPTABLE_NAMESPACES_ALL, (), ()
    if isinstance(namespaces, (bytes, bytearray)) or not isinstance(namespaces, Iterable):
        raise TypeError(
            f"namespaces must be None, 'all' or an iterable of pids and namespace paths, "
            f"not {type(namespaces).__name__}"
        )
    pids: list[int] = []
    paths: list[str] = []
    for item in namespaces:
        if isinstance(item, bool) or not isinstance(item, (int, str, os.PathLike)):
            raise TypeError(
                f"namespaces items must be pids (int) or namespace file paths (str or "
                f"PathLike), not {item!r}"
            )
        if isinstance(item, int):
            if not 0 < item <= _PID_LIMIT:
                raise ValueError(f"namespaces: {item!r} is not a pid (1..{_PID_LIMIT})")
            pids.append(item)
            continue
        path = os.fspath(item)
        if not isinstance(path, str) or not path or "\0" in path:
            raise ValueError(f"namespaces: {item!r} is not a namespace file path")
        paths.append(path)
    if not pids and not paths:
        raise ValueError("namespaces: the iterable names no namespace (use None for the own one)")
    return lib.TCPTABLE_NAMESPACES_LIST, tuple(pids), tuple(paths)


def apply_namespaces(handle: Any, mode: int, pids: tuple[int, ...], paths: tuple[str, ...]) -> None:
    """Select the namespaces of ``handle``'s polls; a missing pid or file raises
    FileNotFoundError, a file that is not a network namespace ValueError, both naming it."""
    encoded = [ffi.new("char[]", os.fsencode(path)) for path in paths]
    path_array = ffi.new("char *[]", encoded) if encoded else ffi.NULL
    pid_array = ffi.new("uint32_t[]", pids) if pids else ffi.NULL
    bad = ffi.new("size_t *")
    code = lib.tcptable_poller_set_namespaces(
        handle, mode, pid_array, len(pids), path_array, len(paths), bad
    )
    if code == lib.TCPTABLE_OK:
        return
    status: Any = lib.tcptable_poller_status(handle)
    if mode == lib.TCPTABLE_NAMESPACES_LIST and code != lib.TCPTABLE_ERR_NO_MEMORY:
        index = bad[0]
        what = f"pid {pids[index]}" if index < len(pids) else repr(paths[index - len(pids)])
        message = _text(status.message)
        if code == lib.TCPTABLE_ERR_ARGUMENT:
            raise ValueError(f"namespaces: {what} is not a network namespace ({message})")
        if status.os_error_kind == lib.TCPTABLE_OS_ERROR_ERRNO:
            raise OSError(int(status.os_error), f"namespaces: no {what} ({message})")
    raise_for_status(handle, code)


def namespaces_of_poll(
    handle: Any, mode: int
) -> tuple[dict[int, str | None], dict[int | str, OSError]]:
    """``Snapshot.namespaces`` and ``Snapshot.namespace_errors`` of ``handle``'s last poll."""
    if mode == lib.TCPTABLE_NAMESPACES_OWN:
        own = int(lib.tcptable_poller_own_namespace(handle))
        return ({own: None} if own else {}), {}
    read: dict[int, str | None] = {}
    errors: dict[int | str, OSError] = {}
    for index in range(lib.tcptable_poller_namespace_count(handle)):
        entry: Any = lib.tcptable_poller_namespace(handle, index)
        inode = int(entry.inode)
        if entry.code == lib.TCPTABLE_OK:
            name = _text(entry.name)
            read[inode] = name or None
            continue
        message = _text(entry.message)
        if entry.os_error_kind == lib.TCPTABLE_OS_ERROR_ERRNO:
            error = OSError(int(entry.os_error), message)  # the errno's subclass
        else:
            error = OSError(message)
        errors[inode or _text(entry.path)] = error
    return read, errors
