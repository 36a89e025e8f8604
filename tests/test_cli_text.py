"""The command's C writer (tcptable_format.c through tcptable._cli_text) against its Python
writer (tcptable._cli_format.write_records), byte for byte, on hand-built rows: every state,
IPv6 with scopes, unknown owners, long and odd process names, every output; and its refusals
of bad rows and arguments.  OS-independent."""

from __future__ import annotations

import io
import re
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_rows import make_row, snapshot_of

import tcptable
from tcptable import _cli_format, _cli_text
from tcptable._native import lib
from tcptable._rows import ROW_STRUCT

OUTPUTS = ["table", "json", "jsonl", "csv"]

# Names a process can have (Linux comm: any byte but NUL, up to 15; Windows image names are
# longer), as the command gets them: str, decoded with "replace".
ODD_NAMES = [
    "python3",
    "",
    "with space",
    "comma,name",
    'quote"name',
    "back\\slash",
    "new\nline",
    "carriage\rreturn",
    "tab\there",
    "bell\x07\x1f\x7f",
    "é-accent",
    "日本語プロセス",
    "emoji\U0001f600",
    "replaced\ufffd",
    "x" * 700,  # a long Windows image name
    "trailing  ",
    "nbsp\xa0",
    "lone\udc80surrogate",
]


def python_text(
    table: tcptable.Snapshot,
    output: str,
    directions: bytes | None,
    pids: bool = True,
    names: bool = True,
) -> str:
    """What the command's Python writer prints for these rows."""
    process_names = table.process_names or {}
    records = [
        _cli_format.Record(
            connection,
            process_names.get(connection.pid),
            None if directions is None else tcptable.Direction(directions[i]).name,
        )
        for i, connection in enumerate(table)
    ]
    out = io.StringIO(newline="")  # the command writes CSV with newline="" too
    _cli_format.write_records(out, records, output, pids=pids, names=names)
    return out.getvalue()


def c_text(
    table: tcptable.Snapshot,
    output: str,
    directions: bytes | None,
    pids: bool = True,
    names: bool = True,
) -> str:
    columns = _cli_text.table_columns(pids, names) if output == "table" else _cli_text.FIELDS
    return _cli_text.format_rows(
        table.view,
        output,
        columns,
        directions=None if directions is None else memoryview(directions),
        process_names=table.process_names,
    )


def with_names(rows: list[bytes], names: dict[int, str]) -> tcptable.Snapshot:
    table = snapshot_of(rows)
    table.process_names = names
    return table


def assert_same(table: tcptable.Snapshot, directions: bytes | None = None, **columns: bool) -> None:
    for output in OUTPUTS:
        expected = python_text(table, output, directions, **columns)
        assert c_text(table, output, directions, **columns) == expected, output


def every_state_rows() -> list[bytes]:
    rows = []
    for state in tcptable.State:
        rows.append(make_row(("10.1.2.3", 1000 + state), ("192.168.0.1", 443), state=state, pid=7))
        rows.append(make_row(("2001:db8::1", 2000 + state), ("::", 0), state=state, pid=0))
    return rows


@pytest.mark.parametrize("columns", [{}, {"names": False}, {"pids": False, "names": False}])
def test_every_state_and_direction_as_the_python_writer(columns: dict[str, bool]) -> None:
    rows = every_state_rows()
    table = with_names(rows, {7: "server"})
    assert_same(table, bytes(i % 4 for i in range(len(rows))), **columns)


def test_no_directions_are_null_and_dash() -> None:
    table = with_names(every_state_rows(), {7: "server"})
    assert_same(table, None)
    assert '"direction": null' in c_text(table, "json", None)


def test_empty_table() -> None:
    table = snapshot_of([])
    table.process_names = {}
    assert_same(table, b"")
    assert c_text(table, "json", b"") == "[]\n"
    assert c_text(table, "table", b"").split() == [
        "Proto",
        "State",
        "Local",
        "Remote",
        "PID",
        "Process",
        "Direction",
    ]


