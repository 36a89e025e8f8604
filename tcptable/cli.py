"""The ``tcptable`` command (also ``python -m tcptable``): the live TCP table, counts, changes.

Exit status: 0 success (also after Ctrl-C, or when the reader of a pipe leaves), 1 the OS
refused (message on stderr), 2 bad usage (argparse's message naming the option).
``tcptable exporter ...`` runs the Prometheus exporter (tcptable/_exporter_command.py).
"""

from __future__ import annotations

import os
import sys

# Everything else is imported where it is used: `tcptable --counts` runs without argparse,
# typing or enum (tcptable/_cli_counts.py), and the table without the writers it does not use.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any, Callable

    from ._changes import Changes
    from ._cli_args import program_name
    from ._cli_format import Event, Record
    from ._poller import Poller
    from ._snapshot import Snapshot

__all__ = ["main", "program_name"]


def __getattr__(name: str) -> Any:
    if name == "program_name":  # _cli_args imports argparse: only when asked
        from ._cli_args import program_name

        return program_name
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------- running


class _Query:
    """The options turned into Poller keywords, plus the filters applied here in Python
    (``--port`` matches either end and ``--process`` names; the library filters are ANDed)."""

    def __init__(self, options: argparse.Namespace) -> None:
        from ._cli_args import flatten, namespaces_of
        from ._enums import State

        self.pids = not options.no_pids
        self.names = self.pids and not options.no_names
        protocols = set(options.protocols or ["tcp"])
        self.protocol = "all" if len(protocols) == 2 else protocols.pop()
        states = set(flatten(options.state))
        # A UDP socket listens when it is bound and not connected: its state is NONE (every
        # UDP row's) and its remote port 0, which is checked here.
        self.udp_listening = options.listening and self.protocol != "tcp"
        if options.listening:
            states.add(State.LISTEN)
            if self.udp_listening:
                states.add(State.NONE)
        keywords: dict[str, Any] = {
            "family": options.family or "all",
            "pids": self.pids,
            "protocol": self.protocol,
        }
        if self.names:
            keywords["names"] = True
        if states:
            keywords["states"] = states
        for keyword, values in (
            ("local_ports", options.sport),
            ("remote_ports", options.dport),
            ("owner_pids", options.pid),
        ):
            if values:
                keywords[keyword] = flatten(values)
        self.namespaces = namespaces_of(options.netns)
        if self.namespaces is not None:
            keywords["namespaces"] = self.namespaces
            keywords["containers"] = self.pids
        self.keywords = keywords
        self.ports = set(flatten(options.port))
        self.process_patterns: list[str] = options.process

    @property
    def filters_in_python(self) -> bool:
        return bool(self.ports or self.process_patterns or self.udp_listening)

    def poller(self, sort: bool, owners: bool = True) -> Poller:
        """A poller for the options; ``owners=False`` (counts that show no pid or name) skips
        the owner lookup unless a filter needs the owners."""
        keywords = self.keywords
        if not owners and not (self.process_patterns or "owner_pids" in keywords):
            keywords = {**keywords, "pids": False}
            keywords.pop("names", None)
            keywords.pop("containers", None)
        from ._poller import Poller

        return Poller(sort=sort, **keywords)

    def wants(self, record: Record) -> bool:
        from ._enums import Protocol

        connection = record.connection
        if (
            self.udp_listening
            and connection.protocol == Protocol.UDP
            and connection.remote_port != 0
        ):
            return False
        if self.ports and not (
            connection.local_port in self.ports or connection.remote_port in self.ports
        ):
            return False
        if self.process_patterns:
            import fnmatch

            name = record.process
            return name is not None and any(
                fnmatch.fnmatchcase(name, pattern) for pattern in self.process_patterns
            )
        return True


def _namespace_label(table: Snapshot, inode: int) -> str:
    """A namespace as the command shows it: its name, else its inode."""
    return table.namespaces.get(inode) or str(inode)


def _records(table: Snapshot, directions: Iterable[int] | None) -> Iterator[Record]:
    """The rows with their process names, namespaces, containers, and their directions when
    given."""
    from ._cli_format import Record
    from ._enums import Direction

    names = table.process_names or {}
    containers = table.containers or {}
    direction_names = {member.value: member.name for member in Direction}
    rows: Iterable[tuple[Any, int | None]] = (
        zip(table, directions) if directions is not None else ((c, None) for c in table)
    )
    for connection, direction in rows:
        container = containers.get(connection.pid)
        yield Record(
            connection,
            names.get(connection.pid),
            direction_names[direction] if direction is not None else None,
            _namespace_label(table, connection.netns),
            container.id[:12] if container is not None else None,
        )


