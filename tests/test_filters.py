"""Filters (states, local_ports, remote_ports, owner_pids): a filtered snapshot equals the
unfiltered one masked, as a multiset of rows, on every source; bad keywords are refused.

The property tests compare only the test's own sockets (listeners, established pairs, a
TIME_WAIT and a CLOSE_WAIT / FIN_WAIT2 pair in each family): other processes change the rest
of the table between two polls.  The rows a filter keeps must all pass it, whoever owns them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from conftest import LOOPBACK, Pair, ipv6_available, open_listener, open_pair, own_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcptable

SOURCES = ["default"] if sys.platform == "win32" else ["netlink", "proc"]
# Bounded so that the file runs in seconds (a fresh poller with pids walks /proc on Linux).
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Zoo:
    """Sockets in several states, in every family this host has, held for the module."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.ports: set[int] = set()
        families = [4, 6] if ipv6_available() else [4]
        for family in families:
            for _ in range(2):
                self._keep(open_pair(family))
            listener = open_listener(family)
            self.sockets.append(listener)
            self.ports.add(listener.getsockname()[1])
            # TIME_WAIT: the client closes first, then the server.
            closed = self._keep(open_pair(family))
            closed.client.close()
            closed.server.close()
            # CLOSE_WAIT on the server, FIN_WAIT2 on the (closed) client.
            half = self._keep(open_pair(family))
            half.client.close()

    def _keep(self, pair: Pair) -> Pair:
        self.sockets += [pair.listener, pair.client, pair.server]
        self.ports |= {pair.listen_port, pair.client_port}
        return pair

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture(scope="module")
def zoo() -> Iterator[Zoo]:
    opened = Zoo()
    # Let the closing handshakes settle (TIME_WAIT, CLOSE_WAIT): the property holds either
    # way, but it should meet those states.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states = {row.state for row in own(tcptable.snapshot(pids=False), opened.ports)}
        if {tcptable.State.TIME_WAIT, tcptable.State.CLOSE_WAIT} <= states:
            break
        time.sleep(0.05)
    yield opened
    opened.close()


def own(rows: Iterable[tcptable.Connection], ports: set[int]) -> Counter[tcptable.Connection]:
    """The zoo's rows (loopback, both ports the zoo's own, or a listener's 0), as a multiset."""
    return Counter(
        row
        for row in rows
        if row.local_address == LOOPBACK[row.family]
        and row.local_port in ports
        and (row.remote_port in ports or row.remote_port == 0)
    )


def passes(row: tcptable.Connection, filters: dict[str, Any]) -> bool:
    """The filter's meaning, written independently of the shim."""
    states = filters.get("states")
    if states is not None:
        wanted = {
            tcptable.State[s.upper()] if isinstance(s, str) else tcptable.State(s) for s in states
        }
        if row.state not in wanted:
            return False
    for name, value in (
        ("local_ports", row.local_port),
        ("remote_ports", row.remote_port),
        ("owner_pids", row.pid),
    ):
        if filters.get(name) is not None and value not in filters[name]:
            return False
    return True


def order_key(row: tcptable.Connection) -> tuple[Any, ...]:
    """Windows' Order=TRUE: family (IPv4 first), local address and port, remote ones."""
    local, remote = (
        ipaddress.ip_address(row.local_address),
        ipaddress.ip_address(row.remote_address),
    )
    return (row.family, local, row.local_port, remote, row.remote_port)


@st.composite
def filters(draw: st.DrawFn, ports: list[int]) -> dict[str, Any]:
    """Random filter keywords: each absent, or a non-empty set mixing the zoo's values with
    others; states as members, names in any case, or numbers."""
    chosen: dict[str, Any] = {}
    if draw(st.booleans()):
        members = draw(st.sets(st.sampled_from(list(tcptable.State)), min_size=1))
        chosen["states"] = [
            draw(st.sampled_from([m, m.name.lower(), m.name, int(m)])) for m in members
        ]
    port = st.one_of(st.sampled_from(ports), st.integers(0, 65535))
    if draw(st.booleans()):
        chosen["local_ports"] = draw(st.sets(port, min_size=1, max_size=8))
    if draw(st.booleans()):
        chosen["remote_ports"] = draw(st.sets(st.one_of(port, st.just(0)), min_size=1, max_size=8))
    if draw(st.booleans()):
        # Not os.getppid(): on Windows 3.12+ it needs PssCaptureSnapshot, which Wine lacks.
        pid = st.sampled_from([os.getpid(), 0, 1, 4])
        chosen["owner_pids"] = draw(st.sets(st.one_of(pid, st.integers(0, 2**32 - 1)), min_size=1))
    # The owner lookup is most of a fresh poller's cost on Linux: only when a filter needs it.
    chosen["pids"] = "owner_pids" in chosen
    chosen["family"] = draw(st.sampled_from(["all", "ipv4", "ipv6"]))
    chosen["sort"] = draw(st.booleans())
    return chosen