def test_ipv6_scopes_known_and_unknown_interfaces() -> None:
    try:
        lo = socket.if_nametoindex("lo")
    except (OSError, AttributeError):  # no interface of that name (Windows): any index will do
        lo = 1
    rows = [
        make_row(("fe80::1", 22), ("fe80::2", 5000), scope_ids=(lo, lo), pid=1),
        make_row(("fe80::1", 23), ("::", 0), scope_ids=(2**31 - 1, 0), pid=1),  # no such link
        make_row(("::ffff:10.0.0.1", 80), ("::1", 0), family=6, pid=1),
        make_row(("2001:db8:0:0:1:0:0:1", 80), ("::", 0), pid=1),
        make_row(("1:0:0:0:0:0:0:8", 80), ("0:1:0:1:0:1:0:1", 1), pid=1),
    ]
    table = with_names(rows, {1: "sshd"})
    assert_same(table, bytes(len(rows)))
    text = c_text(table, "table", bytes(len(rows)))
    assert f"[fe80::1%{2**31 - 1}]:23" in text


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_process_names_escaped_and_aligned_as_the_python_writer(name: str) -> None:
    rows = [
        make_row(("127.0.0.1", 80), ("127.0.0.1", 5000), pid=11),
        make_row(("127.0.0.1", 81), ("127.0.0.1", 5001), pid=12),  # a pid without a name
        make_row(("127.0.0.1", 82), state=tcptable.State.LISTEN, pid=0),
    ]
    table = with_names(rows, {11: name})
    assert_same(table, bytes([3, 3, 1]))


def test_udp_rows_say_udp() -> None:
    rows = [
        make_row(("127.0.0.1", 53), protocol=17),
        make_row(("::1", 53), protocol=17),
        make_row(("127.0.0.1", 80)),
    ]
    table = with_names(rows, {})
    assert_same(table, bytes(3))
    protos = [line.split()[0] for line in c_text(table, "table", bytes(3)).splitlines()[1:]]
    assert protos == ["udp", "udp6", "tcp"]


def test_netns_and_container_columns() -> None:
    rows = [
        make_row(("127.0.0.1", 80), pid=5, netns=4026531840),
        make_row(("127.0.0.1", 81), pid=6, netns=4026532000),
        make_row(("127.0.0.1", 82), pid=0, netns=0),
    ]
    columns = [
        *_cli_text.table_columns(True, False),
        lib.TCPTABLE_COLUMN_NETNS,
        lib.TCPTABLE_COLUMN_CONTAINER,
    ]
    text = _cli_text.format_rows(
        snapshot_of(rows).view,
        "table",
        columns,
        directions=memoryview(bytes(3)),
        netns_names={4026531840: "host"},
        containers={5: "3f2a9c"},
    )
    cells = [line.split()[-2:] for line in text.splitlines()]
    assert cells == [["NETNS", "CONTAINER"], ["host", "3f2a9c"], ["4026532000", "-"], ["-", "-"]]
    fields = [
        tcptable._native.lib.TCPTABLE_FIELD_NETNS_NAME,
        tcptable._native.lib.TCPTABLE_FIELD_CONTAINER,
    ]
    lines = _cli_text.format_rows(
        snapshot_of(rows).view,
        "jsonl",
        fields,
        netns_names={4026531840: "host"},
        containers={5: "c"},
    ).splitlines()
    assert lines == [
        '{"netns_name": "host", "container": "c"}',
        '{"netns_name": null, "container": null}',
        '{"netns_name": null, "container": null}',
    ]


def packed(fields: dict[str, Any]) -> bytes:
    return ROW_STRUCT.pack(
        fields["local"],
        fields["remote"],
        fields["local_scope"],
        fields["remote_scope"],
        fields["pid"],
        fields["uid"],
        fields["inode"],
        fields["local_port"],
        fields["remote_port"],
        fields["family"],
        fields["state"],
        fields["offload"],
        fields["protocol"],
        fields["netns"],
    )


