"""The ``tcptable`` command (also ``python -m tcptable``): the live TCP table, counts, changes.

Exit status: 0 success (also after Ctrl-C, or when the reader of a pipe leaves), 1 the OS
refused (message on stderr), 2 bad usage (argparse's message naming the option).
``tcptable exporter ...`` runs the Prometheus exporter (tcptable/exporter.py).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fnmatch
import os
import sys
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, cast

from . import _cli_format
from ._changes import Changes
from ._cli_format import Event, Record
from ._enums import Direction, State
from ._errors import TcpTableError
from ._poller import Poller
from ._snapshot import Snapshot
from ._watch import watch

__all__ = ["main"]

COUNT_KEYS = ("state", "port", "pid", "process", "remote", "direction")
# --counts key -> Snapshot.count_by key (process: counted by pid, then grouped by name)
_COUNT_BY = {
    "state": "state",
    "port": "local_port",
    "pid": "pid",
    "process": "pid",
    "remote": "remote_address",
    "direction": "direction",
}


def program_name(argv0: str | None = None) -> str:
    """The name to show in usage lines: ``tcptable`` as a command, ``python -m tcptable``
    when run as a module (argv[0] is then the path of ``__main__.py``)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = Path(argv0).name if argv0 else ""
    if not name or name in ("__main__.py", "-c"):
        return f"{Path(sys.executable).stem or 'python'} -m tcptable"
    return name[:-4] if name.lower().endswith(".exe") else name


# ---------------------------------------------------------------------------- argument types


def _comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"empty item in {text!r}")
    return items


def _states(text: str) -> list[State]:
    states = []
    for item in _comma_list(text):
        try:
            states.append(State[item.upper()])
        except KeyError:
            names = ", ".join(member.name.lower() for member in State)
            raise argparse.ArgumentTypeError(f"unknown state {item!r} (one of {names})") from None
    return states


