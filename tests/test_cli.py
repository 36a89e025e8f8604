"""The ``tcptable`` command as a person uses it: the table, filters, formats, counts, --watch,
exit statuses; --watch in a real terminal (tmux)."""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import io
import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest
from clitools import (
    ENV,
    LINUX_ONLY,
    Lines,
    command,
    free_port,
    own_process_name,
    required_tool,
    run,
    stop,
)
from conftest import LOOPBACK, Pair

import tcptable
from tcptable import cli

pytestmark = LINUX_ONLY

COLUMNS = ["Proto", "State", "Local", "Remote", "PID", "Process", "Direction"]


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command in this process: (exit status, stdout, stderr)."""
    status = cli.main(list(args), prog="tcptable")
    out, err = capsys.readouterr()
    return status, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run a bad command line: it must exit 2; returns stderr."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args), prog="tcptable")
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2, (out, err)
    assert out == ""
    return err


def endpoint(pair: Pair, port: int) -> str:
    return f"[{LOOPBACK[6]}]:{port}" if pair.family == 6 else f"{LOOPBACK[4]}:{port}"


def wildcard(pair: Pair) -> str:
    return "[::]:*" if pair.family == 6 else "0.0.0.0:*"


# ---------------------------------------------------------------------------- the table


def table_rows(out: str) -> tuple[list[str], list[list[str]]]:
    lines = out.splitlines()
    return lines, [line.split() for line in lines[1:]]


def test_table_shows_own_pair_aligned_with_owner_and_direction(
    capsys: pytest.CaptureFixture[str], pair: Pair
) -> None:
    status, out, err = main(capsys)  # the whole table, as a person runs it
    assert status == 0
    lines, rows = table_rows(out)
    assert lines[0].split() == COLUMNS
    proto = "tcp6" if pair.family == 6 else "tcp"
    pid, name = str(os.getpid()), own_process_name()
    listen, client = endpoint(pair, pair.listen_port), endpoint(pair, pair.client_port)
    assert [proto, "LISTEN", listen, wildcard(pair), pid, name, "LISTEN"] in rows
    assert [proto, "ESTABLISHED", client, listen, pid, name, "OUTBOUND"] in rows
    assert [proto, "ESTABLISHED", listen, client, pid, name, "INBOUND"] in rows
    assert err == f"{len(rows)} connections\n"
    # Aligned: every cell starts where its header does, after at least two spaces; PID numbers
    # are right-aligned under PID.  Nothing is cut: the addresses above are whole.
    header = lines[0]
    starts = [header.index(column) for column in COLUMNS if column != "PID"]
    pid_end = header.index("PID") + len("PID")
    for line in lines[1:]:
        for start in starts[1:]:
            assert line[start - 2 : start] == "  ", (line, header)
            assert line[start] != " ", (line, header)
        assert line[pid_end - 1] != " ", (line, header)
        assert line[pid_end : pid_end + 2] == "  ", (line, header)


def test_ipv6_endpoints_carry_their_scope() -> None:
    from tcptable._cli_format import endpoint

    lo = socket.if_nametoindex("lo")
    assert endpoint(6, "fe80::1", 22, lo) == "[fe80::1%lo]:22"
    assert endpoint(6, "fe80::1", 22, 2**31 - 1) == f"[fe80::1%{2**31 - 1}]:22"  # no such link
    assert endpoint(6, "::", 0, 0) == "[::]:*"
    assert endpoint(4, "10.0.0.1", 80, 0) == "10.0.0.1:80"


def test_no_pids_and_no_names_drop_their_columns(
    capsys: pytest.CaptureFixture[str], pair: Pair
) -> None:
    _, out, _ = main(capsys, "--no-pids", "--sport", str(pair.listen_port))
    lines, rows = table_rows(out)
    assert lines[0].split() == ["Proto", "State", "Local", "Remote", "Direction"]
    listen, client = endpoint(pair, pair.listen_port), endpoint(pair, pair.client_port)
    assert [row[2:4] for row in rows if row[2] == listen] == [
        [listen, wildcard(pair)],
        [listen, client],
    ]
    _, out, _ = main(capsys, "--no-names", "--sport", str(pair.listen_port))
    lines, rows = table_rows(out)
    assert lines[0].split() == ["Proto", "State", "Local", "Remote", "PID", "Direction"]
    assert {row[4] for row in rows} == {str(os.getpid())}


# ---------------------------------------------------------------------------- formats


def own_dicts(rows: list[dict[str, Any]], pair: Pair) -> dict[tuple[int, int, str], dict[str, Any]]:
    """The rows of the pair's three sockets, by (local port, remote port, state).  Other
    processes' rows may share a port number (on another address), never all of these."""
    loopback = LOOPBACK[pair.family]
    mine = {key[:2] for key in pair.expected()}
    return {
        (row["local_port"], row["remote_port"], row["state"]): row
        for row in rows
        if row["family"] == pair.family
        and (row["local_port"], row["remote_port"]) in mine
        and row["local_address"] == loopback
        and row["remote_address"] in (loopback, "0.0.0.0", "::")
    }


