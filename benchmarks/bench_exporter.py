"""What the exporters add to a poll, and what basic auth costs a scrape, in one run:

- a bare ``Poller.poll_changes()`` (the baseline);
- the Prometheus exporter: ``Exporter.poll_once()`` and then the text of a scrape
  (``prometheus_client.generate_latest``);
- OpenTelemetry: one collection of ``tcptable.otel``'s instruments (``InMemoryMetricReader``),
  which polls once;
- basic auth: ``WebConfig.authorized`` for a bcrypt hash of cost 12, the first check of a
  password (bcrypt runs) and a remembered one.

    python benchmarks/bench_exporter.py [--sockets 5000] [--iterations 30]

Child processes (benchmarks/holders.py) hold N loopback sockets.  The three poll measurements
are interleaved round by round, so the load of a shared machine weighs on each alike; each
figure is the median wall time, with the load average at the start and the end.  Linux only.
Needs tcptable[prometheus,otel].
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import holders


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--iterations", type=int, default=30)
    options = parser.parse_args()

    import bcrypt
    import prometheus_client
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import tcptable.otel
    from tcptable._web_config import load_web_config
    from tcptable.exporter import Exporter

    load_start = os.getloadavg()[0]
    with holders.PairHolders(options.sockets):
        bare = tcptable.Poller(pids=True)
        registry = prometheus_client.CollectorRegistry()
        exporter = Exporter(tcptable.Poller(pids=True), interval=60, registry=registry)
        reader = InMemoryMetricReader()
        instruments = tcptable.otel.instrument(MeterProvider(metric_readers=[reader]), pids=True)
        rows = len(bare.poll())

        def scrape() -> None:
            exporter.poll_once()
            prometheus_client.generate_latest(registry)

        measures: dict[str, Callable[[], object]] = {
            "Poller.poll_changes() (baseline)": bare.poll_changes,
            "Exporter.poll_once() + scrape text": scrape,
            "tcptable.otel: one collection": reader.get_metrics_data,
        }
        for run in measures.values():  # warm: owners cached, first poll done
            run()
        samples: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(options.iterations):
            for name, run in measures.items():
                started = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - started)
        bare.close()
        exporter.stop()
        instruments.close()

    password = "correct horse battery staple"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode()
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as file:
        file.write(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    header = "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()
    first, remembered, wrong = [], [], []
    for _ in range(5):
        config = load_web_config(file.name)
        for bucket, value in ((first, header), (remembered, header), (wrong, "Basic eDp5")):
            started = time.perf_counter()
            config.authorized(value)
            bucket.append(time.perf_counter() - started)
    os.unlink(file.name)
    load_end = os.getloadavg()[0]

    print(f"{platform.node()}: {os.cpu_count()} CPUs, {platform.machine()}, Linux "
          f"{platform.release()}, CPython {platform.python_version()}")  # fmt: skip
    print(f"{options.sockets} sockets held ({rows} rows in the table), "
          f"{options.iterations} interleaved rounds; load average (1 min) {load_start:.2f} at "
          f"the start, {load_end:.2f} at the end")  # fmt: skip
    baseline = median_ms(samples["Poller.poll_changes() (baseline)"])
    print()
    print("| what | median ms | x baseline |")
    print("|---|---:|---:|")
    for name, values in samples.items():
        print(f"| {name} | {median_ms(values):.2f} | {median_ms(values) / baseline:.2f} |")
    print(f"| basic auth, cost 12: first check (bcrypt) | {median_ms(first):.2f} | |")
    print(f"| basic auth, cost 12: remembered password | {median_ms(remembered):.3f} | |")
    print(f"| basic auth, cost 12: unknown user (a dummy hash) | {median_ms(wrong):.2f} | |")


if __name__ == "__main__":
    main()