def _report_unread(table: Snapshot) -> None:
    """Say on stderr which network namespaces the poll could not read: never a silent gap."""
    for key, error in table.namespace_errors.items():
        print(f"netns {key}: not read: {error.strerror or error}", file=sys.stderr)


def _connections(count: int) -> str:
    return f"{count} connection" if count == 1 else f"{count} connections"


def _show_table(query: _Query, output: str) -> int:
    with query.poller(sort=True) as poller:
        table = poller.poll()
    _report_unread(table)
    if query.filters_in_python:
        from . import _cli_format

        records = [r for r in _records(table, table.directions()) if query.wants(r)]
        _cli_format.write_records(
            sys.stdout,
            records,
            output,
            pids=query.pids,
            names=query.names,
            namespaces=query.namespaces is not None,
        )
        shown = len(records)
    else:
        # Every row: written in C over the packed rows, no Python object per row.
        from . import _cli_text
        from ._native import lib

        columns = (
            _cli_text.table_columns(query.pids, query.names)
            if output == "table"
            else list(_cli_text.FIELDS)
        )
        containers = {pid: c.id[:12] for pid, c in (table.containers or {}).items()}
        if query.namespaces is not None and output == "table":
            columns.append(lib.TCPTABLE_COLUMN_NETNS)
            if containers:
                columns.append(lib.TCPTABLE_COLUMN_CONTAINER)
        sys.stdout.write(
            _cli_text.format_rows(
                table.view,
                output,
                columns,
                directions=table.directions(),
                process_names=table.process_names,
                netns_names={n: name for n, name in table.namespaces.items() if name},
                containers=containers,
            )
        )
        shown = len(table)
    sys.stdout.flush()
    if output == "table":
        print(_connections(shown), file=sys.stderr)
    return 0


def _label(key: str, value: Any) -> str:
    """A ``count_by`` value as --counts shows it: state and direction names, "-" for no pid or
    no name."""
    if key in ("state", "direction"):
        return str(value.name)
    if key == "protocol":
        return str(value.name).lower()
    if key in ("pid", "process"):
        return str(value) if value else "-"
    return str(value)


# A row's --counts value as shown, for counting row by row (the command's own filters).
_RECORD_LABELS: dict[str, Callable[[Record], str]] = {
    "state": lambda r: r.connection.state.name,
    "port": lambda r: str(r.connection.local_port),
    "pid": lambda r: str(r.connection.pid) if r.connection.pid else "-",
    "process": lambda r: r.process or "-",
    "remote": lambda r: r.connection.remote_address,
    "direction": lambda r: r.direction or "-",
    "netns": lambda r: r.netns or "-",
    "protocol": lambda r: r.connection.protocol.name.lower(),
}


def _counts(query: _Query, key: str) -> list[tuple[str, int]]:
    with query.poller(sort=False, owners=key in ("pid", "process")) as poller:
        table = poller.poll()
    _report_unread(table)
    import collections  # after the poll: the OS's refusal comes first

    from ._cli_args import COUNTS_OPTION

    totals: collections.Counter[str] = collections.Counter()
    if query.filters_in_python:
        # Filters the library does not have: count the rows that pass them one by one.
        directions = table.directions() if key == "direction" else None
        for record in _records(table, directions):
            if query.wants(record):
                totals[_RECORD_LABELS[key](record)] += 1
    else:
        names = table.process_names or {}
        for value, count in table.count_by(COUNTS_OPTION[key]).items():
            shown = names.get(value) if key == "process" else value
            if key == "netns":
                shown = _namespace_label(table, value)
            totals[_label(key, shown)] += count
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _events(changes: Changes, query: _Query) -> list[Event]:
    """The changes of one poll as events that pass the filters: finished (connections that
    opened and closed between the two polls, from close events), closed, changed, opened."""
    from ._cli_format import Event, Record
    from ._enums import State

    after = changes.after.process_names or {}
    before = changes.before.process_names or {}
    events = []
    if changes.finished is not None and len(changes.finished):
        unseen = changes.finished.unseen
        for connection, stats in zip(unseen, _stats_records(unseen)):
            record = Record(connection, None, None)
            if query.wants(record):
                sent, received = stats
                events.append(
                    Event("finished", changes.after.timestamp, record, None, sent, received)
                )
    for connection in changes.closed:
        record = Record(connection, before.get(connection.pid), None)
        if query.wants(record):
            events.append(Event("closed", changes.after.timestamp, record, None))
    for connection, old in zip(changes.changed, changes.changed_from):
        record = Record(connection, after.get(connection.pid), None)
        if query.wants(record):
            events.append(Event("changed", changes.after.timestamp, record, State(old).name))
    for connection in changes.opened:
        record = Record(connection, after.get(connection.pid), None)
        if query.wants(record):
            events.append(Event("opened", changes.after.timestamp, record, None))
    return events


