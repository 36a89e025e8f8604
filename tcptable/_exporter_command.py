"""``tcptable exporter``: the command that serves ``tcptable.exporter.Exporter`` at
``/metrics`` (plain HTTP, or HTTPS and basic auth from ``--web.config.file``), or pushes the
``tcptable.otel`` instruments to an OTLP receiver (``--otlp URL``).

Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 the OS refused (e.g. the port is taken) or a
needed package is missing, 2 bad usage (including a web configuration file that cannot be used).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import signal
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ._pacing import Pacer

T = TypeVar("T")

__all__ = ["build_parser", "listen_address", "main", "otlp_url"]

log = logging.getLogger("tcptable.exporter")

DEFAULT_LISTEN = ("127.0.0.1", 9464)
SERVE_INTERVAL = 1.0
PUSH_INTERVAL = 10.0
_PUSH_TIMEOUT_SECONDS = 10.0


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


def otlp_url(text: str) -> str:
    """An argparse type: the http(s) URL of an OTLP/HTTP metrics receiver.  A URL with no path
    gets OTLP's ``/v1/metrics``."""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} has no host")
    if port == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: port 0 is no receiver's port")
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/metrics")
    return urllib.parse.urlunsplit(parts)


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The exporter's options."""
    from ._cli_args import namespace_value, positive_seconds

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the TCP table as Prometheus metrics at http://LISTEN/metrics (HTTPS "
        "and basic auth with --web.config.file), or push it to an OpenTelemetry receiver "
        "(--otlp).",
        epilog="Needs prometheus_client: pip install 'tcptable[prometheus]' (--otlp: "
        "'tcptable[otel]').  SIGTERM or Ctrl-C stops it.  Exit status: 0 stopped, 1 the OS "
        "refused (e.g. the port is taken), 2 bad usage.",
    )
    parser.add_argument(
        "--listen",
        type=listen_address,
        default=None,
        metavar="HOST:PORT",
        help="where to serve /metrics (default 127.0.0.1:9464; :9464 every IPv4 interface, "
        "[::]:9464 every interface)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth for /metrics, in the Prometheus exporter toolkit's format "
        "(tls_server_config: cert_file, key_file; basic_auth_users: bcrypt hashes)",
    )
    parser.add_argument(
        "--otlp",
        type=otlp_url,
        metavar="URL",
        help="push OpenTelemetry metrics to this OTLP/HTTP receiver (e.g. "
        "http://127.0.0.1:4318/v1/metrics, or Prometheus's /api/v1/otlp/v1/metrics) "
        "instead of serving /metrics",
    )
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help=f"seconds between polls of the table (default {SERVE_INTERVAL:g}; with --otlp, "
        f"between pushes, default {PUSH_INTERVAL:g})",
    )
    parser.add_argument("--no-names", action="store_true", help="no process label values")
    parser.add_argument(
        "--netns",
        type=namespace_value,
        action="append",
        default=[],
        metavar="all|PID|PATH",
        help="Linux network namespaces to read (all, a process's, or a namespace file); adds "
        "a netns label: one tcptable_connections series per family and state for each namespace",
    )
    parser.add_argument(
        "--container-labels",
        action="store_true",
        help="container and pod_uid labels on tcptable_listening (Linux containers)",
    )
    parser.add_argument(
        "--protocol",
        choices=("tcp", "udp", "all"),
        default="all",
        help="which sockets to publish (default all: TCP and UDP, told apart by the protocol "
        "label)",
    )
    return parser