def _int_list(text: str, what: str, low: int, high: int) -> list[int]:
    values = []
    for item in _comma_list(text):
        try:
            value = int(item, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {item!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} {value} is not in {low}..{high}")
        values.append(value)
    return values


def _ports(text: str) -> list[int]:
    return _int_list(text, "port", 0, 65535)


def _pids(text: str) -> list[int]:
    return _int_list(text, "pid", 1, 2**32 - 1)


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0 seconds")
    return value


# ---------------------------------------------------------------------------- the parser


class _Version(argparse.Action):
    """--version, reading the installed version only when asked (it opens metadata files)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from . import __version__

        sys.stdout.write(f"{parser.prog} {__version__}\n")
        parser.exit()


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The command's options (``tcptable exporter`` has its own parser)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show the live TCP connection table, counts of it, or its changes.",
        epilog=(
            f"Prometheus exporter: {prog} exporter --listen 127.0.0.1:9464 (see "
            f"{prog} exporter --help).  Exit status: 0 ok, 1 the OS refused, 2 bad usage."
        ),
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")

    what = parser.add_argument_group("what to show (default: the table)")
    modes = what.add_mutually_exclusive_group()
    modes.add_argument(
        "--counts",
        nargs="?",
        const="state",
        choices=COUNT_KEYS,
        metavar="KEY",
        help=f"count rows by KEY ({', '.join(COUNT_KEYS)}; default state)",
    )
    modes.add_argument(
        "--watch",
        action="store_true",
        help="print changes as they happen: + opened, - closed, ~ state changed",
    )
    what.add_argument(
        "--interval",
        type=positive_seconds,
        metavar="SECONDS",
        help="with --watch: seconds between polls (default 1)",
    )

    formats = parser.add_argument_group("output format (default: aligned text)")
    output = formats.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        help="one JSON array (with --watch: one event object a line)",
    )
    output.add_argument(
        "--jsonl", dest="output", action="store_const", const="jsonl", help="one JSON object a line"
    )
    output.add_argument(
        "--csv",
        dest="output",
        action="store_const",
        const="csv",
        help="CSV with a header row (RFC 4180)",
    )

    filters = parser.add_argument_group("filters (repeat an option, or give a comma list)")
    family = filters.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const="ipv4", help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const="ipv6", help="IPv6 only")
    family.add_argument("--family", choices=("all", "ipv4", "ipv6"), help="all, ipv4 or ipv6")
    filters.add_argument(
        "-l",
        "--listening",
        action="store_true",
        help="listening sockets (the same as --state listen)",
    )
    filters.add_argument(
        "--state",
        type=_states,
        action="append",
        default=[],
        metavar="NAME",
        help="rows in this state (case-insensitive, e.g. established)",
    )
    filters.add_argument(
        "--port",
        type=_ports,
        action="append",
        default=[],
        metavar="N",
        help="rows with this port at either end",
    )
    filters.add_argument(
        "--sport",
        type=_ports,
        action="append",
        default=[],
        metavar="N",
        help="rows with this local port",
    )
    filters.add_argument(
        "--dport",
        type=_ports,
        action="append",
        default=[],
        metavar="N",
        help="rows with this remote port",
    )
    filters.add_argument(
        "--pid",
        type=_pids,
        action="append",
        default=[],
        metavar="N",
        help="rows owned by this process id",
    )
    filters.add_argument(
        "--process",
        action="append",
        default=[],
        metavar="NAME",
        help="rows owned by a process of this name (exact, or a glob: 'py*')",
    )

    owners = parser.add_argument_group("owners")
    owners.add_argument(
        "--no-pids",
        action="store_true",
        help="skip the owner lookup (faster on Linux): no PID, no Process",
    )
    owners.add_argument("--no-names", action="store_true", help="skip process names")
    return parser


def _flatten(lists: Iterable[Iterable[Any]]) -> list[Any]:
    return sorted({item for items in lists for item in items})


def _check(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Combinations argparse cannot express: each exits 2 naming the options."""
    if options.interval is not None and not options.watch:
        parser.error("argument --interval: only with --watch")
    if options.no_pids:
        for name in ("pid", "process"):
            if getattr(options, name):
                parser.error(f"argument --{name}: needs owners, so not with --no-pids")
        if options.counts in ("pid", "process"):
            parser.error(f"argument --counts: {options.counts} needs owners, not with --no-pids")
    if options.no_names:
        if options.process:
            parser.error("argument --process: needs process names, so not with --no-names")
        if options.counts == "process":
            parser.error("argument --counts: process needs process names, not with --no-names")


# ---------------------------------------------------------------------------- running


class _Query:
    """The options turned into Poller keywords, plus the filters applied here in Python
    (``--port`` matches either end and ``--process`` names; the library filters are ANDed)."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.pids = not options.no_pids
        self.names = self.pids and not options.no_names
        states = set(_flatten(options.state))
        if options.listening:
            states.add(State.LISTEN)
        keywords: dict[str, Any] = {"family": options.family or "all", "pids": self.pids}
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
                keywords[keyword] = _flatten(values)
        self.keywords = keywords
        self.ports = set(_flatten(options.port))
        self.process_patterns: list[str] = options.process

    @property
    def filters_in_python(self) -> bool:
        return bool(self.ports or self.process_patterns)

    def poller(self, sort: bool) -> Poller:
        return Poller(sort=sort, **self.keywords)

    def wants(self, record: Record) -> bool:
        connection = record.connection
        if self.ports and not (
            connection.local_port in self.ports or connection.remote_port in self.ports
        ):
            return False
        if self.process_patterns:
            name = record.process
            return name is not None and any(
                fnmatch.fnmatchcase(name, pattern) for pattern in self.process_patterns
            )
        return True


def _records(table: Snapshot, directions: Iterable[int] | None) -> Iterator[Record]:
    """The rows with their process names, and their directions when given."""
    names = table.process_names or {}
    if directions is None:
        for connection in table:
            yield Record(connection, names.get(connection.pid), None)
        return
    direction_names = {member.value: member.name for member in Direction}
    for connection, direction in zip(table, directions):
        yield Record(connection, names.get(connection.pid), direction_names[direction])


def _connections(count: int) -> str:
    return f"{count} connection" if count == 1 else f"{count} connections"


def _show_table(query: _Query, output: str) -> int:
    with query.poller(sort=True) as poller:
        table = poller.poll()
    records = [r for r in _records(table, table.directions()) if query.wants(r)]
    _cli_format.write_records(sys.stdout, records, output, pids=query.pids, names=query.names)
    sys.stdout.flush()
    if output == "table":
        print(_connections(len(records)), file=sys.stderr)
    return 0


def _label(key: str, value: Any) -> str:
    """A ``count_by`` value as --counts shows it: state and direction names, "-" for no pid or
    no name."""
    if key in ("state", "direction"):
        return str(value.name)
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
}


def _counts(query: _Query, key: str) -> list[tuple[str, int]]:
    with query.poller(sort=False) as poller:
        table = poller.poll()
    totals: collections.Counter[str] = collections.Counter()
    if query.filters_in_python:
        # Filters the library does not have: count the rows that pass them one by one.
        directions = table.directions() if key == "direction" else None
        for record in _records(table, directions):
            if query.wants(record):
                totals[_RECORD_LABELS[key](record)] += 1
    else:
        names = table.process_names or {}
        for value, count in table.count_by(_COUNT_BY[key]).items():
            shown = names.get(value) if key == "process" else value
            totals[_label(key, shown)] += count
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _events(changes: Changes, query: _Query) -> list[Event]:
    """The changes of one poll as events that pass the filters: closed, changed, opened."""
    after = changes.after.process_names or {}
    before = changes.before.process_names or {}
    events = []
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


def _watch(query: _Query, output: str, interval: float) -> int:
    # tcptable.watch sleeps to deadlines (no drift); closing the generator closes its poller.
    stream = cast("Generator[Changes, None, None]", watch(interval, **query.keywords))
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
    prog = prog or program_name()
    if args[:1] == ["exporter"]:
        from .exporter import main as exporter_main

        return exporter_main(args[1:], prog=f"{prog} exporter")
    parser = build_parser(prog)
    options = parser.parse_args(args)
    _check(parser, options)
    output = options.output or "table"
    query = _Query(options)
    if output == "csv":
        # RFC 4180 ends lines with CRLF; the csv module writes them, so no newline translation.
        sys.stdout.reconfigure(newline="")  # type: ignore[union-attr]
    try:
        if options.watch:
            return _watch(query, output, options.interval or 1.0)
        if options.counts:
            _cli_format.write_counts(
                sys.stdout, options.counts, _counts(query, options.counts), output
            )
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
