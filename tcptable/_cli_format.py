"""How the ``tcptable`` command writes rows, counts and changes: text, JSON, JSON lines, CSV."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from ._rows import Connection

if TYPE_CHECKING:
    import datetime

# csv, datetime, json and socket are imported where they are used: each is start-up time of
# the command, and an output needs one of them at most.

__all__ = [
    "Event",
    "Record",
    "endpoint",
    "row_dict",
    "write_counts",
    "write_events",
    "write_records",
]

FORMATS = ("table", "json", "jsonl", "csv")


class Record(NamedTuple):
    """One row as the command shows it: the connection, its process name, its direction."""

    connection: Connection
    process: str | None
    direction: str | None  # a tcptable.Direction name; None where it is not known (changes)
    netns: str | None = None  # the row's network namespace: its name, else its inode
    container: str | None = None  # the owner's container id (12 digits, as docker ps shows)


class Event(NamedTuple):
    """One change seen by ``--watch``: ``kind`` is "opened", "closed", "changed", or
    "finished" (a connection opened and closed between two polls, known from a close event,
    with the bytes it sent (acknowledged by the peer) and received)."""

    kind: str
    timestamp: float
    record: Record
    old_state: str | None  # the state before, for "changed"
    bytes_sent: int | None = None  # for "finished"
    bytes_received: int | None = None


_MARKS = {"opened": "+", "closed": "-", "changed": "~", "finished": "*"}


def _scope(scope_id: int) -> str:
    if not scope_id:
        return ""
    import socket

    try:
        return "%" + socket.if_indextoname(scope_id)
    # An interface gone since the poll, no such call here, or CPython's Windows if_indextoname
    # failing without setting an error for an index that names no interface (SystemError).
    except (OSError, AttributeError, SystemError):
        return f"%{scope_id}"


def endpoint(family: int, address: str, port: int, scope_id: int) -> str:
    """``address:port`` as netstat writes it: IPv6 in brackets with its %scope, port 0 as *."""
    shown_port = str(port) if port else "*"
    if family == 6:
        return f"[{address}{_scope(scope_id)}]:{shown_port}"
    return f"{address}:{shown_port}"


def _proto(connection: Connection) -> str:
    name = "udp" if connection.protocol == 17 else "tcp"  # IPPROTO_UDP, else IPPROTO_TCP
    return name + "6" if connection.family == 6 else name


def row_dict(record: Record) -> dict[str, Any]:
    """The JSON object of a row: ``Snapshot.to_dicts()``'s fields plus process and direction."""
    connection = record.connection
    row = connection._asdict()
    row["state"] = connection.state.name
    row["offload_state"] = connection.offload_state.name
    row["protocol"] = int(connection.protocol)  # the number, on every Python (str() varies)
    row["process"] = record.process
    row["direction"] = record.direction
    return row


def _aligned(lines: Sequence[Sequence[str]], right: Iterable[int] = ()) -> str:
    """Columns padded to their widest cell (nothing is truncated), two spaces apart."""
    widths = [max(map(len, column)) for column in zip(*lines)]
    right_aligned = set(right)
    # One format string for every line: much faster than padding cell by cell.
    template = "  ".join(
        f"{{:{'>' if i in right_aligned else '<'}{width}}}" for i, width in enumerate(widths)
    )
    return "".join(template.format(*line).rstrip() + "\n" for line in lines)


def _table(records: Sequence[Record], pids: bool, names: bool, namespaces: bool = False) -> str:
    containers = namespaces and any(record.container for record in records)
    header = ["Proto", "State", "Local", "Remote"]
    header += ["PID"] * pids + ["Process"] * (pids and names) + ["Direction"]
    header += ["NETNS"] * namespaces + ["CONTAINER"] * containers
    lines = [header]
    for record in records:
        c = record.connection
        line = [
            _proto(c),
            c.state.name,
            endpoint(c.family, c.local_address, c.local_port, c.local_scope_id),
            endpoint(c.family, c.remote_address, c.remote_port, c.remote_scope_id),
        ]
        if pids:
            line.append(str(c.pid) if c.pid else "-")
            if names:
                line.append(record.process or "-")
        line.append(record.direction or "-")
        if namespaces:
            line.append(record.netns or "-")
        if containers:
            line.append(record.container or "-")
        lines.append(line)
    return _aligned(lines, right=[4] if pids else [])


