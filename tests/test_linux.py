"""Linux: pids, uid and inode, agreement with `ss`, and the /proc fallback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest
from conftest import Pair, own_rows

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def test_pid_uid_and_inode_are_this_process(pair: Pair) -> None:
    found = own_rows(tcptable.snapshot(pids=True), pair)
    assert set(found) == pair.expected()
    by_socket = {
        (pair.listen_port, 0, tcptable.State.LISTEN): pair.listener,
        (pair.client_port, pair.listen_port, tcptable.State.ESTABLISHED): pair.client,
        (pair.listen_port, pair.client_port, tcptable.State.ESTABLISHED): pair.server,
    }
    for key, sock in by_socket.items():
        assert found[key].pid == os.getpid(), key
        assert found[key].uid == os.getuid(), key
        assert found[key].inode == os.fstat(sock.fileno()).st_ino, key


def test_pids_false_leaves_pid_zero(pair: Pair) -> None:
    found = own_rows(tcptable.snapshot(pids=False), pair)
    assert set(found) == pair.expected()
    assert {row.pid for row in found.values()} == {0}


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_agrees_with_ss(pair: Pair) -> None:
    table = tcptable.snapshot()
    result = subprocess.run(["ss", "-tanH"], capture_output=True, text=True, timeout=30, check=True)
    ss_states = {"LISTEN": "LISTEN", "ESTAB": "ESTABLISHED"}
    ours_in_ss = set()
    for line in result.stdout.splitlines():
        state, _, _, local, remote = line.split()[:5]
        local_port = int(local.rsplit(":", 1)[1])
        remote_port = 0 if remote.endswith(":*") else int(remote.rsplit(":", 1)[1])
        if state in ss_states:
            key = (local_port, remote_port, tcptable.State[ss_states[state]])
            if key in pair.expected():
                ours_in_ss.add((key, local.rsplit(":", 1)[0].strip("[]")))
    ours_in_table = {(key, row.local_address) for key, row in own_rows(table, pair).items()}
    assert ours_in_table == ours_in_ss
    assert len(ours_in_table) == 3


@pytest.mark.parametrize("family", ["all", "ipv4", "ipv6"])
def test_proc_fallback_rows_equal_netlink_rows(pair: Pair, family: str) -> None:
    with (
        tcptable.Poller(family=family, source="netlink") as netlink,
        tcptable.Poller(family=family, source="proc") as proc,
    ):
        from_netlink = own_rows(netlink.poll(), pair)
        from_proc = own_rows(proc.poll(), pair)
    assert from_netlink == from_proc
    wanted = {"all": pair.family, "ipv4": 4, "ipv6": 6}[family]
    assert set(from_proc) == (pair.expected() if pair.family == wanted else set())


def test_proc_source_sorts_in_order_true_order(pair: Pair) -> None:
    import ipaddress

    with tcptable.Poller(sort=True, source="proc") as proc:
        rows = list(proc.poll())
    assert set(own_rows(rows, pair)) == pair.expected()
    keys = [
        (
            r.family,
            ipaddress.ip_address(r.local_address),
            r.local_port,
            ipaddress.ip_address(r.remote_address),
            r.remote_port,
        )
        for r in rows
    ]
    assert keys == sorted(keys)


@pytest.mark.parametrize("source", ["netlink", "proc"])
def test_a_bound_socket_that_neither_listens_nor_connects_is_not_a_row(source: str) -> None:
    # Linux 6.7+ dumps such sockets (TCP_BOUND_INACTIVE) when asked for state bit 13;
    # /proc/net/tcp, psutil and GetTcpTable2 never list them, and neither do we.
    with socket.socket() as bound, socket.socket() as listener:
        bound.bind(("127.0.0.1", 0))
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        ports = {bound.getsockname()[1], listener.getsockname()[1]}
        rows = tcptable.snapshot(source=source, local_ports=ports)
        assert [(row.local_port, row.state) for row in rows] == [
            (listener.getsockname()[1], tcptable.State.LISTEN)
        ]