@st.composite
def any_row(draw: Any) -> bytes:
    """Any valid row: any address bytes (IPv4 ones IPv4-mapped), any numbers."""
    family = draw(st.sampled_from([4, 6]))

    def address() -> bytes:
        if family == 4:
            return bytes(10) + b"\xff\xff" + draw(st.binary(min_size=4, max_size=4))
        # Zero runs of every length, where inet_ntop's "::" choice matters.
        return b"".join(
            draw(st.sampled_from([b"\0\0", b"\0\1", b"\xfe\x80", b"\xff\xff", b"\x12\x34"]))
            for _ in range(8)
        )

    return packed(
        {
            "local": address(),
            "remote": address(),
            "local_scope": draw(st.sampled_from([0, 1, 2**32 - 1])),
            "remote_scope": draw(st.sampled_from([0, 1, 77])),
            "pid": draw(st.sampled_from([0, 1, 2, 3, 2**32 - 1])),
            "uid": draw(st.integers(0, 2**32 - 1)),
            "inode": draw(st.integers(0, 2**64 - 1)),
            "local_port": draw(st.integers(0, 65535)),
            "remote_port": draw(st.integers(0, 65535)),
            "family": family,
            "state": draw(st.integers(1, 12)),
            "offload": draw(st.integers(0, 3)),
            "protocol": draw(st.sampled_from([6, 17])),
            "netns": draw(st.integers(0, 2**64 - 1)),
        }
    )


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(any_row(), max_size=12),
    # A process name is a C string: never a NUL (which CPython's csv writes only from 3.11 on).
    names=st.dictionaries(
        st.sampled_from([1, 2, 2**32 - 1]),
        st.text(st.characters(blacklist_characters="\x00"), max_size=20),
    ),
    data=st.data(),
)
def test_any_rows_as_the_python_writer(rows: list[bytes], names: dict[int, str], data: Any) -> None:
    directions = data.draw(st.binary(min_size=len(rows), max_size=len(rows)))
    directions = bytes(b % 4 for b in directions)
    table = with_names(rows, names)
    assert_same(table, directions)
    assert_same(table, None, names=False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("family", 5, "row 1: family 5 is not 4 or 6"),
        ("state", 13, "row 1: state 13 is not 0..12"),
        ("state", 255, "row 1: state 255 is not 0..12"),
        ("offload", 4, "row 1: offload state 4 is not 0..3"),
        ("protocol", 0, "row 1: protocol 0 is not 6 (TCP) or 17 (UDP)"),
    ],
)
def test_a_bad_row_is_refused_naming_it(field: str, value: int, message: str) -> None:
    good = {
        "local": bytes(16),
        "remote": bytes(16),
        "local_scope": 0,
        "remote_scope": 0,
        "pid": 0,
        "uid": 0,
        "inode": 0,
        "local_port": 1,
        "remote_port": 2,
        "family": 6,
        "state": 5,
        "offload": 0,
        "protocol": 6,
        "netns": 0,
    }
    table = snapshot_of([packed(good), packed({**good, field: value})])
    for output in OUTPUTS:
        with pytest.raises(tcptable.TcpTableError, match=re.escape(message)):
            c_text(table, output, bytes(2))


def test_a_bad_direction_is_refused() -> None:
    table = snapshot_of([make_row(("127.0.0.1", 1))])
    with pytest.raises(tcptable.TcpTableError, match=re.escape("row 0: direction 4 is not 0..3")):
        c_text(table, "json", bytes([4]))


def test_columns_must_fit_the_output() -> None:
    table = snapshot_of([make_row(("127.0.0.1", 1))])
    with pytest.raises(ValueError, match="column 1 is not one of output 1"):
        _cli_text.format_rows(table.view, "json", _cli_text.table_columns(True, True))
    with pytest.raises(ValueError, match="column 99 is not one of output 0"):
        _cli_text.format_rows(table.view, "table", [99])
    with pytest.raises(ValueError, match="0 columns"):
        _cli_text.format_rows(table.view, "csv", [])


# ---------------------------------------------------------------------------- --counts, quick


def test_quick_counts_take_only_their_command_lines() -> None:
    """The quick path's reading of a command line is argparse's, or it leaves it to argparse."""
    from tcptable import _cli_counts
    from tcptable._cli_args import build_parser

    parser = build_parser("tcptable")
    families = {None: 3, "ipv4": 1, "ipv6": 2}
    lines = [
        ["--counts"],
        ["--counts", "port"],
        ["--counts=direction", "-4"],
        ["-6", "--counts", "state", "--no-pids"],
        ["--counts", "-l", "--no-names"],
        ["--listening", "--counts", "port", "-6"],
    ]
    for args in lines:
        options = parser.parse_args(args)
        assert _cli_counts._options(args) == (
            options.counts,
            families[options.family],
            options.listening,
        ), args
    for args in [
        [],
        ["--json"],
        ["--counts", "pid"],
        ["--counts", "process"],
        ["--counts", "remote"],
        ["--counts", "bogus"],
        ["--counts", "--json"],
        ["--counts", "-4", "-6"],
        ["--counts", "--counts"],
        ["--count"],
        ["--counts", "--port", "80"],
        ["--counts", "-l", "-l"],
        ["exporter"],
    ]:
        assert _cli_counts._options(args) is None, args