@pytest.mark.parametrize("source", SOURCES)
def test_filtered_snapshot_is_the_masked_snapshot(zoo: Zoo, source: str) -> None:
    unfiltered: dict[tuple[str, bool], tcptable.Poller] = {}  # kept: their owner caches warm

    @PROPERTY_SETTINGS
    @given(chosen=filters(sorted(zoo.ports)))
    def check(chosen: dict[str, Any]) -> None:
        filtered = list(tcptable.snapshot(source=source, **chosen))
        key = (chosen["family"], chosen["pids"])
        if key not in unfiltered:
            unfiltered[key] = tcptable.Poller(key[0], pids=key[1], source=source)
        full = list(unfiltered[key].poll())
        assert own(full, zoo.ports), "the zoo's sockets are missing from the table"
        assert all(passes(row, chosen) for row in filtered)
        if chosen["sort"]:  # the kept rows still come in Order=TRUE order
            keys = [order_key(row) for row in filtered]
            assert keys == sorted(keys)
        masked = [row for row in full if passes(row, chosen)]
        assert own(filtered, zoo.ports) == own(masked, zoo.ports)

    try:
        check()
    finally:
        for poller in unfiltered.values():
            poller.close()


@pytest.mark.parametrize("source", SOURCES)
def test_many_port_ranges_still_filter(zoo: Zoo, source: str) -> None:
    # Every other port: far too many ranges to push into the kernel; decoding filters them.
    ports = set(range(0, 65536, 2)) | zoo.ports
    filtered = tcptable.snapshot(pids=False, source=source, local_ports=ports, remote_ports=ports)
    full = tcptable.snapshot(pids=False, source=source)
    assert all(row.local_port in ports and row.remote_port in ports for row in filtered)
    masked = [row for row in full if row.local_port in ports and row.remote_port in ports]
    assert own(filtered, zoo.ports) == own(masked, zoo.ports)
    assert own(filtered, zoo.ports)


@pytest.mark.parametrize("source", SOURCES)
def test_each_filter_finds_the_pair(pair: Pair, source: str) -> None:
    listen = (pair.listen_port, 0, tcptable.State.LISTEN)
    client = (pair.client_port, pair.listen_port, tcptable.State.ESTABLISHED)
    server = (pair.listen_port, pair.client_port, tcptable.State.ESTABLISHED)
    cases: list[tuple[dict[str, Any], set[tuple[int, int, tcptable.State]]]] = [
        ({"states": ["listen"]}, {listen}),
        ({"states": [tcptable.State.ESTABLISHED]}, {client, server}),
        ({"local_ports": [pair.listen_port]}, {listen, server}),
        ({"remote_ports": [pair.listen_port]}, {client}),
        ({"remote_ports": [0], "local_ports": [pair.listen_port]}, {listen}),
        ({"states": [5], "local_ports": [pair.client_port, pair.listen_port]}, {client, server}),
        ({"states": ["TIME_WAIT"], "local_ports": [pair.listen_port]}, set()),
    ]
    for keywords, expected in cases:
        rows = tcptable.snapshot(source=source, **keywords)
        found = {
            (r.local_port, r.remote_port, r.state)
            for r in rows
            if r.family == pair.family and r.local_address == LOOPBACK[pair.family]
        }
        assert found & pair.expected() == expected, keywords


def test_owner_pids_keeps_only_those_owners(pair: Pair) -> None:
    # The pair's owner as this OS reports it (this process; 0 under Wine, which hides pids).
    owner = own_rows(tcptable.snapshot(), pair)[
        (pair.client_port, pair.listen_port, tcptable.State.ESTABLISHED)
    ].pid
    kept = tcptable.snapshot(owner_pids=[owner, 1])
    assert {row.pid for row in kept} <= {owner, 1}
    assert set(own_rows(kept, pair)) == pair.expected()
    assert not own_rows(tcptable.snapshot(owner_pids=[owner + 1]), pair)


