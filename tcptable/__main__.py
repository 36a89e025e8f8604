"""``python -m tcptable``: print the live TCP table, netstat-style."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import Connection, OffloadState, TcpTableError, snapshot


def _endpoint(family: int, address: str, port: int, scope_id: int) -> str:
    if family == 6:
        scope = f"%{scope_id}" if scope_id else ""
        return f"[{address}{scope}]:{port}"
    return f"{address}:{port}"


def format_table(connections: Sequence[Connection]) -> str:
    """The rows as aligned text: proto, state, local, remote, pid, offload."""
    header = ("Proto", "State", "Local Address", "Remote Address", "PID", "Offload")
    lines = [header]
    for c in connections:
        lines.append(
            (
                f"TCP{'v6' if c.family == 6 else ''}",
                c.state.name,
                _endpoint(c.family, c.local_address, c.local_port, c.local_scope_id),
                _endpoint(c.family, c.remote_address, c.remote_port, c.remote_scope_id),
                str(c.pid) if c.pid else "-",
                OffloadState(c.offload_state).name,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tcptable", description="Print the live TCP connection table."
    )
    parser.add_argument("--family", choices=("all", "ipv4", "ipv6"), default="all")
    parser.add_argument("--no-pids", action="store_true", help="skip the owning-pid lookup")
    args = parser.parse_args(argv)
    try:
        table = snapshot(family=args.family, sort=True, pids=not args.no_pids)
    except TcpTableError as error:
        print(f"tcptable: {error}", file=sys.stderr)
        return 1
    try:
        print(format_table(list(table)), flush=True)
    except BrokenPipeError:
        # The reader (`| head`) left: not an error worth a traceback.  Point stdout at devnull
        # so that the interpreter's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    print(f"{len(table)} connections", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
