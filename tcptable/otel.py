"""``tcptable.otel.instrument()``: the TCP table as OpenTelemetry metrics (needs
``tcptable[otel]``).

Observable instruments poll the table once per collection, whatever reads them (a periodic
OTLP exporter, a Prometheus reader, ``InMemoryMetricReader``).  Names follow the OpenTelemetry
semantic conventions where one exists, ``tcptable.*`` otherwise:

- ``system.network.connection.count`` (``{connection}``, up-down): rows by
  ``network.connection.state`` (``listen``, ``established``, ``time_wait``, ...),
  ``network.transport`` (``tcp``) and ``network.type`` (``ipv4`` / ``ipv6``);
- ``tcptable.listening`` (``{socket}``, up-down): listening sockets by ``network.type``,
  ``network.local.address``, ``network.local.port`` and ``process.executable.name``;
- ``tcptable.connection.opened`` / ``tcptable.connection.closed`` (``{connection}``,
  counters) by ``network.type``: rows that appeared / disappeared between polls (with close
  events, every close the OS announced);
- with close events only (a poller whose ``poll_changes()`` returns ``Changes.finished``):
  ``tcptable.connection.finished`` (``{connection}``), ``tcptable.connection.finished.io``
  (``By``, by ``network.io.direction``: ``transmit`` acknowledged by the peer, ``receive``)
  and ``tcptable.events.lost`` (``{event}``);
- ``tcptable.tcp.active_opens``, ``.passive_opens``, ``.attempt_fails``, ``.estab_resets``
  (``{connection}``), ``.retrans_segs``, ``.in_errs``, ``.out_rsts`` (``{segment}``): the OS's
  TCP-MIB counters (``tcptable.statistics()``);
- ``tcptable.poll.duration`` (``s``, gauge): the last poll's duration; ``tcptable.poll.errors``
  (``{error}``, counter): polls that failed (each is logged; the last good values stay).

>>> from opentelemetry.sdk.metrics import MeterProvider
>>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
>>> reader = InMemoryMetricReader()
>>> instruments = tcptable.otel.instrument(MeterProvider(metric_readers=[reader]), names=True)
>>> data = reader.get_metrics_data()        # polls the table once
>>> instruments.close()                    # closes the poller; the instruments go quiet
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._poller import Poller
from ._table_metrics import STATISTICS, Reading, TableMetrics

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

__all__ = ["Instrumentation", "instrument"]

log = logging.getLogger("tcptable.otel")

# tcptable.State names (lower case) as network.connection.state values.
CONNECTION_STATES = {
    "closed": "closed",
    "listen": "listen",
    "syn_sent": "syn_sent",
    "syn_rcvd": "syn_received",
    "established": "established",
    "fin_wait1": "fin_wait_1",
    "fin_wait2": "fin_wait_2",
    "close_wait": "close_wait",
    "closing": "closing",
    "last_ack": "last_ack",
    "time_wait": "time_wait",
    "delete_tcb": "delete",
}
IO_DIRECTIONS = {"sent": "transmit", "received": "receive"}
_SEGMENT_COUNTERS = {"retrans_segs", "in_errs", "out_rsts"}


class _Collections:
    """One poll per collection: every instrument's callback runs once per collection, so a
    callback that already read the current reading starts the next collection's poll."""

    def __init__(self, metrics: TableMetrics) -> None:
        self.metrics = metrics
        self._lock = threading.Lock()
        self._reading: Reading | None = None
        self._served: set[str] = set()
        self.closed = False

    def reading(self, instrument: str) -> Reading | None:
        with self._lock:
            if self.closed:
                return None
            if self._reading is None or instrument in self._served:
                self.metrics.poll()
                self._reading = self.metrics.reading()
                self._served = set()
            self._served.add(instrument)
            return self._reading

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self.metrics.close()


