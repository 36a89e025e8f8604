"""Process names: Poller(names=True) and tcptable.process_name(), on every OS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import Pair, own_rows, wait_until

import tcptable


def expected_name(pid: int) -> str:
    """What the OS itself calls process `pid`: its comm on Linux, the image name on Windows."""
    if sys.platform == "win32":
        return os.path.basename(sys.executable)
    with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
        return comm.read().rstrip("\n")


needs_names = pytest.mark.skipif(
    sys.platform not in ("linux", "win32"), reason="process names are read on Linux and Windows"
)


@needs_names
def test_own_process_name() -> None:
    name = tcptable.process_name(os.getpid())
    assert name == expected_name(os.getpid())
    if sys.platform == "win32":
        assert name.lower() == "python.exe"


@needs_names
def test_child_process_name_and_none_once_it_is_gone() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        wait_until(lambda: tcptable.process_name(child.pid) is not None)
        assert tcptable.process_name(child.pid) == expected_name(child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    # Reaped: the pid names no process now.  Linux hands out pids in sequence, so a reuse
    # within this test is all but impossible; still, only a pid that is really free counts.
    if sys.platform == "linux" and os.path.exists(f"/proc/{child.pid}"):
        pytest.skip(f"pid {child.pid} was reused at once")
    assert tcptable.process_name(child.pid) is None


def test_snapshot_names_cover_every_pid(pair: Pair) -> None:
    with tcptable.Poller(names=True) as poller:
        table = poller.poll()
    found = own_rows(table, pair)
    assert table.process_names is not None
    pids = {connection.pid for connection in table} - {0}
    assert set(table.process_names) <= pids
    if sys.platform == "linux":
        # Every owner gets its name, unless it exited between the poll and now.
        for pid in pids - set(table.process_names):
            assert not os.path.exists(f"/proc/{pid}"), pid
    if os.getpid() in {c.pid for c in found.values()}:  # Linux; Windows where pids are real
        assert table.process_names[os.getpid()] == expected_name(os.getpid())
    elif sys.platform == "linux":
        pytest.fail("own sockets lack this process's pid")


def test_names_are_none_unless_asked() -> None:
    with tcptable.Poller() as poller:
        assert poller.poll().process_names is None


def test_names_need_pids() -> None:
    with pytest.raises(ValueError, match="names=True needs pids=True"):
        tcptable.Poller(pids=False, names=True)
    with pytest.raises(TypeError, match="names"):
        tcptable.Poller(names=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("pid", ["1", 1.0, None, True])
def test_process_name_rejects_a_non_int(pid: object) -> None:
    with pytest.raises(TypeError, match="pid"):
        tcptable.process_name(pid)  # type: ignore[arg-type]


@pytest.mark.parametrize("pid", [-1, 1 << 32])
def test_process_name_rejects_out_of_range(pid: int) -> None:
    with pytest.raises(ValueError, match="pid"):
        tcptable.process_name(pid)


def test_process_name_of_pid_zero_is_none() -> None:
    assert tcptable.process_name(0) is None
