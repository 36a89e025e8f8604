"""``tcptable --counts`` by state, port or direction as a table: the command's quickest path.

Python's start-up is most of such a run: importing argparse, typing, enum and re costs more
than fetching and counting 20,000 rows.  This path reads the few options it knows from argv
itself and calls the shim directly (tcptable._native only), printing what the full command
prints, and raising what its poll raises.  For any other command line it returns None and the
full command runs.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["run"]

_STATE_NAMES = (
    "",
    "CLOSED",
    "LISTEN",
    "SYN_SENT",
    "SYN_RCVD",
    "ESTABLISHED",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
    "DELETE_TCB",
)
_DIRECTION_NAMES = ("UNKNOWN", "LISTEN", "INBOUND", "OUTBOUND")
# The options this path takes (each at most once), as (what, value).
_FLAGS = {
    "-4": ("family", 1),
    "-6": ("family", 2),
    "-l": ("listening", True),
    "--listening": ("listening", True),
    "--no-pids": ("no_pids", True),
    "--no-names": ("no_names", True),
}
_KEYS = ("state", "port", "direction")


def _options(args: Sequence[str]) -> tuple[str, int, bool] | None:
    """(count key, families, listening only), or None when the full parser is needed."""
    key = None
    seen: dict[str, object] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--counts" and key is None:
            following = args[index + 1] if index + 1 < len(args) else None
            if following is not None and not following.startswith("-"):
                if following not in _KEYS:
                    return None  # another key, or a bad one: the parser says which
                key, index = following, index + 1
            else:
                key = "state"
        elif arg.startswith("--counts=") and key is None and arg[9:] in _KEYS:
            key = arg[9:]
        elif arg in _FLAGS and _FLAGS[arg][0] not in seen:
            what, value = _FLAGS[arg]
            seen[what] = value
        else:
            return None
        index += 1
    if key is None:
        return None
    families = seen.get("family", 3)
    return key, families if isinstance(families, int) else 3, "listening" in seen


def run(args: Sequence[str]) -> int | None:
    """Run ``tcptable --counts ...`` if ``args`` is a command line this path takes; the exit
    status, or None to run the full command instead.  The OS's refusal raises TcpTableError,
    as the full command's poll does."""
    options = _options(args)
    if options is None:
        return None
    key, families, listening = options
    from . import _cli_poll
    from ._native import ffi, lib

    handle = lib.tcptable_poller_new()
    if handle == ffi.NULL:
        raise MemoryError("cannot allocate a tcptable poller")
    try:
        rows, count = _cli_poll.fetch(lib, ffi, handle, families, 0, listening)
        status = ffi.new("tcptable_status *")
        directions = ffi.NULL
        code = lib.TCPTABLE_OK
        if key == "direction":
            directions = ffi.new("uint8_t[]", max(count, 1))
            code = lib.tcptable_directions(status, rows, count, directions)
        capacity = min(max(count, 1), 65536)
        values = ffi.new("uint64_t[]", capacity)
        counts = ffi.new("uint64_t[]", capacity)
        groups = ffi.new("size_t *")
        shim_key = {
            "state": lib.TCPTABLE_KEY_STATE,
            "port": lib.TCPTABLE_KEY_LOCAL_PORT,
            "direction": lib.TCPTABLE_KEY_DIRECTION,
        }[key]
        if code == lib.TCPTABLE_OK:
            code = lib.tcptable_count_by(
                status, rows, count, shim_key, directions, values, counts, capacity, groups
            )
        if code != lib.TCPTABLE_OK:
            from ._errors import raise_for_status_of

            raise_for_status_of(status, code)
    finally:
        lib.tcptable_poller_free(handle)
    keys: list[int] = ffi.unpack(values, groups[0])  # type: ignore[assignment]
    numbers: list[int] = ffi.unpack(counts, groups[0])  # type: ignore[assignment]
    sys.stdout.write(render(key, keys, numbers))
    sys.stdout.flush()
    return 0


def render(key: str, values: Sequence[int], counts: Sequence[int]) -> str:
    """The table of the groups (values[i] has counts[i] rows) as ``--counts key`` prints it:
    _cli_format.write_counts's two columns, largest count first, the count right-aligned."""
    names = _STATE_NAMES if key == "state" else _DIRECTION_NAMES if key == "direction" else None
    totals = [(str(v) if names is None else names[v], n) for v, n in zip(values, counts)]
    totals.sort(key=lambda item: (-item[1], item[0]))
    lines = [(key.upper(), "COUNT"), *((label, str(number)) for label, number in totals)]
    width = max(len(label) for label, _ in lines)
    count_width = max(len(number) for _, number in lines)
    return "".join(f"{label:<{width}}  {n:>{count_width}}".rstrip() + "\n" for label, n in lines)
