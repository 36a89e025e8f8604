"""What the exporters publish, read from a poller: one poll's table summarised, and the counters
kept between polls.  Knows nothing of Prometheus or OpenTelemetry (``exporter.py`` and
``otel.py`` render it); numpy counts the rows.

- connections by address family, state and protocol (every TCP state present, 0 included;
  with a poller that fetches UDP, the UDP rows too, under the state "none");
- listening sockets by family, local address, port, process name and protocol (a UDP socket
  listens when it is bound and not connected);
- rows opened / closed between consecutive polls, by family (the first poll is the starting
  point, not a burst of openings);
- where the poller reports sockets the OS destroyed between polls (``Changes.finished``, with
  their final byte counts, and ``Changes.events_lost``): those closes by family, the bytes the
  finished connections sent and received, and the events the OS dropped.  The closes are then
  counted from the events, which see connections too short for any poll; connections that no
  poll saw (``finished.unseen``) count as opened too.  Without events, closes are counted from
  poll differences;
- the OS's TCP-MIB counters (``tcptable.statistics()``);
- polls, failed polls, and the last poll's duration.

A failed poll is logged and counted, and the last good values stay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._enums import Protocol, State
from ._rows import Connection
from ._snapshot import Snapshot

__all__ = ["FAMILIES", "STATISTICS", "Reading", "TableMetrics"]

FAMILIES = {4: "ipv4", 6: "ipv6"}
PROTOCOLS = {Protocol.TCP: "tcp", Protocol.UDP: "udp"}
STATISTICS = (
    "active_opens",
    "passive_opens",
    "attempt_fails",
    "estab_resets",
    "retrans_segs",
    "in_errs",
    "out_rsts",
)
DIRECTIONS = ("sent", "received")

# (family, address, port, process name, protocol) of a listening socket, then its netns label
# and its container labels (container id, pod uid) when the exporter has those.
ListeningKey = tuple[str, ...]
# (family, state, protocol) of a row, then its netns label when the exporter has one.
ConnectionKey = tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    """A consistent copy of everything the exporters publish (``TableMetrics.reading()``)."""

    # None until a poll of the table succeeded.  Keys: (family, state, protocol), then the
    # netns label when netns_label is set.
    by_family_state: dict[ConnectionKey, int] | None = None
    listening: dict[ListeningKey, int] = field(default_factory=dict)
    statistics: dict[str, float] = field(default_factory=dict)
    opened: dict[str, int] = field(default_factory=dict)
    closed: dict[str, int] = field(default_factory=dict)
    # Set once a poll returned close events (Changes.finished); empty otherwise.
    has_events: bool = False
    finished: dict[str, int] = field(default_factory=dict)
    finished_bytes: dict[str, int] = field(default_factory=dict)
    events_lost: int = 0
    polls: int = 0
    errors: int = 0
    last_duration: float | None = None
    # The poller reads several network namespaces: a netns label (its name, else its inode)
    # on the connections and listening metrics.  container_labels: container and pod_uid
    # labels on the listening metric (Poller(containers=True)).
    netns_label: bool = False
    container_labels: bool = False


def _address(connection: Connection) -> str:
    if connection.family == 6 and connection.local_scope_id:
        return f"{connection.local_address}%{connection.local_scope_id}"
    return str(connection.local_address)


def namespace_label(table: Snapshot, inode: int) -> str:
    """A namespace as a label value: its name (``ip netns list``), else its inode."""
    return table.namespaces.get(inode) or str(inode)


def by_family_state(
    table: Snapshot, protocols: str = "tcp", netns: bool = False
) -> dict[ConnectionKey, int]:
    """Rows by (family name, lower-case state name, protocol name), every TCP state present
    and, when ``protocols`` ("tcp", "udp" or "all", as ``Poller(protocol=...)``) has UDP, the
    UDP rows' (family, "none", "udp"); with ``netns``, each key ends with the namespace label,
    every one present for every namespace the poll read."""
    labels: list[tuple[str, ...]] = [()]
    if netns:
        labels = [(namespace_label(table, inode),) for inode in table.namespaces]
    counts: dict[ConnectionKey, int] = {}
    for label in labels:
        for family in FAMILIES.values():
            if protocols != "udp":
                for state in State:
                    if state != State.NONE:
                        series: ConnectionKey = (family, state.name.lower(), "tcp", *label)
                        counts[series] = 0
            if protocols != "tcp":
                series = (family, "none", "udp", *label)
                counts[series] = 0
    if len(table):
        import numpy

        rows = table.array
        # ((namespace * 7 + family) * 2 + is UDP) * 16 + state: one bincount for every
        # (namespace, family, protocol, state).
        udp = (rows["protocol"] == Protocol.UDP).astype(numpy.intp)
        keys = (rows["family"].astype(numpy.intp) * 2 + udp) * 16 + rows["state"]
        inodes = numpy.zeros(1, dtype=numpy.uint64)
        if netns:
            inodes, index = numpy.unique(rows["netns"], return_inverse=True)
            keys = index.reshape(-1) * (7 * 32) + keys
        for key, count in enumerate(numpy.bincount(keys, minlength=len(inodes) * 7 * 32)):
            if count:
                namespace, rest = divmod(key, 7 * 32)
                protocol = "udp" if (rest // 16) % 2 else "tcp"
                state_name = State(rest % 16).name.lower()
                label = (namespace_label(table, int(inodes[namespace])),) if netns else ()
                series = (FAMILIES[rest // 32], state_name, protocol, *label)
                counts[series] = int(count)
    return counts


def listening(
    table: Snapshot, netns: bool = False, containers: bool = False
) -> dict[ListeningKey, int]:
    """Listening sockets by (family, address, port, process name, protocol), then the namespace
    label with ``netns`` and (container id, pod uid) with ``containers`` ("" outside
    containers); the value is how many share those labels (several SO_REUSEPORT listeners of
    one process count 2).  A UDP socket listens when it is bound and not connected (remote
    port 0)."""
    names = table.process_names or {}
    owners = table.containers or {}
    found: Counter[ListeningKey] = Counter()
    if len(table):
        import numpy

        rows = table.array
        udp = rows["protocol"] == Protocol.UDP
        listens = (rows["state"] == State.LISTEN) | (udp & (rows["remote_port"] == 0))
        for index in numpy.flatnonzero(listens):
            connection = table[int(index)]
            labels: ListeningKey = (
                FAMILIES[connection.family],
                _address(connection),
                str(connection.local_port),
                names.get(connection.pid, "") if connection.pid else "",
                PROTOCOLS[connection.protocol],
            )
            if netns:
                labels += (namespace_label(table, connection.netns),)
            if containers:
                container = owners.get(connection.pid)
                labels += (
                    (container.id, container.pod_uid or "") if container is not None else ("", "")
                )
            found[labels] += 1
    return dict(found)


def _by_family(rows: Any) -> Counter[str]:
    """TCP rows by family name, from anything with a numpy ``array`` or ``count_by``: opened
    and closed count connections, and a UDP row (of a poller that fetches UDP) is none."""
    counts: Counter[str] = Counter()
    if rows is None or not len(rows):
        return counts
    if hasattr(rows, "array") and "protocol" in (rows.array.dtype.names or ()):
        import numpy

        array = rows.array
        tcp = array["family"][array["protocol"] == Protocol.TCP]
        for family, name in FAMILIES.items():
            counts[name] += int(numpy.count_nonzero(tcp == family))
        return counts
    if hasattr(rows, "count_by"):
        for family, count in rows.count_by("family").items():
            counts[FAMILIES[family]] += count
        return counts
    import numpy

    families = numpy.asarray(rows.array["family"] if hasattr(rows, "array") else rows)
    for family, name in FAMILIES.items():
        counts[name] += int(numpy.count_nonzero(families == family))
    return counts


class TableMetrics:
    """Polls ``poller`` (a ``tcptable.Poller``, or anything with its ``poll_changes()`` and
    ``close()``) and the TCP statistics, and keeps what the exporters publish.  Thread-safe:
    ``poll()`` may run in one thread while ``reading()`` runs in others."""

    def __init__(
        self,
        poller: Any,
        *,
        log: logging.Logger,
        statistics: Callable[[], Any] | None = None,
    ) -> None:
        self.poller = poller
        self._log = log
        self._read_statistics = statistics
        self._lock = threading.Lock()
        # Labels follow the poller: a netns label when it reads several namespaces, container
        # labels when it finds containers.
        self.netns_label = getattr(poller, "namespaces", None) is not None
        self.container_labels = bool(getattr(poller, "containers", False))
        self._table: dict[ConnectionKey, int] | None = None
        # What the poller fetches: "tcp" (a Poller's default), "udp" or "all".
        self._protocols = str(getattr(poller, "protocol", "tcp"))
        self._listening: dict[ListeningKey, int] = {}
        self._statistics: dict[str, float] = {}
        self._opened: Counter[str] = Counter()
        self._closed: Counter[str] = Counter()
        self._finished: Counter[str] = Counter()
        self._finished_bytes: Counter[str] = Counter()
        self._has_events = False
        self._events_lost = 0
        self._polls = 0
        self._errors = 0
        self._last_duration: float | None = None
        self._baseline = True  # the first poll_changes() reports every row as opened

    def poll(self) -> tuple[bool, float]:
        """Poll the table and the TCP counters now: (both succeeded, seconds it took).  A
        failure is logged and counted, never raised."""
        started = time.perf_counter()
        table_ok = self._guarded("poll of the TCP table", self._poll_table)
        statistics_ok = self._guarded("read of the TCP statistics", self._poll_statistics)
        duration = time.perf_counter() - started
        with self._lock:
            self._polls += 1
            self._last_duration = duration
        return table_ok and statistics_ok, duration

    def _guarded(self, what: str, step: Callable[[], None]) -> bool:
        try:
            step()
        except Exception as error:
            with self._lock:
                self._errors += 1
            # An OS refusal is expected now and then; anything else is a bug worth a traceback.
            self._log.warning("%s failed: %s", what, error, exc_info=not isinstance(error, OSError))
            return False
        return True

    def _poll_table(self) -> None:
        changes = self.poller.poll_changes()
        table = by_family_state(changes.after, self._protocols, self.netns_label)
        found = listening(changes.after, self.netns_label, self.container_labels)
        # Close events, where the poller has them (Poller(closes=True)); absent otherwise.
        finished = getattr(changes, "finished", None)
        finished_by_family = _by_family(finished)
        unseen = _by_family(_unseen(finished)) if finished is not None else Counter()
        sent, received = _finished_bytes(finished)
        lost = int(getattr(changes, "events_lost", 0) or 0)
        with self._lock:
            if not self._baseline:
                self._opened.update(_by_family(changes.opened))
                self._opened.update(unseen)
                if finished is None:
                    self._closed.update(_by_family(changes.closed))
            if finished is not None:
                # Every close the OS announced, including those of connections polled before
                # the baseline; the baseline does not hide them.
                self._has_events = True
                self._closed.update(finished_by_family)
                self._finished.update(finished_by_family)
                self._finished_bytes["sent"] += sent
                self._finished_bytes["received"] += received
            self._events_lost += lost
            self._baseline = False
            self._table = table
            self._listening = found

    def _poll_statistics(self) -> None:
        if self._read_statistics is None:
            from . import statistics

            counters = statistics()
        else:
            counters = self._read_statistics()
        values = {name: float(getattr(counters, name)) for name in STATISTICS}
        with self._lock:
            self._statistics = values

    def reading(self) -> Reading:
        """What the last good poll saw and the counters so far."""
        with self._lock:
            return Reading(
                by_family_state=None if self._table is None else dict(self._table),
                listening=dict(self._listening),
                statistics=dict(self._statistics),
                opened=_every_family(self._opened),
                closed=_every_family(self._closed),
                has_events=self._has_events,
                finished=_every_family(self._finished) if self._has_events else {},
                finished_bytes=(
                    {direction: self._finished_bytes[direction] for direction in DIRECTIONS}
                    if self._has_events
                    else {}
                ),
                events_lost=self._events_lost,
                polls=self._polls,
                errors=self._errors,
                last_duration=self._last_duration,
                netns_label=self.netns_label,
                container_labels=self.container_labels,
            )

    def close(self) -> None:
        """Close the poller."""
        self.poller.close()


def _every_family(counts: Mapping[str, int]) -> dict[str, int]:
    return {family: counts.get(family, 0) for family in FAMILIES.values()}


def _unseen(finished: Any) -> Any:
    """The finished rows that no poll saw: ``finished.unseen`` is a row set, or a boolean per
    row of ``finished``."""
    unseen = getattr(finished, "unseen", None)
    if unseen is None or hasattr(unseen, "count_by") or hasattr(unseen, "array"):
        return unseen
    import numpy

    mask = numpy.asarray(unseen, dtype=bool)
    return finished.array["family"][mask] if len(mask) else numpy.zeros(0, numpy.uint8)


def _finished_bytes(finished: Any) -> tuple[int, int]:
    """(sent, received) bytes of the finished connections, from their final statistics: bytes
    the peer acknowledged, and bytes received."""
    if finished is None or not len(finished):
        return 0, 0
    stats = getattr(finished, "stats_array", None)
    if stats is None:
        return 0, 0
    return int(stats["bytes_acked"].sum()), int(stats["bytes_received"].sum())
