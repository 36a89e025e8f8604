"""Exceptions, and the one place where a shim result code becomes one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._native import ffi, lib

if TYPE_CHECKING:
    from _cffi_backend import _CDataBase as CData

__all__ = ["NotSupportedError", "TcpTableError", "raise_for_status", "raise_for_status_of"]


class TcpTableError(OSError):
    """The OS could not give the TCP table.

    ``errno`` and ``strerror`` are set as for any OSError; a Windows error code is also in
    ``winerror`` on Windows (and, on every OS, in ``os_error``).  The message names the call
    that failed and carries the OS's own text (strerror, or FormatMessage on Windows).
    """

    os_error: int | None = None


class NotSupportedError(TcpTableError):
    """This OS, or this source on it, has no TCP table (ERROR_NOT_SUPPORTED)."""


def raise_for_status(handle: CData, code: int) -> None:
    """Raise the exception for a non-zero shim result ``code`` of ``handle``'s last call."""
    if code != lib.TCPTABLE_OK:
        raise_for_status_of(lib.tcptable_poller_status(handle), code)


def raise_for_status_of(status: Any, code: int) -> None:
    """The same for a call that reported into a caller's ``tcptable_status`` (no poller)."""
    if code == lib.TCPTABLE_OK:
        return
    text = ffi.string(status.message)  # a char array: bytes
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if code == lib.TCPTABLE_ERR_NO_MEMORY:
        raise MemoryError(message)
    if code == lib.TCPTABLE_ERR_ARGUMENT:
        raise ValueError(message)
    cls = NotSupportedError if code == lib.TCPTABLE_ERR_NOT_SUPPORTED else TcpTableError
    os_error = int(status.os_error)
    if status.os_error_kind == lib.TCPTABLE_OS_ERROR_WIN32:
        # OSError's 4-argument form sets winerror (and the matching errno) on Windows.  Its
        # winerror is a C long: NTSTATUS codes such as 0xC0000001 go in signed, as HRESULTs do.
        winerror = os_error - (1 << 32) if os_error >= 1 << 31 else os_error
        error = cls(None, message, None, winerror)
    elif status.os_error_kind == lib.TCPTABLE_OS_ERROR_ERRNO:
        error = cls(os_error, message)
    else:
        error = cls(message)
    error.os_error = os_error if status.os_error_kind != lib.TCPTABLE_OS_ERROR_NONE else None
    raise error
