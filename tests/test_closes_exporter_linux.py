"""``tcptable exporter`` with close events (Linux): every close is counted from its event,
with the bytes the finished connections moved, and the events lost are published."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request

import pytest
from clitools import ENV, Lines, command, free_port
from conftest import open_listener, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
pytest.importorskip("prometheus_client", reason="the exporter needs prometheus_client")

if sys.platform.startswith("linux"):
    from closes import short_connection


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def value(text: str, series: str) -> float | None:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(found[1]) if found else None


def test_the_exporter_counts_closes_from_events_with_their_bytes() -> None:
    port = free_port()
    process = subprocess.Popen(
        command("exporter", "--listen", f"127.0.0.1:{port}", "--interval", "0.2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert process.stderr is not None
        Lines(process.stderr).wait_for("serving http://127.0.0.1")
        sent = 'tcptable_closed_bytes_total{direction="sent"}'
        finished = 'tcptable_connections_finished_total{family="ipv4"}'
        before = scrape(port)
        assert value(before, "tcptable_events_lost_total") is not None
        start_sent = value(before, sent) or 0.0
        start_finished = value(before, finished) or 0.0
        with open_listener(4) as listener:
            listener.listen(16)
            for _ in range(5):
                short_connection(listener, b"e" * 10_000)
        # The counters only grow; other processes' closes add to them too, never less.
        wait_until(lambda: (value(scrape(port), sent) or 0.0) - start_sent >= 50_000)
        after = scrape(port)
        assert (value(after, finished) or 0.0) - start_finished >= 10  # 5 connections, 2 ends
        closed = value(after, 'tcptable_connections_closed_total{family="ipv4"}')
        assert closed is not None
        assert closed >= (value(after, finished) or 0.0)  # closes counted from the events
    finally:
        process.terminate()
        process.wait(15)