def own_keys(pair: Pair) -> set[tuple[int, int, str]]:
    return {(local, remote, state.name) for local, remote, state in pair.expected()}


def test_json_is_to_dicts_plus_process_and_direction(
    capsys: pytest.CaptureFixture[str], pair: Pair
) -> None:
    ports = f"{pair.listen_port},{pair.client_port}"
    status, out, err = main(capsys, "--json", "--sport", ports)
    assert status == 0
    assert err == ""
    rows = json.loads(out)  # stdout is nothing but the JSON
    mine = own_dicts(rows, pair)
    expected_keys = set(tcptable.Connection._fields) | {"process", "direction"}
    assert all(set(row) == expected_keys for row in rows)
    listener = mine[(pair.listen_port, 0, "LISTEN")]
    assert listener["direction"] == "LISTEN"
    assert listener["process"] == own_process_name()
    assert listener["pid"] == os.getpid()
    assert mine[(pair.client_port, pair.listen_port, "ESTABLISHED")]["direction"] == "OUTBOUND"
    assert mine[(pair.listen_port, pair.client_port, "ESTABLISHED")]["direction"] == "INBOUND"
    # The same objects as the library's to_dicts(), plus the two fields.
    snapshot = tcptable.snapshot(local_ports=[pair.listen_port, pair.client_port])
    library = own_dicts(snapshot.to_dicts(), pair)
    assert library.keys() == mine.keys()
    for key, row in mine.items():
        assert {k: v for k, v in row.items() if k not in ("process", "direction")} == library[key]


def test_jsonl_is_one_object_a_line(capsys: pytest.CaptureFixture[str], pair: Pair) -> None:
    status, out, err = main(capsys, "--jsonl", "--port", str(pair.listen_port))
    assert status == 0
    assert err == ""
    rows = [json.loads(line) for line in out.splitlines()]
    assert set(own_dicts(rows, pair)) == own_keys(pair)
    assert all(pair.listen_port in (r["local_port"], r["remote_port"]) for r in rows)