def _stats_records(table: Snapshot) -> Iterator[tuple[int, int]]:
    """(bytes_acked, bytes_received) of each row of a table with stats, without numpy."""
    import struct

    from ._native import ffi
    from ._socket_stats import STATS_SIZE

    layout = struct.Struct("=QQ")
    offset = ffi.offsetof("tcptable_stats", "bytes_acked")
    stats = table.stats
    for index in range(len(table)):
        sent, received = layout.unpack_from(stats, index * STATS_SIZE + offset)
        yield sent, received


def _watch_stream(interval: float, keywords: dict[str, Any]) -> Iterator[Changes]:
    """tcptable.watch with close events where the platform has them (then connections that
    open and close between two polls are shown too), else without."""
    from ._errors import NotSupportedError
    from ._watch import watch

    try:
        return watch(interval, closes=True, **keywords)
    except NotSupportedError:
        return watch(interval, **keywords)


def _watch(query: _Query, output: str, interval: float) -> int:
    import contextlib
    from collections.abc import Generator
    from typing import cast

    from . import _cli_format

    # tcptable.watch sleeps to deadlines (no drift); closing the generator closes its poller.
    stream = cast("Generator[Changes, None, None]", _watch_stream(interval, query.keywords))
    with contextlib.closing(stream):
        # The first Changes is the starting point (every row in it counts as opened): not
        # printed; changes are reported from the next poll on.
        start = next(stream).after
        if query.filters_in_python:
            shown = sum(1 for record in _records(start, None) if query.wants(record))
        else:
            shown = len(start)
        print(
            f"watching {_connections(shown)} every {interval:g} s (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        header = True
        for changes in stream:
            events = _events(changes, query)
            if events or (header and output == "csv"):
                _cli_format.write_events(sys.stdout, events, output, header=header)
                header = False
                sys.stdout.flush()
    return 0


def _stdout_gone() -> None:
    # The reader left (`| head`): point stdout at devnull so the interpreter's own flush at
    # exit does not fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); returns the exit status.
    Bad usage exits 2 through argparse (SystemExit)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from ._cli_counts import run as run_counts

        status = run_counts(args)  # None: not a command line it takes
        if status is None:
            from ._cli_table import run as run_table

            status = run_table(args)
        if status is not None:
            return status
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        _stdout_gone()
        return 0
    except OSError as error:  # TcpTableError (an OSError), imported only when raised
        from ._cli_args import program_name
        from ._errors import TcpTableError

        if not isinstance(error, TcpTableError):
            raise
        print(f"{prog or program_name()}: {error}", file=sys.stderr)
        return 1
    from ._cli_args import build_parser, check, program_name
    from ._errors import TcpTableError

    prog = prog or program_name()
    if args[:1] == ["exporter"]:
        from ._exporter_command import main as exporter_main

        return exporter_main(args[1:], prog=f"{prog} exporter")
    parser = build_parser(prog)
    options = parser.parse_args(args)
    check(parser, options)
    output = options.output or "table"
    query = _Query(options)
    if output == "csv":
        # RFC 4180 ends lines with CRLF; the csv module writes them, so no newline translation.
        sys.stdout.reconfigure(newline="")  # type: ignore[union-attr]
    try:
        if options.watch:
            return _watch(query, output, options.interval or 1.0)
        if options.counts:
            counts = _counts(query, options.counts)
            from . import _cli_format

            _cli_format.write_counts(sys.stdout, options.counts, counts, output)
            sys.stdout.flush()
            return 0
        return _show_table(query, output)
    except TcpTableError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        _stdout_gone()
        return 0
