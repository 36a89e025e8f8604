"""Network namespaces on Linux: real namespaces (anonymous ones made with unshare, named ones
with `ip netns add`), each holding the same listener and connected pair; the poller must see
every one, tell them apart by netns, and report what it cannot read."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator

import pytest

import tcptable

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces: Linux"),
    pytest.mark.skipif(
        sys.platform.startswith("linux") and os.geteuid() != 0,
        reason="making network namespaces needs root",
    ),
    # CI installs iproute2 (tests/run-all.sh): there a missing ip fails instead of skipping.
    pytest.mark.skipif(
        shutil.which("ip") is None and os.environ.get("CI") != "true",
        reason="needs ip (iproute2)",
    ),
]

if sys.platform.startswith("linux"):
    from faults import Seam, fail
    from netns_holders import Holder, delete_named, free_port_pair, named_namespace, row_tuple


@pytest.fixture
def port() -> int:
    return free_port_pair()


@pytest.fixture
def holders(port: int) -> Iterator[list[Holder]]:
    """Two anonymous namespaces and one named one, each with the same sockets."""
    name = named_namespace()
    made: list[Holder] = []
    try:
        made.append(Holder(port))
        made.append(Holder(port))
        made.append(Holder(port, named=name))
        yield made
    finally:
        for holder in made:
            holder.stop()
        delete_named(name)


def rows_of(table: tcptable.Snapshot, holder: Holder) -> list[tcptable.Connection]:
    return [c for c in table if c.netns == holder.netns and row_tuple(c) in holder.tuples()]


def test_all_reads_every_namespace_with_its_netns_and_pid(holders: list[Holder]) -> None:
    with tcptable.Poller(namespaces="all") as poller:
        table = poller.poll()
    for holder in holders:
        rows = rows_of(table, holder)
        assert {row_tuple(c) for c in rows} == holder.tuples(), holder.netns
        assert len(rows) == 3
        assert {c.pid for c in rows} == {holder.pid}
        assert holder.netns in table.namespaces
    assert len({h.netns for h in holders}) == 3
    named = holders[2]
    assert table.namespaces[named.netns] == named.name
    assert table.namespaces[holders[0].netns] is None
    own = os.stat("/proc/self/ns/net").st_ino
    assert own in table.namespaces
    assert not any(h.netns in table.namespace_errors for h in holders)


def test_own_namespace_rows_carry_its_inode() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        port = listener.getsockname()[1]
        table = tcptable.snapshot(local_ports=[port], pids=False)
        own = os.stat("/proc/self/ns/net").st_ino
        assert [c.netns for c in table] == [own]
        assert table.namespaces == {own: None}
        assert table.namespace_errors == {}
        assert table.array["netns"].tolist() == [own]
    finally:
        listener.close()


@pytest.mark.parametrize("how", ["pid", "proc path", "named path"])
def test_a_pid_or_a_path_selects_exactly_one_namespace(holders: list[Holder], how: str) -> None:
    holder = holders[2]  # named, and held by a process
    selector: object = {
        "pid": holder.pid,
        "proc path": f"/proc/{holder.pid}/ns/net",
        "named path": f"/var/run/netns/{holder.name}",
    }[how]
    table = tcptable.snapshot(namespaces=[selector])
    assert {c.netns for c in table} == {holder.netns}
    assert {row_tuple(c) for c in table} == holder.tuples()
    assert list(table.namespaces) == [holder.netns]
    if how == "named path":
        assert table.namespaces[holder.netns] == holder.name


def test_same_tuple_in_two_namespaces_stays_two_rows(holders: list[Holder]) -> None:
    first, second = holders[0], holders[1]
    with tcptable.Poller(namespaces=[first.pid, second.pid]) as poller:
        before = poller.poll()
        after = poller.poll()
    counts = after.count_by("netns")
    assert counts == dict.fromkeys(sorted((first.netns, second.netns)), 3)
    changes = tcptable.diff(before, after)
    assert len(changes.opened) == 0
    assert len(changes.closed) == 0
    opened = tcptable.diff(tcptable.Snapshot(b"", 0.0), after).opened
    assert len(opened) == 6
    assert sorted(row_tuple(c) for c in opened) == sorted(list(first.tuples()) * 2)
    # Each namespace's accepted connection is inbound to its own listener only.
    directions = dict(zip(((c.netns, c.local_port) for c in after), after.directions()))
    for holder in (first, second):
        assert directions[(holder.netns, holder.port)] in (
            tcptable.Direction.LISTEN,
            tcptable.Direction.INBOUND,
        )
        assert directions[(holder.netns, holder.port + 1)] == tcptable.Direction.OUTBOUND


def test_a_listener_in_another_namespace_does_not_make_a_row_inbound(port: int) -> None:
    holder = Holder(port)
    try:
        with tcptable.Poller(namespaces="all", pids=False) as poller:
            table = poller.poll()
        rows = list(table)
        # Move the accepted row to another namespace: the listener no longer accepts it.
        accepted = next(
            i
            for i, c in enumerate(rows)
            if c.netns == holder.netns and c.local_port == port and c.remote_port == port + 1
        )
        assert table.directions()[accepted] == tcptable.Direction.INBOUND
        array = table.array.copy()
        array["netns"][accepted] = holder.netns + 1
        moved = tcptable.Snapshot(memoryview(array.tobytes()).toreadonly(), 0.0)
        assert moved.directions()[accepted] == tcptable.Direction.OUTBOUND
    finally:
        holder.stop()


def test_a_namespace_that_goes_away_drops_out_without_error(port: int) -> None:
    holder = Holder(port)
    with tcptable.Poller(namespaces="all", pids=False) as poller:
        try:
            assert holder.netns in poller.poll().namespaces
        finally:
            holder.stop()
        table = poller.poll()
    assert holder.netns not in table.namespaces
    assert holder.netns not in table.namespace_errors
    assert not any(
        isinstance(key, str) and f"/{holder.pid}/" in key for key in table.namespace_errors
    )
    assert holder.netns not in table.count_by("netns")


def test_a_new_namespace_is_picked_up_on_the_next_poll(port: int) -> None:
    with tcptable.Poller(namespaces="all") as poller:
        poller.poll()
        holder = Holder(port)
        try:
            table = poller.poll()
        finally:
            holder.stop()
    assert {row_tuple(c) for c in rows_of(table, holder)} == holder.tuples()


def test_a_named_namespace_without_processes_is_read(port: int) -> None:
    name = named_namespace()
    try:
        inode = os.stat(f"/var/run/netns/{name}").st_ino
        table = tcptable.snapshot(namespaces="all", pids=False)
        assert table.namespaces[inode] == name
        assert inode not in table.namespace_errors
        assert inode not in table.count_by("netns")  # nothing listens there: no rows
    finally:
        delete_named(name)
    assert inode not in tcptable.snapshot(namespaces="all", pids=False).namespaces


def _poll_as_nobody(namespaces: object) -> dict[str, object]:
    """Poll in a child that dropped to nobody; its namespaces and errors, as JSON."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            table = tcptable.snapshot(namespaces=namespaces, pids=False)
            report = {
                "namespaces": [str(n) for n in table.namespaces],
                "errors": {str(k): [v.errno, str(v)] for k, v in table.namespace_errors.items()},
            }
            os.write(write_end, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(child, 0)
    assert status == 0, "the unprivileged poller failed"
    assert data
    result: dict[str, object] = json.loads(data)
    return result


def test_an_unprivileged_poller_reports_what_it_cannot_read(holders: list[Holder]) -> None:
    anonymous, named = holders[0], holders[2]
    report = _poll_as_nobody("all")
    errors = report["errors"]
    assert isinstance(errors, dict)
    # Its own namespace it reads; another's it cannot even identify, or cannot enter.
    assert str(os.stat("/proc/self/ns/net").st_ino) in report["namespaces"]  # type: ignore[operator]
    assert f"/proc/{anonymous.pid}/ns/net" in errors
    assert errors[f"/proc/{anonymous.pid}/ns/net"][0] == errno.EACCES
    assert str(named.netns) in errors  # its file is readable, entering it is not
    assert errors[str(named.netns)][0] in (errno.EPERM, errno.EACCES)


def test_an_unprivileged_poller_asked_for_a_namespace_reports_it(holders: list[Holder]) -> None:
    named = holders[2]
    report = _poll_as_nobody([f"/var/run/netns/{named.name}"])
    assert report["namespaces"] == []
    assert list(report["errors"]) == [str(named.netns)]  # type: ignore[arg-type]


def test_setns_refused_reads_proc_pid_net_instead(holders: list[Holder]) -> None:
    holder = holders[0]
    with tcptable.Poller(namespaces=[holder.pid]) as poller:
        seam = Seam(poller, setns=lambda fd, nstype: fail(errno.EPERM))
        try:
            table = poller.poll()
        finally:
            seam.remove()
    assert seam.calls["setns"] == 1
    assert {row_tuple(c) for c in table} == holder.tuples()
    assert {c.netns for c in table} == {holder.netns}
    assert {c.pid for c in table} == {holder.pid}
    assert table.namespace_errors == {}


def test_a_namespace_that_cannot_be_entered_is_an_error_not_a_failed_poll(
    holders: list[Holder],
) -> None:
    holder = holders[0]
    with tcptable.Poller(namespaces="all", pids=False) as poller:
        seam = Seam(poller, setns=lambda fd, nstype: fail(errno.EINVAL))
        try:
            table = poller.poll()
        finally:
            seam.remove()
        assert not seam.errors
        error = table.namespace_errors[holder.netns]
        assert error.errno == errno.EINVAL
        assert "setns" in str(error)
        assert holder.netns not in table.count_by("netns")
        # The same poller, on the real calls again, reads it.
        assert {row_tuple(c) for c in rows_of(poller.poll(), holder)} == holder.tuples()


def test_a_failed_proc_listing_fails_the_poll() -> None:
    with tcptable.Poller(namespaces="all", pids=False) as poller:
        seam = Seam(poller, getdents64=lambda fd, buffer, length: fail(errno.EIO))
        try:
            with pytest.raises(tcptable.TcpTableError) as caught:
                poller.poll()
        finally:
            seam.remove()
        assert caught.value.errno == errno.EIO
        assert "getdents64 /proc" in str(caught.value)
        assert len(poller.poll().namespaces) >= 1


def test_a_poller_in_a_fork_child_opens_its_own_sockets(holders: list[Holder]) -> None:
    holder = holders[0]
    with tcptable.Poller(namespaces=[holder.pid]) as poller:
        poller.poll()
        child = os.fork()
        if child == 0:  # pragma: no cover - reports through its exit status
            ok = {row_tuple(c) for c in poller.poll()} == holder.tuples()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(child, 0)
        assert status == 0
        assert {row_tuple(c) for c in poller.poll()} == holder.tuples()


# ---- bad input ------------------------------------------------------------------------------


def test_bad_namespaces_arguments(tmp_path: object) -> None:
    with pytest.raises(ValueError, match=r"namespaces must be None, 'all'.*'every'"):
        tcptable.Poller(namespaces="every")
    with pytest.raises(TypeError, match="namespaces must be"):
        tcptable.Poller(namespaces=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"namespaces items.*True"):
        tcptable.Poller(namespaces=[True])
    with pytest.raises(ValueError, match="namespaces: -3 is not a pid"):
        tcptable.Poller(namespaces=[-3])
    with pytest.raises(ValueError, match="names no namespace"):
        tcptable.Poller(namespaces=[])
    with pytest.raises(FileNotFoundError, match="namespaces: no pid 4194305"):
        tcptable.Poller(namespaces=[4194305])  # above the kernel's pid_max limit: never a process
    with pytest.raises(FileNotFoundError, match="/nonexistent/ns"):
        tcptable.Poller(namespaces=["/nonexistent/ns"])
    regular = os.path.join(str(tmp_path), "file")
    with open(regular, "w"):
        pass
    with pytest.raises(ValueError, match="is not a network namespace"):
        tcptable.Poller(namespaces=[regular])
    with pytest.raises(ValueError, match="is not a network namespace"):
        tcptable.Poller(namespaces=[f"/proc/{os.getpid()}/ns/uts"])
    with pytest.raises(ValueError, match="containers=True needs pids=True"):
        tcptable.Poller(containers=True, pids=False)
    with pytest.raises(TypeError, match="containers must be True or False"):
        tcptable.Poller(containers=1)  # type: ignore[arg-type]


def test_pathlike_and_repr() -> None:
    import pathlib

    path = pathlib.Path(f"/proc/{os.getpid()}/ns/net")
    with tcptable.Poller(namespaces=[path, os.getpid()], pids=False) as poller:
        assert poller.namespaces == (os.getpid(), str(path))
        assert "namespaces=" in repr(poller)
        table = poller.poll()
    assert list(table.namespaces) == [os.stat("/proc/self/ns/net").st_ino]


# ---- the exporter -----------------------------------------------------------------------------


def test_exporter_labels_each_namespace(holders: list[Holder]) -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from tcptable.exporter import Exporter

    named = holders[2]
    registry = prometheus_client.CollectorRegistry()
    poller = tcptable.Poller(namespaces=[f"/var/run/netns/{named.name}", holders[0].pid])
    exporter = Exporter(poller, 1.0, registry)
    try:
        assert exporter.poll_once()
        for netns in (named.name, str(holders[0].netns)):
            assert (
                registry.get_sample_value(
                    "tcptable_connections", {"family": "ipv4", "state": "listen", "netns": netns}
                )
                == 1
            )
            assert (
                registry.get_sample_value(
                    "tcptable_connections",
                    {"family": "ipv4", "state": "established", "netns": netns},
                )
                == 2
            )
        labels = {
            "family": "ipv4",
            "address": "127.0.0.1",
            "port": str(named.port),
            "process": "",
            "netns": named.name,
        }
        assert registry.get_sample_value("tcptable_listening", labels) == 1
    finally:
        exporter.stop()


def test_cli_shows_namespaces(holders: list[Holder]) -> None:
    import subprocess

    named = holders[2]
    command = [sys.executable, "-m", "tcptable", "--netns", "all", "--sport", str(named.port)]
    shown = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    lines = shown.splitlines()
    assert lines[0].split()[-1] == "NETNS"
    assert sum(line.split()[-1] == named.name for line in lines[1:]) == 2  # listener, accepted
    assert sum(line.split()[-1] == str(holders[0].netns) for line in lines[1:]) == 2
    counts = subprocess.run(
        [*command[:-2], "--counts", "netns", "--csv"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert f"{named.name},3" in counts
    jsonl = subprocess.run(
        [*command, "--jsonl"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert {json.loads(line)["netns"] for line in jsonl} == {h.netns for h in holders}


def test_filters_and_stats_work_across_namespaces(holders: list[Holder]) -> None:
    with tcptable.Poller(namespaces="all", states={"LISTEN"}, pids=False) as poller:
        table = poller.poll()
    for holder in holders:
        assert [row_tuple(c) for c in table if c.netns == holder.netns] == [
            ("127.0.0.1", holder.port, "0.0.0.0", 0, "LISTEN")
        ]
    # Each namespace's stats records stay aligned with its rows.
    with tcptable.Poller(namespaces=[h.pid for h in holders], stats=True) as poller:
        table = poller.poll()
    stats = table.stats_array
    assert len(stats) == len(table)
    for index, connection in enumerate(table):
        if connection.state == tcptable.State.ESTABLISHED:
            assert stats[index]["snd_cwnd"] > 0, connection
    assert len(table) == 9