def _csv_cell(value: object) -> object:
    return "" if value is None else value


def write_records(
    out: IO[str],
    records: Sequence[Record],
    output: str,
    *,
    pids: bool,
    names: bool,
    namespaces: bool = False,
) -> None:
    """Write the rows in ``output`` format ("table", "json", "jsonl" or "csv"); ``namespaces``
    adds the NETNS column, and CONTAINER when a row has one."""
    import csv
    import json

    if output == "table":
        out.write(_table(records, pids, names, namespaces))
    elif output == "json":
        # One object a line inside the array: readable, and each dumps() runs in C (an indent
        # would make json use its pure-Python encoder).
        rows = ",\n".join(json.dumps(row_dict(record)) for record in records)
        out.write(f"[\n{rows}\n]\n" if rows else "[]\n")
    elif output == "jsonl":
        for record in records:
            out.write(json.dumps(row_dict(record)) + "\n")
    else:
        fields = [*list(Connection._fields), "process", "direction"]
        writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes only where needed
        writer.writerow(fields)
        for record in records:
            row = row_dict(record)
            writer.writerow([_csv_cell(row[field]) for field in fields])


def write_counts(out: IO[str], key: str, counts: Sequence[tuple[str, int]], output: str) -> None:
    """Write ``(value, count)`` pairs: a two-column table, a JSON object, JSON lines or CSV."""
    if output == "table":
        out.write(_aligned([[key.upper(), "COUNT"], *[[v, str(n)] for v, n in counts]], [1]))
        return
    import csv
    import json

    if output == "json":
        json.dump(dict(counts), out, indent=1)
        out.write("\n")
    elif output == "jsonl":
        for value, count in counts:
            out.write(json.dumps({key: value, "count": count}) + "\n")
    else:
        writer = csv.writer(out)
        writer.writerow([key, "count"])
        writer.writerows(counts)


def _local_time(timestamp: float) -> datetime.datetime:
    import datetime

    return datetime.datetime.fromtimestamp(timestamp).astimezone()


def _event_line(event: Event) -> str:
    """time, mark, proto, local, remote, pid, process, state: the state last, because a change
    reads "OLD -> NEW" (Linux process names are at most 15 characters, so it stays aligned)."""
    c = event.record.connection
    state = c.state.name
    if event.old_state is not None:
        state = f"{event.old_state} -> {state}"
    if event.bytes_sent is not None:
        state = f"{state} sent {event.bytes_sent} B, received {event.bytes_received} B"
    fields = [
        _local_time(event.timestamp).strftime("%H:%M:%S.%f")[:-3],
        _MARKS[event.kind],
        _proto(c).ljust(4),
        endpoint(c.family, c.local_address, c.local_port, c.local_scope_id).ljust(21),
        endpoint(c.family, c.remote_address, c.remote_port, c.remote_scope_id).ljust(21),
        (str(c.pid) if c.pid else "-").rjust(7),
        (event.record.process or "-").ljust(15),
        state,
    ]
    return " ".join(fields) + "\n"


def _event_dict(event: Event) -> dict[str, Any]:
    row = {
        "time": _local_time(event.timestamp).isoformat(timespec="milliseconds"),
        "timestamp": event.timestamp,
        "event": event.kind,
        "old_state": event.old_state,
        "bytes_sent": event.bytes_sent,
        "bytes_received": event.bytes_received,
    }
    row.update(row_dict(event.record))
    del row["direction"]  # not known for changes
    return row


_EVENT_FIELDS = [
    "time",
    "timestamp",
    "event",
    "old_state",
    *Connection._fields,
    "process",
    "bytes_sent",
    "bytes_received",
]


def write_events(out: IO[str], events: Iterable[Event], output: str, *, header: bool) -> None:
    """Write ``--watch`` events: one line each (text), one object a line (JSON), or CSV rows
    (with the header row first when ``header``)."""
    import csv
    import json

    if output == "table":
        out.writelines(_event_line(event) for event in events)
    elif output in ("json", "jsonl"):
        out.writelines(json.dumps(_event_dict(event)) + "\n" for event in events)
    else:
        writer = csv.writer(out)
        if header:
            writer.writerow(_EVENT_FIELDS)
        for event in events:
            row = _event_dict(event)
            writer.writerow([_csv_cell(row[field]) for field in _EVENT_FIELDS])
