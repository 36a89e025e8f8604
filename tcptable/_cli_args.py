"""The ``tcptable`` command's options: the parser, its argument types, the checks argparse
cannot express.  Every bad option exits 2 with argparse's message naming it."""

from __future__ import annotations

import argparse
import os.path
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from ._enums import State

__all__ = [
    "COUNTS_OPTION",
    "build_parser",
    "check",
    "flatten",
    "namespace_value",
    "namespaces_of",
    "positive_seconds",
    "program_name",
]

# --counts KEY -> the Snapshot.count_by key it counts by (process: counted by pid, then grouped
# by name); the library's keys are _counts.COUNT_KEYS.
COUNTS_OPTION = {
    "state": "state",
    "port": "local_port",
    "pid": "pid",
    "process": "pid",
    "remote": "remote_address",
    "direction": "direction",
    "netns": "netns",
}


def program_name(argv0: str | None = None) -> str:
    """The name to show in usage lines: ``tcptable`` as a command, ``python -m tcptable``
    when run as a module (argv[0] is then the path of ``__main__.py``)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(argv0) if argv0 else ""  # (not pathlib: start-up time)
    if not name or name in ("__main__.py", "-c"):
        stem = os.path.splitext(os.path.basename(sys.executable))[0]
        return f"{stem or 'python'} -m tcptable"
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


def namespace_value(text: str) -> int | str:
    """--netns: "all", a pid, or a namespace file's path."""
    if text == "all":
        return text
    if text.isdigit():
        return _pids(text)[0]
    if not text:
        raise argparse.ArgumentTypeError("empty namespace")
    return text


def namespaces_of(values: list[int | str]) -> str | list[int | str] | None:
    """The Poller's ``namespaces`` for the --netns values given (None: none given)."""
    if not values:
        return None
    return "all" if "all" in values else list(dict.fromkeys(values))


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
        choices=tuple(COUNTS_OPTION),
        metavar="KEY",
        help=f"count rows by KEY ({', '.join(COUNTS_OPTION)}; default state)",
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

    filters.add_argument(
        "--netns",
        type=namespace_value,
        action="append",
        default=[],
        metavar="all|PID|PATH",
        help=(
            "Linux network namespaces to read: all of them, a process's, or a namespace file "
            "(/var/run/netns/NAME); adds the NETNS and CONTAINER columns"
        ),
    )

    owners = parser.add_argument_group("owners")
    owners.add_argument(
        "--no-pids",
        action="store_true",
        help="skip the owner lookup (faster on Linux): no PID, no Process",
    )
    owners.add_argument("--no-names", action="store_true", help="skip process names")
    return parser


def flatten(lists: Iterable[Iterable[Any]]) -> list[Any]:
    """The values of a repeatable option of comma lists, merged and sorted."""
    return sorted({item for items in lists for item in items})


def check(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Combinations argparse cannot express: each exits 2 naming the options."""
    if "all" in options.netns and len(set(options.netns)) > 1:
        parser.error("argument --netns: all already includes every other namespace")
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
