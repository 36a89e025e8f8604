"""``tcptable.exporter.Exporter``: the TCP table as a Prometheus collector (needs
``tcptable[prometheus]``).  The ``tcptable exporter`` command serves it (``_exporter_command``).

A background thread polls the table every ``interval`` seconds; each scrape reads what the
last poll saw:

- ``tcptable_connections{family,state}`` gauge: rows by address family and state, every state
  present (0 included);
- ``tcptable_listening{family,address,port,process}`` gauge: listening sockets (the value is
  how many share those labels: several SO_REUSEPORT listeners of one process count 2);
- ``tcptable_connections_opened_total{family}``, ``tcptable_connections_closed_total{family}``
  counters: rows that appeared / disappeared between consecutive polls, so a connection that
  lives between two scrapes still counts (one living less than a poll interval may not, unless
  the poller reports close events: then every close counts, see ``_table_metrics``);
- with close events only: ``tcptable_connections_finished_total{family}``,
  ``tcptable_closed_bytes_total{direction="sent"|"received"}`` and
  ``tcptable_events_lost_total``;
- ``tcptable_tcp_{active_opens,passive_opens,attempt_fails,estab_resets,retrans_segs,in_errs,
  out_rsts}_total``: the OS's TCP-MIB counters (``tcptable.statistics()``);
- ``tcptable_poll_duration_seconds`` histogram and ``tcptable_poll_errors_total``.

With a poller that reads several network namespaces (``Poller(namespaces="all")``, the
command's ``--netns all``) ``tcptable_connections`` and ``tcptable_listening`` get a ``netns``
label (the namespace's name, else its inode): ``tcptable_connections`` then has 2 families x 12
states series per namespace, so a host with 100 pods has some 2,600.  With
``Poller(containers=True)`` (``--container-labels``) ``tcptable_listening`` also gets
``container`` (the id) and ``pod_uid`` ("" outside containers or pods).

A failed poll is logged and counted, and the metrics keep the last good poll's values.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._pacing import Pacer, check_interval
from ._table_metrics import FAMILIES, STATISTICS, Reading, TableMetrics

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = ["Exporter"]

log = logging.getLogger("tcptable.exporter")

# Poll durations: ~1 ms for a small table without owners up to seconds for a huge one.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Exporter:
    """Polls the TCP table in a background thread and serves it as Prometheus metrics.

    >>> registry = prometheus_client.CollectorRegistry()
    >>> exporter = Exporter(tcptable.Poller(names=True), interval=1.0, registry=registry)
    >>> exporter.start()            # the first poll runs now, in the calling thread
    >>> ...                         # serve registry (prometheus_client.start_http_server)
    >>> exporter.stop()

    ``poller`` is a ``tcptable.Poller`` (or anything with its ``poll_changes()``); the
    exporter closes it when stopped.
    """

    def __init__(self, poller: Any, interval: float, registry: CollectorRegistry) -> None:
        from prometheus_client import Histogram

        self.poller = poller
        self.interval = check_interval(interval)
        self.metrics = TableMetrics(poller, log=log)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._duration = Histogram(
            "tcptable_poll_duration_seconds",
            "Time one poll of the TCP table (rows, owners, statistics) took.",
            buckets=_BUCKETS,
            registry=registry,
        )
        registry.register(self)  # a collector: prometheus_client calls describe() and collect()

    def poll_once(self) -> bool:
        """Poll the table and the TCP counters now and update the metrics.  A failure is
        logged and counted, never raised: the metrics keep the last good values."""
        ok, duration = self.metrics.poll()
        self._duration.observe(duration)
        return ok

    def _run(self, pacer: Pacer) -> None:
        while not pacer.wait(self._stop):
            self.poll_once()

    def start(self) -> None:
        """Poll once now, then every ``interval`` seconds in a background thread."""
        pacer = Pacer(self.interval)
        self.poll_once()
        self._thread = threading.Thread(
            target=self._run, args=(pacer,), name="tcptable-poller", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread and close the poller."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.metrics.close()

    # ------------------------------------------------------------------ collecting

    def describe(self) -> list[Metric]:
        """The metric families, without samples (lets the registry register us without
        polling)."""
        return list(
            families(
                Reading(
                    has_events=True,
                    netns_label=self.metrics.netns_label,
                    container_labels=self.metrics.container_labels,
                )
            )
        )

    def collect(self) -> Iterator[Metric]:
        """The metrics of the last good poll (called by prometheus_client on each scrape)."""
        return families(self.metrics.reading())


def families(reading: Reading) -> Iterator[Metric]:
    """``reading`` as Prometheus metric families."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    netns = ["netns"] * reading.netns_label
    connections = GaugeMetricFamily(
        "tcptable_connections",
        "TCP connections by address family and state (tcptable.State names, lower case)"
        + (" and network namespace." if netns else "."),
        labels=["family", "state", *netns],
    )
    listening = GaugeMetricFamily(
        "tcptable_listening",
        "Listening TCP sockets by family, local address, port and owning process"
        + (", network namespace" if netns else "")
        + (", container and pod" if reading.container_labels else "")
        + ".",
        labels=[
            "family",
            "address",
            "port",
            "process",
            *netns,
            *(["container", "pod_uid"] if reading.container_labels else []),
        ],
    )
    opened = CounterMetricFamily(
        "tcptable_connections_opened",
        "Rows that appeared between consecutive polls (and, with close events, connections "
        "opened and closed between two polls), by address family.",
        labels=["family"],
    )
    closed = CounterMetricFamily(
        "tcptable_connections_closed",
        "Rows that disappeared between consecutive polls (with close events: every close the "
        "OS announced), by address family.",
        labels=["family"],
    )
    if reading.by_family_state is not None:
        for labels, count in reading.by_family_state.items():
            connections.add_metric(list(labels), count)
        for labels, count in reading.listening.items():
            listening.add_metric(list(labels), count)
    for family in FAMILIES.values():
        opened.add_metric([family], reading.opened.get(family, 0))
        closed.add_metric([family], reading.closed.get(family, 0))
    yield connections
    yield listening
    yield opened
    yield closed
    if reading.has_events:
        finished = CounterMetricFamily(
            "tcptable_connections_finished",
            "Connections the OS destroyed (close events), by address family.",
            labels=["family"],
        )
        for family, count in reading.finished.items():
            finished.add_metric([family], count)
        closed_bytes = CounterMetricFamily(
            "tcptable_closed_bytes",
            "Bytes moved by connections that finished: sent (acknowledged by the peer) and "
            "received.",
            labels=["direction"],
        )
        for direction, count in reading.finished_bytes.items():
            closed_bytes.add_metric([direction], count)
        lost = CounterMetricFamily(
            "tcptable_events_lost",
            "Close events the OS dropped (its receive buffer overflowed).",
            value=reading.events_lost,
        )
        yield finished
        yield closed_bytes
        yield lost
    for name in STATISTICS:
        counter = CounterMetricFamily(
            f"tcptable_tcp_{name}",
            f"The OS's TCP-MIB counter {name} (tcptable.statistics()).",
        )
        if name in reading.statistics:
            counter.add_metric([], reading.statistics[name])
        yield counter
    yield CounterMetricFamily(
        "tcptable_poll_errors",
        "Polls that failed (each is logged); metrics keep the last good poll's values.",
        value=reading.errors,
    )