def test_poller_keeps_its_checked_filters() -> None:
    with tcptable.Poller(states=["listen", 5], local_ports=(80, 80, 443), owner_pids=[7]) as poller:
        assert poller.states == {tcptable.State.LISTEN, tcptable.State.ESTABLISHED}
        assert poller.local_ports == {80, 443}
        assert poller.remote_ports is None
        assert poller.owner_pids == {7}
        assert "local_ports=[80, 443]" in repr(poller)


@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [
        ({"states": []}, ValueError, "states is empty"),
        ({"states": ["LISTENING"]}, ValueError, "states: unknown state 'LISTENING'"),
        ({"states": [13]}, ValueError, "states: unknown state number 13"),
        ({"states": [0]}, ValueError, "states: unknown state number 0"),
        ({"states": "LISTEN"}, TypeError, "states must be an iterable .* not the string 'LISTEN'"),
        ({"states": [True]}, TypeError, "states must hold .* not True"),
        ({"states": [2.0]}, TypeError, "states must hold .* not 2.0"),
        ({"states": 2}, TypeError, "states must be an iterable .* not 2"),
        ({"local_ports": []}, ValueError, "local_ports is empty"),
        ({"local_ports": [65536]}, ValueError, "local_ports: 65536 is out of range 0..65535"),
        ({"local_ports": [-1]}, ValueError, "local_ports: -1 is out of range"),
        ({"remote_ports": ["80"]}, TypeError, "remote_ports must hold ints, not '80'"),
        ({"remote_ports": "80"}, TypeError, "remote_ports must be an iterable .* string '80'"),
        ({"remote_ports": 80}, TypeError, "remote_ports must be an iterable of ports, not 80"),
        ({"local_ports": [True]}, TypeError, "local_ports must hold ints, not True"),
        ({"local_ports": [80.0]}, TypeError, "local_ports must hold ints, not 80.0"),
        ({"owner_pids": set()}, ValueError, "owner_pids is empty"),
        ({"owner_pids": [2**32]}, ValueError, "owner_pids: 4294967296 is out of range"),
        ({"owner_pids": [False]}, TypeError, "owner_pids must hold ints, not False"),
        ({"owner_pids": [1], "pids": False}, ValueError, "owner_pids needs pids=True"),
    ],
)
def test_bad_filters_name_the_keyword_and_value(
    keywords: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        tcptable.Poller(**keywords)
    with pytest.raises(error, match=message):
        tcptable.snapshot(**keywords)


def test_iterables_of_any_kind_are_accepted(pair: Pair) -> None:
    ports = (port for port in [pair.listen_port])  # a generator, consumed once
    rows = tcptable.snapshot(local_ports=ports, states=iter(["LISTEN"]))
    assert {(r.local_port, r.state) for r in rows if r.family == pair.family} == {
        (pair.listen_port, tcptable.State.LISTEN)
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sock_diag is Linux's")
@pytest.mark.parametrize(
    "keywords",
    [
        lambda pair: {"states": ["LISTEN"]},
        lambda pair: {"states": ["ESTABLISHED", "SYN_RCVD"]},
        lambda pair: {"local_ports": [pair.listen_port]},
        lambda pair: {"local_ports": [*range(pair.listen_port - 3, pair.listen_port + 4), 9]},
        lambda pair: {"remote_ports": [0, pair.listen_port], "local_ports": [pair.client_port]},
        lambda pair: {"states": [5], "remote_ports": [pair.client_port, pair.listen_port]},
    ],
    ids=["listen", "other-states", "one-port", "port-ranges", "both-sides", "state-and-port"],
)
def test_netlink_filters_run_in_the_kernel(pair: Pair, keywords: Any) -> None:
    """The fetch counts the kernel's reply: equal to the rows kept when the kernel did all the
    filtering (states as idiag_states, ports as INET_DIAG_REQ_BYTECODE)."""
    from tcptable._errors import raise_for_status
    from tcptable._native import ffi, lib

    with tcptable.Poller(source="netlink", pids=False, **keywords(pair)) as poller:
        handle, counts = poller._handle, ffi.new("size_t[2]")
        families = lib.TCPTABLE_FAMILY_IPV4 | lib.TCPTABLE_FAMILY_IPV6
        raise_for_status(
            handle, lib.tcptable_fetch(handle, families, lib.TCPTABLE_SOURCE_NETLINK, 0, counts)
        )
        rows = ffi.new("tcptable_row[]", counts[0] + 1)
        raise_for_status(handle, lib.tcptable_decode(handle, rows, counts[0] + 1, counts + 1))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("states", "ports", "count", "message"),
    [
        (1 << 13, None, 0, "states mask 0x2000 has bits outside"),
        (1, None, 0, "states mask 0x1 has bits outside"),
        (0, [80], 0, "an empty port or pid list"),
    ],
)
def test_shim_refuses_a_bad_filter(states: int, ports: Any, count: int, message: str) -> None:
    from tcptable._errors import raise_for_status
    from tcptable._native import ffi, lib

    handle = ffi.gc(lib.tcptable_poller_new(), lib.tcptable_poller_free)
    array = ffi.NULL if ports is None else ffi.new("uint16_t[]", ports)
    code = lib.tcptable_poller_set_filter(handle, states, array, count, ffi.NULL, 0, ffi.NULL, 0)
    with pytest.raises(ValueError, match=message):
        raise_for_status(handle, code)


def test_shim_owner_filter_needs_pids() -> None:
    from tcptable._errors import raise_for_status
    from tcptable._native import ffi, lib

    handle = ffi.gc(lib.tcptable_poller_new(), lib.tcptable_poller_free)
    pid = ffi.new("uint32_t[]", [1])
    assert lib.tcptable_poller_set_filter(handle, 0, ffi.NULL, 0, ffi.NULL, 0, pid, 1) == 0
    count = ffi.new("size_t *")
    families = lib.TCPTABLE_FAMILY_IPV4 | lib.TCPTABLE_FAMILY_IPV6
    with pytest.raises(ValueError, match="owner pid filter needs TCPTABLE_PIDS"):
        raise_for_status(handle, lib.tcptable_fetch(handle, families, 0, 0, count))


def port_ranges(ports: list[int]) -> st.SearchStrategy[set[int]]:
    """Port sets as up to 80 runs of consecutive ports (the kernel takes 64 a side), with some
    of the zoo's ports among them, and the ends of the port space now and then."""
    run = st.tuples(st.integers(0, 65535), st.integers(1, 40)).map(
        lambda start_length: set(range(start_length[0], min(65536, sum(start_length))))
    )
    return st.tuples(
        st.lists(run, max_size=80), st.sets(st.sampled_from([*ports, 0, 65535]), max_size=6)
    ).map(lambda parts: set().union(*parts[0], parts[1]) or {0})


def runs_of(ports: set[int]) -> int:
    ordered = sorted(ports)
    return sum(1 for i, port in enumerate(ordered) if i == 0 or ordered[i - 1] != port - 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sock_diag is Linux's")
def test_port_bytecode_is_accepted_and_exact(zoo: Zoo) -> None:
    """Random port sets as kernel bytecode: the kernel accepts every program, keeps exactly the
    masked rows, and does all the filtering itself when each side has at most 64 runs."""
    from tcptable._errors import raise_for_status
    from tcptable._native import ffi, lib

    ports = sorted(zoo.ports)
    unfiltered = tcptable.Poller(pids=False, source="netlink")

    @PROPERTY_SETTINGS
    @given(local=port_ranges(ports), remote=port_ranges(ports), both=st.booleans())
    def check(local: set[int], remote: set[int], both: bool) -> None:
        keywords: dict[str, Any] = {"local_ports": local}
        if both:
            keywords["remote_ports"] = remote
        with tcptable.Poller(pids=False, source="netlink", **keywords) as poller:
            handle, counts = poller._handle, ffi.new("size_t[2]")
            families = lib.TCPTABLE_FAMILY_IPV4 | lib.TCPTABLE_FAMILY_IPV6
            raise_for_status(
                handle,
                lib.tcptable_fetch(handle, families, lib.TCPTABLE_SOURCE_NETLINK, 0, counts),
            )
            rows = ffi.new("tcptable_row[]", counts[0] + 1)
            raise_for_status(handle, lib.tcptable_decode(handle, rows, counts[0] + 1, counts + 1))
            filtered = tcptable.Snapshot(
                bytes(ffi.buffer(rows, counts[1] * tcptable.ROW_SIZE)), 0.0
            )
        kept = [row for row in unfiltered.poll() if passes(row, keywords)]
        assert all(passes(row, keywords) for row in filtered)
        assert own(filtered, zoo.ports) == own(kept, zoo.ports)
        if runs_of(local) <= 64 and (not both or runs_of(remote) <= 64):
            assert counts[0] == counts[1], "the kernel did not filter it all"

    try:
        check()
    finally:
        unfiltered.close()
