"""``tcptable exporter``: the command that serves ``tcptable.exporter.Exporter`` (argument
parsing and serving; the metrics live in ``exporter.py``).

Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 the OS refused (e.g. the port is taken) or a
needed package is missing, 2 bad usage.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import threading
from collections.abc import Sequence

from ._poller import Poller

__all__ = ["build_parser", "listen_address", "main"]

log = logging.getLogger("tcptable.exporter")


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

        from .exporter import Exporter
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