def test_csv_is_rfc4180_with_a_header(pair: Pair) -> None:
    result = subprocess.run(
        command("--csv", "--port", str(pair.listen_port)), capture_output=True, timeout=60, env=ENV
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    text = result.stdout.decode()
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # every line ends CRLF, none bare LF
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == [*tcptable.Connection._fields, "process", "direction"]
    for row in rows:
        for field in ("family", "local_port", "remote_port", "pid"):
            row[field] = int(row[field])
    mine = own_dicts(rows, pair)  # type: ignore[arg-type]
    assert set(mine) == own_keys(pair)
    assert mine[(pair.listen_port, 0, "LISTEN")]["process"] == own_process_name()


# ---------------------------------------------------------------------------- filters


def json_rows(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    status, out, _ = main(capsys, "--json", *args)
    assert status == 0
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_port_filters(capsys: pytest.CaptureFixture[str], pair: Pair) -> None:
    listen, client = pair.listen_port, pair.client_port
    rows = json_rows(capsys, "--sport", str(listen))
    assert {r["local_port"] for r in rows} == {listen}
    assert set(own_dicts(rows, pair)) == {(listen, 0, "LISTEN"), (listen, client, "ESTABLISHED")}
    rows = json_rows(capsys, "--dport", str(listen))
    assert {r["remote_port"] for r in rows} == {listen}
    assert set(own_dicts(rows, pair)) == {(client, listen, "ESTABLISHED")}
    rows = json_rows(capsys, "--port", str(client))  # either end
    assert all(client in (r["local_port"], r["remote_port"]) for r in rows)
    assert set(own_dicts(rows, pair)) == {
        (client, listen, "ESTABLISHED"),
        (listen, client, "ESTABLISHED"),
    }
    rows = json_rows(capsys, "--sport", f"{listen},{client}")  # a comma list
    assert {r["local_port"] for r in rows} == {listen, client}
    assert set(own_dicts(rows, pair)) == own_keys(pair)


def test_state_filters(capsys: pytest.CaptureFixture[str], pair: Pair) -> None:
    port = str(pair.listen_port)
    listening = json_rows(capsys, "-l")
    assert {r["state"] for r in listening} == {"LISTEN"}
    assert set(own_dicts(listening, pair)) == {(pair.listen_port, 0, "LISTEN")}
    established = {key for key in own_keys(pair) if key[2] == "ESTABLISHED"}
    for spelling in (["--state", "established"], ["--state", "ESTABLISHED,Established"]):
        rows = json_rows(capsys, *spelling, "--port", port)
        assert {r["state"] for r in rows} == {"ESTABLISHED"}
        assert set(own_dicts(rows, pair)) == established
    # -l adds LISTEN to the states asked for.
    for states in (
        ["--state", "listen", "--state", "established"],
        ["-l", "--state", "established"],
    ):
        rows = json_rows(capsys, *states, "--port", port)
        assert {r["state"] for r in rows} == {"LISTEN", "ESTABLISHED"}
        assert set(own_dicts(rows, pair)) == own_keys(pair)


def test_family_filters(capsys: pytest.CaptureFixture[str], pair: Pair) -> None:
    same, other = ("-6", "-4") if pair.family == 6 else ("-4", "-6")
    rows = json_rows(capsys, same, "--port", str(pair.listen_port))
    assert {r["family"] for r in rows} == {pair.family}
    assert set(own_dicts(rows, pair)) == own_keys(pair)
    rows = json_rows(capsys, other, "--sport", f"{pair.listen_port},{pair.client_port}")
    assert own_dicts(rows, pair) == {}
    assert all(r["family"] != pair.family for r in rows)


def test_owner_filters(capsys: pytest.CaptureFixture[str], pair: Pair) -> None:
    name = own_process_name()
    rows = json_rows(capsys, "--pid", str(os.getpid()))
    assert {r["pid"] for r in rows} == {os.getpid()}
    assert set(own_dicts(rows, pair)) == own_keys(pair)
    ports = ("--sport", f"{pair.listen_port},{pair.client_port}")
    for pattern in (name, name[:2] + "*", "[" + name[0] + "]" + name[1:]):
        rows = json_rows(capsys, "--process", pattern, *ports)
        assert all(fnmatch.fnmatchcase(r["process"], pattern) for r in rows)
        assert set(own_dicts(rows, pair)) == own_keys(pair)
    assert json_rows(capsys, "--process", name + "-no-such-process", *ports) == []


# ---------------------------------------------------------------------------- counts


def counts(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, int]:
    """--counts as JSON, for this process's sockets only (other processes' rows may share a
    port number on another address)."""
    status, out, _ = main(capsys, "--json", "--pid", str(os.getpid()), "--counts", *args)
    assert status == 0
    result: dict[str, int] = json.loads(out)
    return result


def test_counts_by_every_key(capsys: pytest.CaptureFixture[str], pair: Pair) -> None:
    listen, client, pid = str(pair.listen_port), str(pair.client_port), str(os.getpid())
    name = own_process_name()
    any_address = "::" if pair.family == 6 else "0.0.0.0"
    # Filters the library applies: counted by Snapshot.count_by ...
    assert counts(capsys, "state", "--sport", listen) == {"LISTEN": 1, "ESTABLISHED": 1}
    assert counts(capsys, "direction", "--sport", listen) == {"LISTEN": 1, "INBOUND": 1}
    assert counts(capsys, "port", "--dport", listen) == {client: 1}
    assert counts(capsys, "pid", "--sport", listen) == {pid: 2}
    assert counts(capsys, "process", "--sport", listen) == {name: 2}
    assert counts(capsys, "remote", "--dport", listen) == {LOOPBACK[pair.family]: 1}
    # ... and with --port, which the command applies row by row: the same answers.
    assert counts(capsys, "--port", listen) == {"ESTABLISHED": 2, "LISTEN": 1}
    assert counts(capsys, "direction", "--port", listen) == {
        "LISTEN": 1,
        "INBOUND": 1,
        "OUTBOUND": 1,
    }
    assert counts(capsys, "port", "--port", listen) == {listen: 2, client: 1}
    assert counts(capsys, "pid", "--port", listen) == {pid: 3}
    assert counts(capsys, "process", "--port", listen) == {name: 3}
    assert counts(capsys, "remote", "--port", listen) == {LOOPBACK[pair.family]: 2, any_address: 1}


def test_counts_as_a_table(capsys: pytest.CaptureFixture[str], pair: Pair) -> None:
    status, out, _ = main(
        capsys, "--counts", "--pid", str(os.getpid()), "--port", str(pair.listen_port)
    )
    assert status == 0
    assert [line.split() for line in out.splitlines()] == [
        ["STATE", "COUNT"],
        ["ESTABLISHED", "2"],
        ["LISTEN", "1"],
    ]


# ---------------------------------------------------------------------------- usage and exits


BAD_USAGE = [
    (["--state", "bogus"], "--state"),
    (["--state", "listen,"], "--state"),
    (["--port", "70000"], "--port"),
    (["--port", "x"], "--port"),
    (["--sport", "-1"], "--sport"),
    (["--dport", ""], "--dport"),
    (["--pid", "0"], "--pid"),
    (["--pid", "abc"], "--pid"),
    (["--counts", "bogus"], "--counts"),
    (["--watch", "--interval", "0"], "--interval"),
    (["--watch", "--interval", "nan"], "--interval"),
    (["--interval", "1"], "--interval"),
    (["--json", "--csv"], "--csv"),
    (["-4", "-6"], "-6"),
    (["--watch", "--counts"], "--counts"),
    (["--no-pids", "--pid", "1"], "--pid"),
    (["--no-pids", "--process", "x"], "--process"),
    (["--no-names", "--process", "x"], "--process"),
    (["--no-pids", "--counts", "pid"], "--counts"),
    (["--family", "ipx"], "--family"),
    (["--bogus"], "--bogus"),
    (["exporter", "--listen", "nonsense"], "--listen"),
    (["exporter", "--listen", "127.0.0.1:0"], "--listen"),
    (["exporter", "--listen", "127.0.0.1:70000"], "--listen"),
    (["exporter", "--listen", "::1:9464"], "--listen"),
    (["exporter", "--listen", "[nonsense]:9464"], "--listen"),
    (["exporter", "--interval", "-1"], "--interval"),
    (["exporter", "--bogus"], "--bogus"),
]


@pytest.mark.parametrize(("args", "option"), BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_usage_exits_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    err = usage_error(capsys, *args)
    assert "usage: tcptable" in err
    assert option in err.splitlines()[-1], err


def test_bad_usage_exit_status_from_the_shell() -> None:
    result = run("--state", "bogus")
    assert result.returncode == 2
    assert "argument --state" in result.stderr
    assert result.stdout == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"], prog="tcptable")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"tcptable {version('tcptable')}\n"


def test_help_names_the_program_as_invoked() -> None:
    script = Path(sysconfig.get_path("scripts")) / "tcptable"
    assert script.exists(), f"the console script is not installed at {script}"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, env=ENV
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: tcptable ")
    assert "tcptable exporter" in result.stdout
    result = subprocess.run(
        [str(script), "exporter", "--help"], capture_output=True, text=True, timeout=60, env=ENV
    )
    assert result.stdout.startswith("usage: tcptable exporter ")
    result = run("--help")
    assert result.stdout.startswith(f"usage: {Path(sys.executable).stem} -m tcptable ")


def test_program_name() -> None:
    assert cli.program_name("/usr/local/bin/tcptable") == "tcptable"
    assert cli.program_name("/opt/Scripts/tcptable.exe") == "tcptable"  # Windows' launcher
    assert cli.program_name("/x/site-packages/tcptable/__main__.py").endswith(" -m tcptable")


# The OS refusing: no file descriptor can be opened, so neither sock_diag nor /proc answers.
# (shutil first: argparse imports it lazily; so does the command its writers and --watch.)
_REFUSED = """
import resource, shutil, sys
from tcptable import cli, _cli_format, _cli_text, _watch
resource.setrlimit(resource.RLIMIT_NOFILE, (3, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
sys.exit(cli.main(sys.argv[1:], prog="tcptable"))
"""


@pytest.mark.parametrize("args", [[], ["--json"], ["--counts"], ["--watch"]])
def test_os_refusal_exits_1_with_a_message(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _REFUSED, "--no-pids", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.startswith("tcptable: ")
    assert "Too many open files" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------- --watch


def listen_on(port: int) -> socket.socket:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)
    return listener


def start_watch(*args: str) -> tuple[subprocess.Popen[str], Lines, Lines]:
    process = subprocess.Popen(
        command("--watch", "--interval", "0.1", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = Lines(process.stdout), Lines(process.stderr)
    err.wait_for("watching")  # the first poll is done: what follows is a change
    return process, out, err


def test_watch_jsonl_reports_opened_changed_closed() -> None:
    # A port nothing uses (a bound socket is a table row on newer kernels, so none is kept).
    port = free_port()
    process, out, _ = start_watch("--jsonl", "-4", "--port", str(port))

    def event(kind: str, local: int, remote: int) -> dict[str, Any]:
        line = out.wait_for(
            f'"event": "{kind}"', f'"local_port": {local},', f'"remote_port": {remote},'
        )
        found: dict[str, Any] = json.loads(line)
        return found

    try:
        listener = listen_on(port)
        opened = event("opened", port, 0)
        assert opened["state"] == "LISTEN"
        assert opened["local_address"] == "127.0.0.1"
        assert opened["pid"] == os.getpid()
        assert opened["process"] == own_process_name()
        assert opened["time"]
        assert opened["timestamp"] > 0
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        client_port = client.getsockname()[1]
        assert event("opened", client_port, port)["state"] == "ESTABLISHED"
        assert event("opened", port, client_port)["state"] == "ESTABLISHED"
        client.close()  # the client end goes to FIN_WAIT2 (or on), the server end to CLOSE_WAIT
        changed = event("changed", port, client_port)
        assert (changed["old_state"], changed["state"]) == ("ESTABLISHED", "CLOSE_WAIT")
        server.close()
        listener.close()
        assert event("closed", port, 0)["state"] == "LISTEN"
    finally:
        stop(process)


def test_ctrl_c_exits_0_without_a_traceback() -> None:
    process, _, err = start_watch()
    process.send_signal(signal.SIGINT)
    assert process.wait(15) == 0
    assert not any("Traceback" in line for line in err.rest())


def test_a_closed_pipe_ends_quietly() -> None:
    port = free_port()
    process = subprocess.Popen(
        command("--watch", "--interval", "0.1", "--jsonl", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    err = Lines(process.stderr)
    try:
        err.wait_for("watching")
        listener = listen_on(port)
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no event within 20 s"
        assert '"opened"' in process.stdout.readline()
        process.stdout.close()  # the reader leaves, as `| head -1` does
        # Keep the watched port changing, so that the command writes into the closed pipe.
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            listener.close()
            listener = listen_on(port)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0.3)
        listener.close()
        assert process.poll() == 0
    finally:
        stop(process)
    lines = err.rest()
    assert not any("Traceback" in line or "Error" in line for line in lines), lines


def capture(tmux: str, socket_path: str) -> str:
    return subprocess.run(
        [tmux, "-S", socket_path, "capture-pane", "-p", "-t", "watch"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def test_watch_in_a_real_terminal(tmp_path: Path) -> None:
    tmux = required_tool("tmux")
    port = free_port()
    socket_path = str(tmp_path / "tmux.sock")
    config = tmp_path / "tmux.conf"
    config.write_text("set -g remain-on-exit on\n")  # a crash stays on screen for the message
    watch = shlex.join(command("--watch", "--interval", "0.2", "--port", str(port)))
    env = {**ENV, "TERM": "xterm-256color"}
    subprocess.run(
        [tmux, "-S", socket_path, "-f", str(config), "new-session", "-d", "-s", "watch",
         "-x", "160", "-y", "40", watch],
        check=True, timeout=30, env=env,
    )  # fmt: skip
    try:

        def screen_has(pattern: str) -> str | None:
            screen = capture(tmux, socket_path)
            return screen if re.search(pattern, screen, re.MULTILINE) else None

        def wait_screen(pattern: str, timeout: float = 20.0) -> str:
            deadline = time.monotonic() + timeout
            while True:
                screen = screen_has(pattern)
                if screen is not None:
                    return screen
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{pattern!r} not on screen within {timeout} s:\n"
                        f"{capture(tmux, socket_path)}"
                    )
                time.sleep(0.05)

        wait_screen(r"^watching \d+ connections?")
        listener = listen_on(port)
        clock = r"^\d\d:\d\d:\d\d\.\d{3}"
        name = re.escape(own_process_name())
        where = rf"127\.0\.0\.1:{port} +0\.0\.0\.0:\*"
        opened = rf"{clock} \+ tcp +{where} +{os.getpid()} {name} +LISTEN$"
        # A row polled between close() dropping the fd and the kernel dropping the socket has
        # no owner any more: the "-" line may show none.
        closed = rf"{clock} - tcp +{where} +({os.getpid()} {name}|- -) +LISTEN$"
        wait_screen(opened)
        listener.close()
        screen = wait_screen(closed)
        lines = screen.splitlines()
        plus = next(i for i, line in enumerate(lines) if re.search(opened, line))
        minus = next(i for i, line in enumerate(lines) if re.search(closed, line))
        assert plus < minus
    finally:
        subprocess.run([tmux, "-S", socket_path, "kill-server"], timeout=30, check=False)
