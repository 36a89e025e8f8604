"""Real metrics servers for the exporter's end-to-end tests: Prometheus (scrapes) and
VictoriaMetrics (receives OTLP pushes), fetched by tests/prometheus/fetch.sh, each with a
temporary folder and a free loopback port of its own, queried through Prometheus's HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from clitools import free_port

FETCH = Path(__file__).parent / "prometheus" / "fetch.sh"


def fetched(name: str, *, any_version: bool = False) -> str:
    """The path of ``name`` (prometheus or victoria-metrics), fetched once by
    tests/prometheus/fetch.sh, else (a machine whose apt archive is not Debian's) the one on
    PATH if ``any_version`` (every Prometheus scrapes over TLS with basic auth; only a recent
    one receives OTLP).  If it cannot be had: skip saying why, except on CI (CI=true), where
    tests/run-all.sh fetches it and its absence is a failure."""
    result = subprocess.run(
        ["bash", str(FETCH), name], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        installed = shutil.which(name)
        if any_version and installed is not None:
            return installed
        message = f"{name} cannot be fetched: {result.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true: the CI setup must provide it")
        pytest.skip(message)
    return result.stdout.strip()


class Server:
    """A server process with a log file, an HTTP query API, and a clean stop."""

    def __init__(self, name: str, arguments: Sequence[str], directory: Path, port: int) -> None:
        self.name = name
        self.port = port
        directory.mkdir(parents=True, exist_ok=True)
        self._log_path = directory / f"{name}.log"
        self._log = self._log_path.open("w")
        self.process = subprocess.Popen(list(arguments), stdout=self._log, stderr=subprocess.STDOUT)

    def get(self, path: str, **parameters: str) -> Any:
        """The JSON answer of ``path`` (None while the server does not answer yet)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        if parameters:
            url += "?" + urllib.parse.urlencode(parameters)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError):
            return None

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The result vector of an instant query (empty while the server is not ready)."""
        answer = self.get("/api/v1/query", query=expression)
        if answer is None:
            return []
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expression: str) -> float | None:
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None

    def log_tail(self) -> str:
        return self._log_path.read_text()[-3000:]

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Re-check ``condition`` until it is truthy; at the deadline fail with the log."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"{what}: not within {timeout} s; {self.name}'s log ends:\n"
                            f"{self.log_tail()}")  # fmt: skip
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self._log.close()


class Prometheus(Server):
    """Prometheus scraping one target every second; ``scrape`` adds to its scrape config
    (YAML lines, indented for the job), e.g. ``scheme: https``."""

    def __init__(self, binary: str, directory: Path, target: int, scrape: str = "") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: tcptable\n"
            f"{scrape}"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target}']\n"
        )
        port = free_port()
        super().__init__(
            "prometheus",
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            directory,
            port,
        )

    def target(self) -> dict[str, Any] | None:
        """The one scrape target's state (health, lastError), once Prometheus reports it."""
        answer = self.get("/api/v1/targets")
        if answer is None or not answer["data"]["activeTargets"]:
            return None
        target: dict[str, Any] = answer["data"]["activeTargets"][0]
        return target


class VictoriaMetrics(Server):
    """VictoriaMetrics receiving OTLP/HTTP at ``otlp_url``; metric and label names are
    translated as Prometheus translates OTLP (``tcptable.listening`` -> tcptable_listening)."""

    def __init__(self, binary: str, directory: Path) -> None:
        port = free_port()
        super().__init__(
            "victoria-metrics",
            [
                binary,
                f"-httpListenAddr=127.0.0.1:{port}",
                f"-storageDataPath={directory / 'data'}",
                "-retentionPeriod=1d",
                "-opentelemetry.usePrometheusNaming",
                # Make a pushed sample visible to queries at once, not after the usual delay.
                "-search.latencyOffset=0s",
                "-search.disableCache",
            ],
            directory,
            port,
        )
        self.otlp_url = f"http://127.0.0.1:{port}/opentelemetry/v1/metrics"


def https_get(url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None) -> Any:
    """GET over TLS; returns (status, headers, body)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()