@pytest.mark.parametrize("key", ["state", "port", "direction"])
def test_quick_counts_print_what_the_full_command_prints(key: str) -> None:
    from tcptable import _cli_counts, cli

    values = {"state": [2, 5, 11, 1], "port": [443, 80, 22, 65535], "direction": [0, 1, 2, 3]}
    counts = [3, 12, 3, 1]
    shown: dict[str, int] = {}
    for value, number in zip(values[key], counts):
        if key == "state":
            label = cli._label(key, tcptable.State(value))
        elif key == "direction":
            label = cli._label(key, tcptable.Direction(value))
        else:
            label = cli._label(key, value)
        shown[label] = number
    ordered = sorted(shown.items(), key=lambda item: (-item[1], item[0]))
    out = io.StringIO()
    _cli_format.write_counts(out, key, ordered, "table")
    assert _cli_counts.render(key, values[key], counts) == out.getvalue()


def test_quick_table_takes_only_its_command_lines() -> None:
    """The quick table path reads a command line as argparse does, or leaves it to argparse."""
    from tcptable import _cli_table
    from tcptable._cli_args import build_parser

    parser = build_parser("tcptable")
    families = {"ipv4": 1, "ipv6": 2}
    for args in [
        [],
        ["--json"],
        ["--jsonl", "-4"],
        ["--csv", "-6", "--no-pids"],
        ["-l", "--no-names"],
        ["--listening", "--json", "-4"],
    ]:
        options = parser.parse_args(args)
        quick = _cli_table._options(args)
        assert quick is not None, args
        assert quick.get("output") == options.output, args
        assert quick.get("family") == families.get(options.family), args
        assert ("listening" in quick) == options.listening, args
        assert ("no_pids" in quick) == options.no_pids, args
        assert ("no_names" in quick) == options.no_names, args
    for args in [
        ["--json", "--csv"],
        ["-4", "-6"],
        ["--json", "--json"],
        ["--port", "80"],
        ["--sport", "22"],
        ["--state", "listen"],
        ["--process", "sshd"],
        ["--family", "ipv4"],
        ["--watch"],
        ["--counts", "remote"],
        ["--js"],
        ["--help"],
        ["--version"],
        ["exporter"],
    ]:
        assert _cli_table._options(args) is None, args


# Today's text of two rows, written out: both writers must keep printing exactly this.
GOLDEN = {
    "table": (
        "Proto  State        Local         Remote       PID  Process  Direction\n"
        'tcp    LISTEN       127.0.0.1:22  0.0.0.0:*    812  ssh"d    LISTEN\n'
        "tcp6   ESTABLISHED  [::1]:8080    [::1]:51000    -  -        INBOUND\n"
    ),
    "json": (
        '[\n{"family": 4, "state": "LISTEN", "local_address": "127.0.0.1", "local_port": 22, '
        '"remote_address": "0.0.0.0", "remote_port": 0, "pid": 812, "offload_state": "IN_HOST", '
        '"local_scope_id": 0, "remote_scope_id": 0, "uid": 0, "inode": 0, "protocol": 6, '
        '"netns": 0, "process": "ssh\\"d", "direction": "LISTEN"},\n'
        '{"family": 6, "state": "ESTABLISHED", "local_address": "::1", "local_port": 8080, '
        '"remote_address": "::1", "remote_port": 51000, "pid": 0, "offload_state": "IN_HOST", '
        '"local_scope_id": 0, "remote_scope_id": 0, "uid": 0, "inode": 0, "protocol": 6, '
        '"netns": 0, "process": null, "direction": "INBOUND"}\n]\n'
    ),
    "csv": (
        "family,state,local_address,local_port,remote_address,remote_port,pid,offload_state,"
        "local_scope_id,remote_scope_id,uid,inode,protocol,netns,process,direction\r\n"
        '4,LISTEN,127.0.0.1,22,0.0.0.0,0,812,IN_HOST,0,0,0,0,6,0,"ssh""d",LISTEN\r\n'
        "6,ESTABLISHED,::1,8080,::1,51000,0,IN_HOST,0,0,0,0,6,0,,INBOUND\r\n"
    ),
}


@pytest.mark.parametrize("output", sorted(GOLDEN))
def test_both_writers_print_todays_text(output: str) -> None:
    table = with_names(
        [
            make_row(("127.0.0.1", 22), state=tcptable.State.LISTEN, pid=812),
            make_row(("::1", 8080), ("::1", 51000), pid=0),
        ],
        {812: 'ssh"d'},
    )
    assert python_text(table, output, bytes([1, 2])) == GOLDEN[output]
    assert c_text(table, output, bytes([1, 2])) == GOLDEN[output]