@contextmanager
def _until_stopped() -> Iterator[threading.Event]:
    """An event SIGTERM sets (Ctrl-C raises KeyboardInterrupt as usual)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def with_close_events(make: Callable[..., T], **keywords: Any) -> T:
    """``make(closes=True, **keywords)`` where the OS announces closed sockets (then every
    close is counted from its event, with its bytes, and the events lost are published), else
    ``make(**keywords)`` (closes counted from poll differences)."""
    from ._errors import NotSupportedError

    try:
        return make(closes=True, **keywords)
    except NotSupportedError:
        return make(**keywords)


def main(argv: Sequence[str], *, prog: str = "tcptable exporter") -> int:
    """Run the exporter until SIGTERM or Ctrl-C; returns the exit status."""
    parser = build_parser(prog)
    options = parser.parse_args(list(argv))
    if "all" in options.netns and len(set(options.netns)) > 1:
        parser.error("argument --netns: all already includes every other namespace")
    if options.otlp is not None and (options.netns or options.container_labels):
        parser.error("--netns and --container-labels label /metrics; not with --otlp")
    if options.otlp is not None:
        for given, option in ((options.listen, "--listen"), (options.web_config_file, None)):
            if given is not None:
                parser.error(f"--otlp pushes; {option or '--web.config.file'} is for serving")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    if options.otlp is not None:
        return _push(options)
    return _serve(parser, options)


def _serve(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    try:
        import numpy  # noqa: F401 - counts rows by family and state
        from prometheus_client import CollectorRegistry

        from ._metrics_server import MetricsServer
        from .exporter import Exporter
    except ImportError as error:
        log.error("needs %s: pip install 'tcptable[prometheus]'", error.name)
        return 1
    from ._cli_args import namespaces_of
    from ._poller import Poller
    from ._web_config import WebConfigError, load_web_config

    web_config = None
    if options.web_config_file is not None:
        try:
            web_config = load_web_config(options.web_config_file)
        except ImportError as error:
            log.error("--web.config.file needs %s", error)
            return 1
        except WebConfigError as error:
            parser.error(f"--web.config.file: {error}")
    host, port = options.listen or DEFAULT_LISTEN
    interval = options.interval or SERVE_INTERVAL
    registry = CollectorRegistry()
    # Poller() asks the OS for nothing yet; a poll that fails is logged and counted.
    exporter = Exporter(
        with_close_events(
            Poller,
            names=not options.no_names,
            namespaces=namespaces_of(options.netns),
            containers=options.container_labels,
            protocol=options.protocol,
        ),
        interval,
        registry,
    )
    server = None
    with _until_stopped() as stop:
        try:  # from here on, Ctrl-C at any moment stops cleanly
            exporter.start()
            try:
                server = MetricsServer(host, port, registry, web_config)
            except OSError as error:
                log.error("cannot serve on %s:%d: %s", host, port, error)
                return 1
            server.start()
            shown = f"[{host}]" if ":" in host else host
            users = len(web_config.users) if web_config else 0
            log.info(
                "serving %s://%s:%d/metrics, polling every %g s%s",
                server.scheme,
                shown,
                port,
                interval,
                f", basic auth for {users} user(s)" if users else "",
            )
            if users and server.scheme == "http":
                log.warning("basic auth without tls_server_config: passwords travel in clear text")
            stop.wait()  # a signal interrupts the wait: SIGTERM's handler sets stop, SIGINT raises
        except KeyboardInterrupt:
            pass
        finally:
            if server is not None:
                server.close()
            exporter.stop()
    log.info("stopped")
    return 0


def _push(options: argparse.Namespace) -> int:
    try:
        import numpy  # noqa: F401 - counts rows by family and state
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            MetricExportResult,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.resources import Resource
    except ImportError as error:
        log.error("--otlp needs %s: pip install 'tcptable[otel]'", error.name)
        return 1
    from .otel import instrument

    interval = options.interval or PUSH_INTERVAL

    class Exporter(OTLPMetricExporter):
        """Says which push failed in the exporter's own words (the OTLP exporter's log
        says why)."""

        def export(self, metrics_data: Any, *args: Any, **keywords: Any) -> Any:
            result = super().export(metrics_data, *args, **keywords)
            if result is not MetricExportResult.SUCCESS:
                log.error("push to %s failed; the next push follows", options.otlp)
            return result

    exporter = Exporter(endpoint=options.otlp, timeout=_PUSH_TIMEOUT_SECONDS)
    # No timer thread of the reader's own (an infinite interval): the pacing loop below
    # collects and pushes, on the same deadline grid as the Prometheus exporter's polls.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    host = socket.gethostname()
    resource = Resource.create(
        {"service.name": "tcptable", "service.instance.id": host, "host.name": host}
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    instruments = with_close_events(
        lambda **keywords: instrument(provider, **keywords),
        names=not options.no_names,
        protocol=options.protocol,
    )
    timeout_millis = int(_PUSH_TIMEOUT_SECONDS * 1000) * 2
    with _until_stopped() as stop:
        try:
            log.info("pushing to %s every %g s", options.otlp, interval)
            pacer = Pacer(interval)
            while True:
                reader.collect(timeout_millis=timeout_millis)
                if pacer.wait(stop):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            provider.shutdown(timeout_millis=timeout_millis)  # pushes once more
            instruments.close()
    log.info("stopped")
    return 0
