"""The exporter's HTTP(S) server: ``/metrics`` from a prometheus_client registry, with the TLS
and basic auth of a web configuration file.

The TLS handshake runs in each connection's own thread (with a timeout), so a client that
connects and says nothing, or speaks plain HTTP to the TLS port, holds up no one else.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ._web_config import WebConfig

__all__ = ["MetricsServer"]

log = logging.getLogger("tcptable.exporter")

_HANDSHAKE_SECONDS = 10.0
_REQUEST_SECONDS = 30.0


class _QuietHandler(WSGIRequestHandler):
    timeout = _REQUEST_SECONDS  # a stalled client's thread ends
    # The Server header names no Python version to whoever can reach the port.
    server_version = "tcptable-exporter"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    ssl_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        if self.ssl_context is not None:
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(_HANDSHAKE_SECONDS)
            try:
                request.do_handshake()
            except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
                log.debug("TLS handshake with %s failed: %s", client_address, error)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("request from %s failed", client_address, exc_info=True)


def _family(host: str, port: int) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return infos[0][0]


class MetricsServer:
    """Serves ``registry`` at ``/metrics`` on ``host:port`` in a background thread, over TLS
    and with basic auth as ``web_config`` says (None: plain HTTP, no auth)."""

    def __init__(
        self, host: str, port: int, registry: Any, web_config: WebConfig | None = None
    ) -> None:
        from prometheus_client import make_wsgi_app

        self.web_config = web_config
        metrics = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if web_config is not None and not web_config.authorized(
                environ.get("HTTP_AUTHORIZATION")
            ):
                start_response(
                    "401 Unauthorized",
                    [
                        ("WWW-Authenticate", 'Basic realm="tcptable exporter", charset="UTF-8"'),
                        ("Content-Type", "text/plain; charset=utf-8"),
                    ],
                )
                return [b"Unauthorized\n"]
            result: Iterable[bytes] = metrics(environ, start_response)
            return result

        server_class = type("Server", (_Server,), {"address_family": _family(host, port)})
        self._server: _Server = server_class((host, port), _QuietHandler)
        self._server.ssl_context = web_config.ssl_context if web_config else None
        self._server.set_app(app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tcptable-http", daemon=True
        )

    @property
    def scheme(self) -> str:
        return "https" if self._server.ssl_context is not None else "http"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
