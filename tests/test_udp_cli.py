"""The command with UDP: -u (UDP only), -t -u (both), udp/udp6 in the Proto column, -l with UDP
(bound, not connected), --counts protocol; this process's own UDP sockets by exact tuples."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator

import pytest
from clitools import LINUX_ONLY, run

pytestmark = LINUX_ONLY


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """A bound IPv4 socket, one connected to it, a bound IPv6 socket, and a TCP listener."""
    bound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bound.bind(("127.0.0.1", 0))
    connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected.bind(("127.0.0.1", 0))
    connected.connect(bound.getsockname())
    bound6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    bound6.bind(("::1", 0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    opened = [bound, connected, bound6, listener]
    yield opened
    for sock in opened:
        sock.close()


def ports(sockets: list[socket.socket]) -> str:
    return ",".join(str(sock.getsockname()[1]) for sock in sockets)


def table_lines(*args: str) -> list[list[str]]:
    """The table's rows, of this process only: another process's socket (TCP's port numbers are
    not UDP's) may share a port number with these."""
    result = run(*args, "--pid", str(os.getpid()))
    assert result.returncode == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()[1:]]


def test_udp_table_says_udp_and_udp6(sockets: list[socket.socket]) -> None:
    bound, connected, bound6, _ = sockets
    pid = str(os.getpid())
    rows = table_lines("-u", "--port", ports(sockets))
    b, c, b6 = (s.getsockname()[1] for s in (bound, connected, bound6))
    assert sorted(row[:5] + row[-1:] for row in rows) == sorted(
        [
            ["udp", "NONE", f"127.0.0.1:{b}", "0.0.0.0:*", pid, "LISTEN"],
            ["udp", "NONE", f"127.0.0.1:{c}", f"127.0.0.1:{b}", pid, "OUTBOUND"],
            ["udp6", "NONE", f"[::1]:{b6}", "[::]:*", pid, "LISTEN"],
        ]
    )


def test_tcp_is_the_default_and_t_u_shows_both(sockets: list[socket.socket]) -> None:
    assert {row[0] for row in table_lines("--port", ports(sockets))} == {"tcp"}
    assert {row[0] for row in table_lines("-t", "--port", ports(sockets))} == {"tcp"}
    both = table_lines("-t", "-u", "--port", ports(sockets))
    assert sorted(row[0] for row in both) == ["tcp", "udp", "udp", "udp6"]


def test_listening_with_udp_is_bound_and_not_connected(sockets: list[socket.socket]) -> None:
    bound, _, bound6, listener = sockets
    rows = table_lines("-t", "-u", "-l", "--port", ports(sockets))
    assert sorted((row[0], row[2]) for row in rows) == sorted(
        [
            ("tcp", f"127.0.0.1:{listener.getsockname()[1]}"),
            ("udp", f"127.0.0.1:{bound.getsockname()[1]}"),
            ("udp6", f"[::1]:{bound6.getsockname()[1]}"),
        ]
    )


def test_json_rows_carry_protocol_17(sockets: list[socket.socket]) -> None:
    bound = sockets[0]
    result = run("-u", "--json", "--sport", str(bound.getsockname()[1]))
    assert result.returncode == 0, result.stderr
    rows = [row for row in json.loads(result.stdout) if row["local_address"] == "127.0.0.1"]
    assert [(row["protocol"], row["state"], row["pid"]) for row in rows] == [
        (17, "NONE", os.getpid())
    ]


def test_counts_by_protocol(sockets: list[socket.socket]) -> None:
    result = run(
        "-t", "-u", "--counts", "protocol", "--port", ports(sockets), "--pid", str(os.getpid())
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PROTOCOL", "COUNT", "udp", "3", "tcp", "1"]