class Instrumentation:
    """What ``instrument()`` registered: ``close()`` closes the poller, after which the
    instruments report nothing (OpenTelemetry has no way to unregister them)."""

    def __init__(self, collections: _Collections, names: list[str]) -> None:
        self._collections = collections
        self.instrument_names = names

    @property
    def poller(self) -> Any:
        """The poller the instruments read."""
        return self._collections.metrics.poller

    def close(self) -> None:
        """Close the poller; the instruments report nothing from now on."""
        self._collections.close()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def instrument(
    meter_provider: MeterProvider | None = None, **poller_keywords: Any
) -> Instrumentation:
    """Register the TCP table's observable instruments with ``meter_provider`` (default: the
    global one, ``opentelemetry.metrics.get_meter_provider()``); each collection polls
    ``tcptable.Poller(**poller_keywords)`` once.  Bad keywords raise as ``Poller`` raises them,
    before anything is registered.
    """
    try:
        from opentelemetry import metrics as otel_metrics
        from opentelemetry.metrics import Observation
    except ImportError as error:
        raise ImportError(
            f"tcptable.otel needs {error.name}: pip install 'tcptable[otel]'"
        ) from error
    from . import __version__

    poller = Poller(**poller_keywords)
    collections = _Collections(TableMetrics(poller, log=log))
    provider = meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
    meter = provider.get_meter("tcptable", __version__)
    names: list[str] = []

    def observe(
        name: str, read: Callable[[Reading], Iterable[tuple[float, dict[str, Any]]]]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            reading = collections.reading(name)
            if reading is None:
                return []
            return [Observation(value, attributes) for value, attributes in read(reading)]

        names.append(name)
        return callback

    def register(kind: str, name: str, unit: str, description: str, read: Any) -> None:
        create = {
            "counter": meter.create_observable_counter,
            "updown": meter.create_observable_up_down_counter,
            "gauge": meter.create_observable_gauge,
        }[kind]
        create(name, callbacks=[observe(name, read)], unit=unit, description=description)

    register(
        "updown",
        "system.network.connection.count",
        "{connection}",
        "TCP connections by state and address family.",
        _connections,
    )
    register(
        "updown",
        "tcptable.listening",
        "{socket}",
        "Listening TCP sockets by address family, local address, port and process.",
        _listening,
    )
    register(
        "counter",
        "tcptable.connection.opened",
        "{connection}",
        "TCP connections that appeared between polls (with close events, also those opened "
        "and closed between two polls).",
        lambda reading: _by_family(reading.opened),
    )
    register(
        "counter",
        "tcptable.connection.closed",
        "{connection}",
        "TCP connections that disappeared between polls (with close events, every close).",
        lambda reading: _by_family(reading.closed),
    )
    register(
        "counter",
        "tcptable.connection.finished",
        "{connection}",
        "TCP connections the OS destroyed (close events; only where the poller has them).",
        lambda reading: _by_family(reading.finished),
    )
    register(
        "counter",
        "tcptable.connection.finished.io",
        "By",
        "Bytes moved by finished TCP connections: transmit (acknowledged by the peer) and "
        "receive (close events only).",
        _finished_io,
    )
    register(
        "counter",
        "tcptable.events.lost",
        "{event}",
        "Close events the OS dropped (close events only).",
        lambda reading: [(reading.events_lost, {})] if reading.has_events else [],
    )
    for statistic in STATISTICS:
        register(
            "counter",
            f"tcptable.tcp.{statistic}",
            "{segment}" if statistic in _SEGMENT_COUNTERS else "{connection}",
            f"The OS's TCP-MIB counter {statistic} (tcptable.statistics()).",
            _statistic(statistic),
        )
    register(
        "gauge",
        "tcptable.poll.duration",
        "s",
        "How long the last poll of the TCP table (rows, owners, statistics) took.",
        lambda reading: [] if reading.last_duration is None else [(reading.last_duration, {})],
    )
    register(
        "counter",
        "tcptable.poll.errors",
        "{error}",
        "Polls that failed (each is logged); the last good values stay.",
        lambda reading: [(reading.errors, {})],
    )
    return Instrumentation(collections, names)


def _connections(reading: Reading) -> list[tuple[float, dict[str, Any]]]:
    if reading.by_family_state is None:
        return []
    return [
        (
            count,
            {
                "network.connection.state": CONNECTION_STATES[state],
                "network.transport": "tcp",
                "network.type": family,
            },
        )
        for (family, state), count in reading.by_family_state.items()
    ]


def _listening(reading: Reading) -> list[tuple[float, dict[str, Any]]]:
    return [
        (
            count,
            {
                "network.type": family,
                "network.local.address": address,
                "network.local.port": int(port),
                "process.executable.name": process,
            },
        )
        for (family, address, port, process), count in reading.listening.items()
    ]


def _by_family(counts: dict[str, int]) -> list[tuple[float, dict[str, Any]]]:
    return [
        (count, {"network.type": family, "network.transport": "tcp"})
        for family, count in counts.items()
    ]


def _finished_io(reading: Reading) -> list[tuple[float, dict[str, Any]]]:
    return [
        (count, {"network.io.direction": IO_DIRECTIONS[direction], "network.transport": "tcp"})
        for direction, count in reading.finished_bytes.items()
    ]


def _statistic(name: str) -> Callable[[Reading], list[tuple[float, dict[str, Any]]]]:
    def read(reading: Reading) -> list[tuple[float, dict[str, Any]]]:
        return [(reading.statistics[name], {})] if name in reading.statistics else []

    return read
