"""The command's text for a whole snapshot, written in C over the packed rows
(tcptable_format.c): no Python object per row.  The same bytes as the Python writer of
``_cli_format`` (the tests compare them row for row).

The columns are lists of the shim's TCPTABLE_COLUMN_* / TCPTABLE_FIELD_* ids; a texts
argument (``process_names``, ``netns_names``, ``containers``) maps a pid or a namespace inode to
its text."""

from __future__ import annotations

from ._native import ffi, lib

# No typing or _errors import unless needed: the command's quick table path uses this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["FIELDS", "OUTPUTS", "format_rows", "table_columns"]

OUTPUTS = {
    "table": lib.TCPTABLE_OUTPUT_TABLE,
    "json": lib.TCPTABLE_OUTPUT_JSON,
    "jsonl": lib.TCPTABLE_OUTPUT_JSONL,
    "csv": lib.TCPTABLE_OUTPUT_CSV,
}

# JSON and CSV: Connection's fields, then process and direction (``_cli_format.row_dict``).
FIELDS = [
    lib.TCPTABLE_FIELD_FAMILY,
    lib.TCPTABLE_FIELD_STATE,
    lib.TCPTABLE_FIELD_LOCAL_ADDRESS,
    lib.TCPTABLE_FIELD_LOCAL_PORT,
    lib.TCPTABLE_FIELD_REMOTE_ADDRESS,
    lib.TCPTABLE_FIELD_REMOTE_PORT,
    lib.TCPTABLE_FIELD_PID,
    lib.TCPTABLE_FIELD_OFFLOAD_STATE,
    lib.TCPTABLE_FIELD_LOCAL_SCOPE_ID,
    lib.TCPTABLE_FIELD_REMOTE_SCOPE_ID,
    lib.TCPTABLE_FIELD_UID,
    lib.TCPTABLE_FIELD_INODE,
    lib.TCPTABLE_FIELD_PROTOCOL,
    lib.TCPTABLE_FIELD_NETNS,
    lib.TCPTABLE_FIELD_PROCESS,
    lib.TCPTABLE_FIELD_DIRECTION,
]


def table_columns(pids: bool, names: bool) -> list[int]:
    """The table's columns: Proto State Local Remote [PID [Process]] Direction."""
    columns = [
        lib.TCPTABLE_COLUMN_PROTO,
        lib.TCPTABLE_COLUMN_STATE,
        lib.TCPTABLE_COLUMN_LOCAL,
        lib.TCPTABLE_COLUMN_REMOTE,
    ]
    if pids:
        columns.append(lib.TCPTABLE_COLUMN_PID)
        if names:
            columns.append(lib.TCPTABLE_COLUMN_PROCESS)
    columns.append(lib.TCPTABLE_COLUMN_DIRECTION)
    return columns


def _check(status: Any, code: int) -> None:
    if code != lib.TCPTABLE_OK:
        from ._errors import raise_for_status_of

        raise_for_status_of(status, code)


def _fill_map(target: Any, texts: Mapping[int, str] | None, keep: list[Any]) -> None:
    """Point a tcptable_format_map at the texts (their memory is kept alive by ``keep``)."""
    if not texts:
        return
    keys = sorted(texts)
    encoded = [texts[key].encode("utf-8", "surrogatepass") for key in keys]
    offsets = [0]
    for text in encoded:
        offsets.append(offsets[-1] + len(text))
    arrays = (
        ffi.new("uint64_t[]", keys),
        ffi.new("uint32_t[]", offsets),
        ffi.new("char[]", b"".join(encoded) or b"\0"),
    )
    keep.extend(arrays)
    target.keys, target.offsets, target.text = arrays
    target.count = len(keys)


def _scope_names(rows: Any, count: int, status: Any) -> dict[int, str]:
    """The interface name of each scope id of the rows (an interface gone since the poll, or
    an OS without the call: left out, and the id is shown as a number)."""
    ids = ffi.new("uint32_t[]", max(2 * count, 1))
    unique = ffi.new("size_t *")
    _check(status, lib.tcptable_rows_scope_ids(status, rows, count, ids, unique))
    names: dict[int, str] = {}
    if unique[0] == 0:
        return names
    import socket  # only for rows with a scope

    for scope_id in ids[0 : unique[0]]:
        try:
            name = socket.if_indextoname(scope_id)
        except (OSError, AttributeError, SystemError):
            # SystemError: CPython's Windows if_indextoname can fail without setting an error
            # for an index that names no interface (seen under Wine).
            continue
        names[scope_id] = name
    return names


def format_rows(
    view: memoryview,
    output: str,
    columns: Sequence[int],
    *,
    directions: memoryview | None = None,
    process_names: Mapping[int, str] | None = None,
    netns_names: Mapping[int, str] | None = None,
    containers: Mapping[int, str] | None = None,
) -> str:
    """The text of the packed rows in ``view`` in ``output`` format ("table", "json", "jsonl",
    "csv"), with these columns (``table_columns()`` or ``FIELDS``); ``directions`` is one
    Direction byte per row (``Snapshot.directions()``), None when not known."""
    count = len(view) // ffi.sizeof("tcptable_row")
    text: Any = ffi.new("tcptable_text *")
    status = ffi.addressof(text[0], "status")
    keep: list[Any] = []
    source: Any = ffi.new("tcptable_format_input *")
    selected = ffi.new("uint8_t[]", list(columns))
    source.count, source.output = count, OUTPUTS[output]
    source.columns, source.column_count = selected, len(columns)
    # The buffers lent to C are released before anything is raised: a traceback that kept
    # an export alive would leave the caller's memoryview unreleasable.
    lent = []
    try:
        if count:
            lent.append(ffi.from_buffer("tcptable_row[]", view))
            source.rows = lent[-1]
        if directions is not None:
            lent.append(ffi.from_buffer("uint8_t[]", directions))
            source.directions = lent[-1]
        _fill_map(source.process_names, process_names, keep)
        _fill_map(source.netns_names, netns_names, keep)
        _fill_map(source.containers, containers, keep)
        _fill_map(source.scope_names, _scope_names(source.rows, count, status), keep)
        code = lib.tcptable_format_rows(source, text)
        written = ""
        if code == lib.TCPTABLE_OK and text.length:
            written = str(ffi.buffer(text.data, text.length), "utf-8", "surrogatepass")
    finally:
        for buffer in lent:
            ffi.release(buffer)
        lib.tcptable_text_free(text)
    _check(status, code)
    return written
