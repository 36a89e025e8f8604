"""``tcptable`` and ``tcptable --json`` / ``--jsonl`` / ``--csv`` without filters: the whole
table through the shim directly, as tcptable/_cli_counts.py does for counts.

It reads the few options it knows from argv itself, polls (sorted, with owners and their names
unless --no-pids / --no-names), and writes the text the C writer gives (tcptable/_cli_text.py),
without argparse or the library's Python layer: their imports are a large share of a run.  For
any other command line it returns None and the full command runs; the OS's refusal raises what
a poll raises.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["run"]

# The options this path takes (each at most once), as (what, value).
_FLAGS = {
    "--json": ("output", "json"),
    "--jsonl": ("output", "jsonl"),
    "--csv": ("output", "csv"),
    "-4": ("family", 1),
    "-6": ("family", 2),
    "-l": ("listening", True),
    "--listening": ("listening", True),
    "--no-pids": ("no_pids", True),
    "--no-names": ("no_names", True),
}


def _options(args: Sequence[str]) -> dict[str, Any] | None:
    """The options as {what: value}, or None when the full parser is needed."""
    seen: dict[str, Any] = {}
    for arg in args:
        if arg not in _FLAGS or _FLAGS[arg][0] in seen:
            return None
        what, value = _FLAGS[arg]
        seen[what] = value
    return seen


def _names(lib: Any, ffi: Any, handle: Any, rows: Any, count: int) -> dict[int, str]:
    """{pid: name} of the rows' owners, as Poller(names=True) gives them."""
    pids = ffi.new("uint32_t[]", max(count, 1))
    unique = ffi.new("size_t *")
    code = lib.tcptable_rows_pids(handle, rows, count, pids, unique)
    size = lib.TCPTABLE_NAME_SIZE
    buffer = ffi.new("char[]", max(unique[0], 1) * size)
    if code == lib.TCPTABLE_OK and unique[0]:
        code = lib.tcptable_process_names(handle, pids, unique[0], buffer)
    if code != lib.TCPTABLE_OK:
        from ._errors import raise_for_status

        raise_for_status(handle, code)
    raw = ffi.buffer(buffer)
    names = {}
    for index in range(unique[0]):
        start = index * size
        end = raw[start : start + size].find(b"\0")
        if end > 0:
            names[int(pids[index])] = raw[start : start + end].decode("utf-8", "replace")
    return names


def run(args: Sequence[str]) -> int | None:
    """Run ``tcptable [--json|--jsonl|--csv] ...`` if ``args`` is a command line this path
    takes; the exit status, or None to run the full command instead."""
    options = _options(args)
    if options is None:
        return None
    output = options.get("output", "table")
    pids = "no_pids" not in options
    names = pids and "no_names" not in options
    from . import _cli_poll, _cli_text
    from ._native import ffi, lib

    if output == "csv":
        # RFC 4180 ends lines with CRLF; the text has them, so no newline translation.
        sys.stdout.reconfigure(newline="")  # type: ignore[union-attr]
    handle = lib.tcptable_poller_new()
    if handle == ffi.NULL:
        raise MemoryError("cannot allocate a tcptable poller")
    try:
        flags = lib.TCPTABLE_SORT | (lib.TCPTABLE_PIDS if pids else 0)
        families = options.get("family", lib.TCPTABLE_FAMILY_IPV4 | lib.TCPTABLE_FAMILY_IPV6)
        listening = "listening" in options
        rows, count = _cli_poll.fetch(lib, ffi, handle, families, flags, listening)
        process_names = _names(lib, ffi, handle, rows, count) if names else None
    finally:
        lib.tcptable_poller_free(handle)
    status = ffi.new("tcptable_status *")
    directions = ffi.new("uint8_t[]", max(count, 1))
    code = lib.tcptable_directions(status, rows, count, directions)
    if code != lib.TCPTABLE_OK:
        from ._errors import raise_for_status_of

        raise_for_status_of(status, code)
    columns = _cli_text.table_columns(pids, names) if output == "table" else _cli_text.FIELDS
    text = _cli_text.format_rows(
        memoryview(ffi.buffer(rows, count * ffi.sizeof("tcptable_row"))),
        output,
        columns,
        directions=memoryview(ffi.buffer(directions, count)),
        process_names=process_names,
    )
    sys.stdout.write(text)
    sys.stdout.flush()
    if output == "table":
        print(f"{count} connection" if count == 1 else f"{count} connections", file=sys.stderr)
    return 0
