"""The C shim's contract, called directly: misuse comes back as a clear exception."""

from __future__ import annotations

import sys

import pytest
from conftest import Pair

import tcptable
from tcptable._errors import raise_for_status
from tcptable._native import ffi, lib

ALL = lib.TCPTABLE_FAMILY_IPV4 | lib.TCPTABLE_FAMILY_IPV6


@pytest.fixture
def handle():
    poller = ffi.gc(lib.tcptable_poller_new(), lib.tcptable_poller_free)
    assert poller != ffi.NULL
    return poller


def test_decode_without_fetch_is_an_argument_error(handle) -> None:
    written = ffi.new("size_t *")
    rows = ffi.new("tcptable_row[]", 4)
    with pytest.raises(ValueError, match="without a successful tcptable_fetch"):
        raise_for_status(handle, lib.tcptable_decode(handle, rows, 4, written))


def test_decode_into_too_few_rows_is_refused(handle, pair: Pair) -> None:
    count = ffi.new("size_t *")
    raise_for_status(handle, lib.tcptable_fetch(handle, ALL, lib.TCPTABLE_SOURCE_DEFAULT, 0, count))
    assert count[0] >= 3  # the pair's own rows
    rows = ffi.new("tcptable_row[]", count[0])
    written = ffi.new("size_t *")
    with pytest.raises(ValueError, match=r"row buffer holds 0 rows, the table has \d+"):
        raise_for_status(handle, lib.tcptable_decode(handle, rows, 0, written))


@pytest.mark.parametrize(
    ("families", "source", "flags", "message"),
    [
        (0, 0, 0, "invalid families mask 0"),
        (8, 0, 0, "invalid families mask 8"),
        (ALL, 7, 0, "invalid source 7"),
        (ALL, 0, 64, "invalid flags 64"),
    ],
)
def test_fetch_rejects_bad_arguments(handle, families, source, flags, message) -> None:
    count = ffi.new("size_t *")
    with pytest.raises(ValueError, match=message):
        raise_for_status(handle, lib.tcptable_fetch(handle, families, source, flags, count))


def test_status_is_cleared_by_a_successful_fetch(handle) -> None:
    count = ffi.new("size_t *")
    assert lib.tcptable_fetch(handle, 0, 0, 0, count) == lib.TCPTABLE_ERR_ARGUMENT
    assert lib.tcptable_fetch(handle, ALL, 0, 0, count) == lib.TCPTABLE_OK
    status = lib.tcptable_poller_status(handle)
    assert status.code == lib.TCPTABLE_OK
    assert ffi.string(status.message) == b""


@pytest.mark.skipif(sys.platform != "win32", reason="the Linux sources exist off Windows")
@pytest.mark.parametrize("source", ["netlink", "proc"])
def test_linux_sources_are_not_supported_on_windows(source: str) -> None:
    with (
        tcptable.Poller(source=source) as poller,
        pytest.raises(tcptable.NotSupportedError, match="not available on Windows"),
    ):
        poller.poll()
