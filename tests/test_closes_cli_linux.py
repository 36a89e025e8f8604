"""``tcptable --watch`` with close events (Linux): a connection that opens and closes between
two polls is shown once, with its own mark and the bytes it moved."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from clitools import ENV, Lines, command, stop
from conftest import open_listener

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from closes import short_connection


def start_watch(*args: str) -> tuple[subprocess.Popen[str], Lines]:
    # A long interval: the connections below open and close between two polls.
    process = subprocess.Popen(
        command("--watch", "--interval", "2", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    Lines(process.stderr).wait_for("watching")  # the first poll is done
    return process, Lines(process.stdout)


def test_watch_jsonl_shows_a_connection_that_came_and_went_between_polls() -> None:
    with open_listener(4) as listener:
        port = listener.getsockname()[1]
        process, out = start_watch("--jsonl", "-4", "--port", str(port))
        try:
            ends = short_connection(listener, b"w" * 3000)
            line = out.wait_for(
                '"event": "finished"', f'"local_port": {ends[1]},', f'"remote_port": {port},'
            )
            event = json.loads(line)
            assert event["state"] == "CLOSED"
            assert event["bytes_sent"] >= 3000
            assert event["bytes_received"] >= 1
            assert event["pid"] == 0
            assert event["process"] is None
            assert not any(f'"local_port": {ends[1]},' in seen and '"finished"' not in seen
                           for seen in out.seen)  # fmt: skip
        finally:
            stop(process)


def test_watch_text_marks_it_with_a_star_and_its_bytes() -> None:
    with open_listener(4) as listener:
        port = listener.getsockname()[1]
        process, out = start_watch("-4", "--port", str(port))
        try:
            ends = short_connection(listener, b"t" * 1234)
            line = out.wait_for(f"127.0.0.1:{ends[1]} ", f"127.0.0.1:{port} ")
            fields = line.split()
            assert fields[1] == "*"
            found = re.search(r"CLOSED sent (\d+) B, received (\d+) B$", line)
            assert found, line
            assert int(found[1]) >= 1234
            assert int(found[2]) >= 1
        finally:
            stop(process)
