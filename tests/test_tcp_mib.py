"""tcptable.statistics: the kernel's TCP counters move with the tests' own connections."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import FAMILIES, ipv6_available, open_pair

import tcptable

CONNECTIONS = 5


def open_and_close_pairs(family: int, count: int) -> None:
    for _ in range(count):
        pair = open_pair(family)
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()


def test_statistics_fields() -> None:
    numbers = tcptable.statistics()
    assert isinstance(numbers, tcptable.TcpStatistics)
    assert numbers._fields[:4] == ("rto_algorithm", "rto_min", "rto_max", "max_conn")
    assert numbers._fields[-1] == "num_conns"
    assert len(numbers) == 15
    assert all(type(value) is int for value in numbers)
    assert numbers.max_conn == -1 or numbers.max_conn > 0
    assert numbers.rto_min <= numbers.rto_max
    counters = numbers[4:]
    assert all(value >= 0 for value in counters)


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
def test_opens_count_our_connections(family: int) -> None:
    before = tcptable.statistics()
    open_and_close_pairs(family, CONNECTIONS)
    after = tcptable.statistics()
    # Other processes only add to these counters: ours are a lower bound.
    assert after.active_opens - before.active_opens >= CONNECTIONS
    assert after.passive_opens - before.passive_opens >= CONNECTIONS
    assert after.out_segs > before.out_segs
    assert after.in_segs > before.in_segs


@pytest.mark.parametrize("family", ["IPv4", "", "inet", None, 4, b"all"])
def test_bad_family(family: Any) -> None:
    with pytest.raises(ValueError, match="family") as raised:
        tcptable.statistics(family)
    assert repr(family) in str(raised.value)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux keeps one counter set per host")
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_linux_has_no_per_family_counters(family: str) -> None:
    with pytest.raises(tcptable.NotSupportedError, match="IPv4 and IPv6 together"):
        tcptable.statistics(family)


@pytest.mark.skipif(sys.platform != "win32", reason="per-family counters are Windows'")
@pytest.mark.parametrize(
    ("family", "name"),
    [
        (4, "ipv4"),
        pytest.param(6, "ipv6", marks=pytest.mark.skipif(not ipv6_available(), reason="no IPv6")),
    ],
)
def test_windows_per_family_counters(family: int, name: str) -> None:
    before = tcptable.statistics(name)
    open_and_close_pairs(family, CONNECTIONS)
    after = tcptable.statistics(name)
    assert after.active_opens - before.active_opens >= CONNECTIONS
