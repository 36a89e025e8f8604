"""Running the ``tcptable`` command and the tools its tests drive (tmux, Prometheus)."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

LINUX_ONLY = pytest.mark.skipif(
    sys.platform != "linux", reason="the command's tests run on Linux (CLI and exporter)"
)
ENV = {**os.environ, "PYTHONUTF8": "1", "PYTHONUNBUFFERED": "1"}


def own_process_name() -> str:
    """This process's name as the library reports it on Linux (/proc/self/comm)."""
    return Path("/proc/self/comm").read_text().strip()


def command(*args: str) -> list[str]:
    """``python -m tcptable ARGS`` with this interpreter (installed package)."""
    return [sys.executable, "-m", "tcptable", *args]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout, env=ENV)


def required_tool(name: str) -> str:
    """The path of a program the test needs.  Absent: skip with the reason, except on CI
    (CI=true), where tests/run-all.sh installs it and absence is a failure."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (tests/run-all.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true: the CI setup must provide it")
        pytest.skip(message)
    return path


def free_port() -> int:
    """A loopback port nothing listens on now (bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Lines:
    """Lines of a child's pipe, read by a thread, waited for with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, *wanted: str, timeout: float = 20.0) -> str:
        """The first line, among those read so far and the next ones, that contains every
        string of ``wanted``; fails at the deadline or at end of file."""
        for line in self.seen:
            if all(part in line for part in wanted):
                return line
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no line with {wanted!r} within {timeout} s; saw {self.seen!r}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the stream ended before a line with {wanted!r}; saw {self.seen!r}")
            self.seen.append(line)
            if all(part in line for part in wanted):
                return line

    def rest(self, timeout: float = 20.0) -> list[str]:
        """Every line until end of file (the child has exited or closed the pipe)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"the stream did not end within {timeout} s; saw {self.seen!r}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                return self.seen
            self.seen.append(line)


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> None:
    """Terminate a child we started, and make sure it is gone."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
