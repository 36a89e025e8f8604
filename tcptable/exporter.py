"""``tcptable exporter``: the TCP table as Prometheus metrics (needs ``tcptable[prometheus]``).

A background thread polls the table every ``--interval`` seconds; each scrape of
``http://LISTEN/metrics`` reads what the last poll saw:

- ``tcptable_connections{family,state}`` gauge: rows by address family and state, every state
  present (0 included);
- ``tcptable_listening{family,address,port,process}`` gauge: listening sockets (the value is
  how many share those labels: several SO_REUSEPORT listeners of one process count 2);
- ``tcptable_connections_opened_total{family}``, ``tcptable_connections_closed_total{family}``
  counters: rows that appeared / disappeared between consecutive polls, so a connection that
  lives between two scrapes still counts (one living less than a poll interval may not);
- ``tcptable_tcp_{active_opens,passive_opens,attempt_fails,estab_resets,retrans_segs,in_errs,
  out_rsts}_total``: the OS's TCP-MIB counters (``tcptable.statistics()``);
- ``tcptable_poll_duration_seconds`` histogram and ``tcptable_poll_errors_total``.

A failed poll is logged and counted, and the metrics keep the last good poll's values; the
exporter keeps running.  SIGTERM or Ctrl-C stops it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._enums import State
from ._poller import Poller
from ._rows import Connection
from ._snapshot import Snapshot

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = ["Exporter", "main"]

log = logging.getLogger("tcptable.exporter")

FAMILIES = {4: "ipv4", 6: "ipv6"}
STATISTICS = (
    "active_opens",
    "passive_opens",
    "attempt_fails",
    "estab_resets",
    "retrans_segs",
    "in_errs",
    "out_rsts",
)
# Poll durations: ~1 ms for a small table without owners up to seconds for a huge one.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _Table(NamedTuple):
    """What the last good poll of the table saw, as the collector publishes it."""

    by_family_state: dict[tuple[str, str], int]
    listening: dict[tuple[str, str, str, str], int]


def _address(connection: Connection) -> str:
    if connection.family == 6 and connection.local_scope_id:
        return f"{connection.local_address}%{connection.local_scope_id}"
    return str(connection.local_address)


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
        from prometheus_client import Counter as CounterMetric
        from prometheus_client import Histogram

        self.poller = poller
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._table: _Table | None = None
        self._statistics: dict[str, float] = {}
        self._opened: Counter[str] = Counter()
        self._closed: Counter[str] = Counter()
        self._baseline = True  # the first poll_changes() reports every row as opened
        self._duration = Histogram(
            "tcptable_poll_duration_seconds",
            "Time one poll of the TCP table (rows, owners, statistics) took.",
            buckets=_BUCKETS,
            registry=registry,
        )
        self._errors = CounterMetric(
            "tcptable_poll_errors",
            "Polls that failed (each is logged); metrics keep the last good poll's values.",
            registry=registry,
        )
        registry.register(self)  # a collector: prometheus_client calls describe() and collect()

    # ------------------------------------------------------------------ polling

    def poll_once(self) -> bool:
        """Poll the table and the TCP counters now and update the metrics.  A failure is
        logged and counted, never raised: the metrics keep the last good values."""
        started = time.perf_counter()
        try:
            table_ok = self._guarded("poll of the TCP table", self._poll_table)
            statistics_ok = self._guarded("read of the TCP statistics", self._poll_statistics)
        finally:
            self._duration.observe(time.perf_counter() - started)
        return table_ok and statistics_ok

    def _guarded(self, what: str, step: Callable[[], None]) -> bool:
        try:
            step()
        except Exception as error:
            self._errors.inc()
            # An OS refusal is expected now and then; anything else is a bug worth a traceback.
            log.warning("%s failed: %s", what, error, exc_info=not isinstance(error, OSError))
            return False
        return True

    def _poll_table(self) -> None:
        changes = self.poller.poll_changes()
        table = _Table(self._by_family_state(changes.after), self._listening(changes.after))
        with self._lock:
            if not self._baseline:
                for counter, rows in (
                    (self._opened, changes.opened),
                    (self._closed, changes.closed),
                ):
                    for family, count in rows.count_by("family").items():
                        counter[FAMILIES[family]] += count
            self._baseline = False
            self._table = table

    def _poll_statistics(self) -> None:
        from . import statistics

        counters = statistics()
        values = {name: float(getattr(counters, name)) for name in STATISTICS}
        with self._lock:
            self._statistics = values

    @staticmethod
    def _by_family_state(table: Snapshot) -> dict[tuple[str, str], int]:
        counts = {
            (family, state.name.lower()): 0 for family in FAMILIES.values() for state in State
        }
        if len(table):
            import numpy

            rows = table.array
            # family * 16 + state: one bincount for every (family, state) pair.
            keys = rows["family"].astype(numpy.intp) * 16 + rows["state"]
            for key, count in enumerate(numpy.bincount(keys, minlength=7 * 16)):
                if count:
                    counts[(FAMILIES[key // 16], State(key % 16).name.lower())] = int(count)
        return counts

    @staticmethod
    def _listening(table: Snapshot) -> dict[tuple[str, str, str, str], int]:
        names = table.process_names or {}
        listening: Counter[tuple[str, str, str, str]] = Counter()
        if len(table):
            import numpy

            rows = table.array
            for index in numpy.flatnonzero(rows["state"] == State.LISTEN):
                connection = table[int(index)]
                labels = (
                    FAMILIES[connection.family],
                    _address(connection),
                    str(connection.local_port),
                    names.get(connection.pid, "") if connection.pid else "",
                )
                listening[labels] += 1
        return dict(listening)

    def _run(self) -> None:
        deadline = time.monotonic()
        while True:
            deadline += self.interval
            delay = deadline - time.monotonic()
            if delay <= 0:
                deadline = time.monotonic()  # a poll overran: start again from now
                delay = 0
            if self._stop.wait(delay):
                return
            self.poll_once()

    def start(self) -> None:
        """Poll once now, then every ``interval`` seconds in a background thread."""
        self.poll_once()
        self._thread = threading.Thread(target=self._run, name="tcptable-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread and close the poller."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poller.close()

    # ------------------------------------------------------------------ collecting

    def describe(self) -> list[Metric]:
        """The metric families, without samples (lets the registry register us without
        polling)."""
        return list(self._families(None, {}, Counter(), Counter()))

    def collect(self) -> Iterator[Metric]:
        """The metrics of the last good poll (called by prometheus_client on each scrape)."""
        with self._lock:
            table, statistics = self._table, dict(self._statistics)
            opened, closed = Counter(self._opened), Counter(self._closed)
        return self._families(table, statistics, opened, closed)

    @staticmethod
    def _families(
        table: _Table | None,
        statistics: dict[str, float],
        opened: Counter[str],
        closed: Counter[str],
    ) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        connections = GaugeMetricFamily(
            "tcptable_connections",
            "TCP connections by address family and state (tcptable.State names, lower case).",
            labels=["family", "state"],
        )
        listening = GaugeMetricFamily(
            "tcptable_listening",
            "Listening TCP sockets by family, local address, port and owning process.",
            labels=["family", "address", "port", "process"],
        )
        opened_family = CounterMetricFamily(
            "tcptable_connections_opened",
            "Rows that appeared between consecutive polls, by address family.",
            labels=["family"],
        )
        closed_family = CounterMetricFamily(
            "tcptable_connections_closed",
            "Rows that disappeared between consecutive polls, by address family.",
            labels=["family"],
        )
        if table is not None:
            for (family, state), count in table.by_family_state.items():
                connections.add_metric([family, state], count)
            for labels, count in table.listening.items():
                listening.add_metric(list(labels), count)
        for family in FAMILIES.values():
            opened_family.add_metric([family], opened[family])
            closed_family.add_metric([family], closed[family])
        yield connections
        yield listening
        yield opened_family
        yield closed_family
        for name in STATISTICS:
            counter = CounterMetricFamily(
                f"tcptable_tcp_{name}",
                f"The OS's TCP-MIB counter {name} (tcptable.statistics()).",
            )
            if name in statistics:
                counter.add_metric([], statistics[name])
            yield counter


# ---------------------------------------------------------------------------- the command


def listen_address(text: str) -> tuple[str, int]:
    """An argparse type: ``HOST:PORT`` or ``[IPv6]:PORT``; ``:PORT`` means 0.0.0.0 (every IPv4
    interface)."""
    host, colon, port_text = text.rpartition(":")
    if not colon or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT with a port in 1..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"{text!r}: write an IPv6 address in brackets, [::1]:PORT")
    return host or "0.0.0.0", int(port_text)


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The exporter's options."""
    from ._cli_args import positive_seconds

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the TCP table as Prometheus metrics at http://LISTEN/metrics.",
        epilog="Needs prometheus_client: pip install 'tcptable[prometheus]'.  SIGTERM or "
        "Ctrl-C stops it.  Exit status: 0 stopped, 1 the OS refused (e.g. the port is taken), "
        "2 bad usage.",
    )
    parser.add_argument(
        "--listen",
        type=listen_address,
        default=("127.0.0.1", 9464),
        metavar="HOST:PORT",
        help="where to serve /metrics (default 127.0.0.1:9464; :9464 every IPv4 interface, "
        "[::]:9464 every interface)",
    )
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="seconds between polls of the table (default 1)",
    )
    parser.add_argument("--no-names", action="store_true", help="no process label values")
    return parser


def main(argv: Sequence[str], *, prog: str = "tcptable exporter") -> int:
    """Run the exporter until SIGTERM or Ctrl-C; returns the exit status."""
    options = build_parser(prog).parse_args(list(argv))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    try:
        import numpy  # noqa: F401 - counts rows by family and state
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as error:
        log.error("needs %s: pip install 'tcptable[prometheus]'", error.name)
        return 1
    host, port = options.listen
    registry = CollectorRegistry()
    # Poller() asks the OS for nothing yet; a poll that fails is logged and counted.
    exporter = Exporter(Poller(names=not options.no_names), options.interval, registry)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = None
    try:  # from here on, Ctrl-C at any moment stops cleanly
        exporter.start()
        try:
            server, _ = start_http_server(port, addr=host, registry=registry)
        except OSError as error:
            log.error("cannot serve on %s:%d: %s", host, port, error)
            return 1
        shown = f"[{host}]" if ":" in host else host
        log.info("serving http://%s:%d/metrics, polling every %g s", shown, port, options.interval)
        stop.wait()  # a signal interrupts the wait: SIGTERM's handler sets stop, SIGINT raises
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            server.shutdown()
            server.server_close()
        exporter.stop()
    log.info("stopped")
    return 0
