"""Linux fault injection: every failure of the calls the backend makes, and every odd reply,
has one outcome: a retry that gives the exact table, or a TcpTableError naming the call and the
errno.  Never a crash, a hang, a short table passed off as whole, or a leaked descriptor.

Each test replaces system calls of one poller (faults.Seam); the fixture then checks that the
same poller, back on the real calls, polls its own sockets again, and that no descriptor is
left open.  docs/guide/errors.md lists what each fault gives.
"""

from __future__ import annotations

import errno
import gc
import os
import socket
import struct
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from conftest import Pair, ipv6_available, open_pair, own_rows

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from faults import (
        NLMSG_DONE,
        REAL,
        SOCK_DIAG_BY_FAMILY,
        Clock,
        Replies,
        Seam,
        Text,
        diag_port,
        done_message,
        error_message,
        fail,
        fail_first,
        join,
        kind,
        make_message,
        messages,
        passthrough,
        sequence,
        set_diag_byte,
        with_sequence,
    )

    from tcptable._native import lib

FAMILY = {4: "ipv4", 6: "ipv6"}
Make = Callable[..., tuple[tcptable.Poller, "Seam"]]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def clean_rows(pair: Pair, source: str = "netlink") -> dict[Any, tcptable.Connection]:
    """The pair's rows as a poll on the real calls gives them."""
    with tcptable.Poller(family=FAMILY[pair.family], pids=False, source=source) as poller:
        rows = own_rows(poller.poll(), pair)
    assert set(rows) == pair.expected()
    return rows


@pytest.fixture
def faulty(pair: Pair) -> Iterator[Make]:
    """make(source, **hooks) -> (poller, seam): a poller of the pair's family whose calls are
    the hooks.  Afterwards: no hook raised, the same poller on the real calls finds the pair
    again, and every descriptor opened meanwhile is closed."""
    before = open_fds()
    made: list[tuple[tcptable.Poller, Seam]] = []

    def make(source: str = "netlink", **hooks: Callable[..., int]) -> tuple[tcptable.Poller, Seam]:
        poller = tcptable.Poller(family=FAMILY[pair.family], pids=False, source=source)
        seam = Seam(poller, **hooks)
        made.append((poller, seam))
        return poller, seam

    yield make
    for poller, seam in made:
        assert not seam.errors, seam.errors
        seam.remove()
        assert set(own_rows(poller.poll(), pair)) == pair.expected()
        poller.close()
    assert open_fds() == before


def raises(poller: tcptable.Poller, err: int, *words: str) -> tcptable.TcpTableError:
    """poll() raises TcpTableError (not a subclass) with errno `err`, naming `words`."""
    with pytest.raises(tcptable.TcpTableError) as raised:
        poller.poll()
    assert type(raised.value) is tcptable.TcpTableError
    assert raised.value.errno == err, raised.value
    assert os.strerror(err) in str(raised.value)
    for word in words:
        assert word in str(raised.value)
    return raised.value


# ---------------------------------------------------------------- interrupted and failing calls

NETLINK_CALLS = {"socket": "NETLINK_SOCK_DIAG socket", "sendto": "sock_diag request",
                 "recv": "sock_diag recv"}  # fmt: skip
PROC_CALLS = {"open": "/proc/net/tcp", "read": "/proc/net/tcp"}


@pytest.mark.parametrize("call", [*NETLINK_CALLS, *PROC_CALLS])
def test_eintr_once_is_retried_and_gives_the_exact_table(
    faulty: Make, pair: Pair, call: str
) -> None:
    source = "proc" if call in PROC_CALLS else "netlink"
    poller, seam = faulty(source, **{call: fail_first(call, errno.EINTR)})
    assert own_rows(poller.poll(), pair) == clean_rows(pair, source)
    assert seam.calls[call] >= 2  # the interrupted call, then its retry


@pytest.mark.parametrize("call", [*NETLINK_CALLS, *PROC_CALLS])
def test_eintr_on_every_try_fails_after_a_bounded_number(
    faulty: Make, pair: Pair, call: str
) -> None:
    source = "proc" if call in PROC_CALLS else "netlink"
    poller, seam = faulty(source, **{call: lambda *args: fail(errno.EINTR)})
    raises(poller, errno.EINTR, {**NETLINK_CALLS, **PROC_CALLS}[call])
    assert seam.calls[call] == lib.TCPTABLE_EINTR_TRIES


@pytest.mark.parametrize("call", [*NETLINK_CALLS, *PROC_CALLS])
def test_eagain_is_an_error_naming_the_call(faulty: Make, pair: Pair, call: str) -> None:
    # The descriptors are blocking: EAGAIN only comes from the receive timeout (SO_RCVTIMEO),
    # i.e. the kernel did not answer for TCPTABLE_LINUX_TIMEOUT_MS.  Retrying would double it.
    source = "proc" if call in PROC_CALLS else "netlink"
    poller, seam = faulty(source, **{call: fail_first(call, errno.EAGAIN)})
    error = raises(poller, errno.EAGAIN, {**NETLINK_CALLS, **PROC_CALLS}[call])
    if call == "recv":
        assert "no reply within 10 s" in str(error)
    assert seam.calls[call] == 1


@pytest.mark.parametrize("err", [errno.EIO, errno.EBADF, errno.EFAULT])
@pytest.mark.parametrize("call", [*NETLINK_CALLS, *PROC_CALLS])
def test_other_errors_fail_naming_the_call(faulty: Make, call: str, err: int) -> None:
    source = "proc" if call in PROC_CALLS else "netlink"
    poller, seam = faulty(source, **{call: fail_first(call, err)})
    raises(poller, err, {**NETLINK_CALLS, **PROC_CALLS}[call])
    assert seam.calls[call] == 1


def test_enobufs_mid_dump_restarts_the_dump_on_a_fresh_socket(faulty: Make, pair: Pair) -> None:
    # The kernel dropped part of the dump: the datagram after the first is lost.
    replies = Replies(lambda index, datagram: [errno.ENOBUFS] if index == 2 else [datagram])
    opened: list[int] = []
    poller, _ = faulty(recv=replies, socket=passthrough("socket", opened))
    assert own_rows(poller.poll(), pair) == clean_rows(pair)
    assert len(opened) == 2


def test_enobufs_on_every_dump_fails_after_bounded_restarts(faulty: Make) -> None:
    poller, seam = faulty(recv=lambda *args: fail(errno.ENOBUFS), socket=passthrough("socket"))
    error = raises(poller, errno.ENOBUFS, "sock_diag recv", "restarted")
    assert f"restarted {lib.TCPTABLE_DUMP_TRIES} times" in str(error)
    assert seam.calls["socket"] == seam.calls["recv"] == lib.TCPTABLE_DUMP_TRIES


def test_enobufs_on_the_request_restarts_the_dump(faulty: Make, pair: Pair) -> None:
    poller, seam = faulty(sendto=fail_first("sendto", errno.ENOBUFS), socket=passthrough("socket"))
    assert own_rows(poller.poll(), pair) == clean_rows(pair)
    assert seam.calls["socket"] == seam.calls["sendto"] == 2


@pytest.mark.parametrize(
    "err", [errno.EPERM, errno.EACCES, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT]
)
def test_no_sock_diag_socket_falls_back_to_proc_by_default(
    faulty: Make, pair: Pair, err: int
) -> None:
    poller, seam = faulty("default", socket=lambda *args: fail(err))
    assert own_rows(poller.poll(), pair) == clean_rows(pair, "proc")
    poller.poll()
    assert seam.calls["socket"] == 1  # /proc from then on


@pytest.mark.parametrize(
    "err", [errno.EPERM, errno.EACCES, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT]
)
def test_no_sock_diag_socket_is_not_supported_for_source_netlink(faulty: Make, err: int) -> None:
    poller, _ = faulty(socket=lambda *args: fail(err))
    with pytest.raises(tcptable.NotSupportedError) as raised:
        poller.poll()
    assert raised.value.errno == err
    assert "NETLINK_SOCK_DIAG socket" in str(raised.value)


@pytest.mark.parametrize("source", ["default", "netlink"])
def test_out_of_descriptors_is_an_error_not_a_fallback(faulty: Make, source: str) -> None:
    poller, _ = faulty(source, socket=fail_first("socket", errno.EMFILE))
    raises(poller, errno.EMFILE, "NETLINK_SOCK_DIAG socket")


# ---------------------------------------------------------------- odd sock_diag replies


def test_truncated_datagram_restarts_with_room_for_it(faulty: Make, pair: Pair) -> None:
    # A datagram larger than the space offered (MSG_TRUNC gives its real size): its tail is
    # lost, so the dump restarts with that much space.
    big = make_message(SOCK_DIAG_BY_FAMILY, 0, bytes(100_000))
    replies = Replies(lambda index, datagram: [big] if index == 1 else [datagram])
    poller, seam = faulty(recv=replies, socket=passthrough("socket"))
    assert own_rows(poller.poll(), pair) == clean_rows(pair)
    assert seam.calls["socket"] == 2
    assert replies.offered[0] < len(big) <= replies.offered[1]


@pytest.mark.parametrize(
    "length", [0, 8, 1 << 20], ids=["zero", "shorter-than-a-header", "longer-than-the-datagram"]
)
def test_malformed_message_length_is_bad_data(faulty: Make, length: int) -> None:
    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        first = bytearray(datagram)
        struct.pack_into("=I", first, 0, length)
        return [bytes(first)]

    poller, _ = faulty(recv=Replies(edit))
    raises(poller, errno.EBADMSG, "sock_diag recv", "malformed netlink message")


def test_unaligned_message_lengths_decode_exactly(faulty: Make, pair: Pair) -> None:
    # Every message one byte longer than its payload (so nlmsg_len is not a multiple of 4),
    # padded to 4 bytes except the last, so each datagram's length is unaligned too.
    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        parts = []
        for message in messages(datagram):
            grown = bytearray(message + b"\xee")
            struct.pack_into("=I", grown, 0, len(grown))
            parts.append(bytes(grown))
        return [join(parts)[: -(-len(parts[-1]) % 4) or None]]

    poller, _ = faulty(recv=Replies(edit))
    assert own_rows(poller.poll(), pair) == clean_rows(pair)


def test_trailing_bytes_shorter_than_a_header_are_ignored(faulty: Make, pair: Pair) -> None:
    poller, _ = faulty(recv=Replies(lambda index, datagram: [datagram + b"\x01\x02\x03\x04"]))
    assert own_rows(poller.poll(), pair) == clean_rows(pair)


TRANSIENT = [errno.EBUSY, errno.EINTR, errno.ENOBUFS, errno.EAGAIN]
FATAL = [errno.EPERM, errno.EACCES, errno.EINVAL, errno.EIO, errno.EMSGSIZE, errno.ESRCH]


def error_after_first(err: int, once: bool) -> Callable[[int, bytes], list[bytes | int]]:
    """An edit: the first datagram of a dump, then NLMSG_ERROR(err) in place of the rest."""
    sent = []

    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        first = messages(datagram)[0]
        if kind(first) == NLMSG_DONE or (once and sent):
            return [datagram]
        sent.append(index)
        return [datagram, join([error_message(sequence(first), err)])]

    return edit


@pytest.mark.parametrize("err", TRANSIENT)
def test_transient_nlmsg_error_mid_dump_restarts(faulty: Make, pair: Pair, err: int) -> None:
    poller, seam = faulty(recv=Replies(error_after_first(err, once=True)),
                          socket=passthrough("socket"))  # fmt: skip
    assert own_rows(poller.poll(), pair) == clean_rows(pair)
    assert seam.calls["socket"] == 2


@pytest.mark.parametrize("err", TRANSIENT)
def test_transient_nlmsg_error_on_every_dump_fails(faulty: Make, err: int) -> None:
    poller, seam = faulty(recv=Replies(error_after_first(err, once=False)),
                          socket=passthrough("socket"))  # fmt: skip
    raises(poller, err, "sock_diag dump", f"restarted {lib.TCPTABLE_DUMP_TRIES} times")
    assert seam.calls["socket"] == lib.TCPTABLE_DUMP_TRIES


@pytest.mark.parametrize("err", FATAL)
def test_nlmsg_error_mid_dump_fails_with_its_errno(faulty: Make, err: int) -> None:
    poller, seam = faulty(recv=Replies(error_after_first(err, once=False)),
                          socket=passthrough("socket"))  # fmt: skip
    raises(poller, err, "sock_diag dump")
    assert seam.calls["socket"] == 1


@pytest.mark.parametrize("err", [errno.ENOENT, errno.EOPNOTSUPP])
def test_nlmsg_error_no_tcp_diag_is_not_supported(faulty: Make, err: int) -> None:
    poller, _ = faulty(recv=Replies(error_after_first(err, once=False)))
    with pytest.raises(tcptable.NotSupportedError) as raised:
        poller.poll()
    assert raised.value.errno == err


def test_nlmsg_error_enomem_is_memory_error(faulty: Make) -> None:
    poller, _ = faulty(recv=Replies(error_after_first(errno.ENOMEM, once=False)))
    with pytest.raises(MemoryError, match="sock_diag dump"):
        poller.poll()


def test_nlmsg_error_without_an_error_is_bad_data(faulty: Make) -> None:
    poller, _ = faulty(recv=Replies(error_after_first(0, once=False)))
    raises(poller, errno.EBADMSG, "sock_diag dump", "NLMSG_ERROR with error 0")


@pytest.mark.parametrize("result", [-(2**31), -4096])
def test_nlmsg_error_outside_the_kernels_errnos_is_bad_data(faulty: Make, result: int) -> None:
    # INT_MIN cannot be negated: a reply the kernel never writes, found by fuzzing.
    poller, _ = faulty(recv=Replies(error_after_first(-result, once=False)))
    raises(poller, errno.EBADMSG, "sock_diag dump", f"NLMSG_ERROR with error {result}")


def replace_first_done(result: int, once: bool) -> Callable[[int, bytes], list[bytes | int]]:
    """An edit: the dump's NLMSG_DONE carries `result` (its first time only if `once`)."""
    done = []

    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        parts = messages(datagram)
        if kind(parts[0]) != NLMSG_DONE or (once and done):
            return [datagram]
        done.append(index)
        return [join([done_message(sequence(parts[0]), result)])]

    return edit


def test_nlmsg_done_carrying_a_transient_error_restarts(faulty: Make, pair: Pair) -> None:
    poller, seam = faulty(recv=Replies(replace_first_done(-errno.EBUSY, once=True)),
                          socket=passthrough("socket"))  # fmt: skip
    assert own_rows(poller.poll(), pair) == clean_rows(pair)
    assert seam.calls["socket"] == 2


@pytest.mark.parametrize("result", [-(2**31), -4096])
def test_nlmsg_done_outside_the_kernels_errnos_is_bad_data(faulty: Make, result: int) -> None:
    poller, _ = faulty(recv=Replies(replace_first_done(result, once=False)))
    raises(poller, errno.EBADMSG, "sock_diag dump", f"NLMSG_DONE with error {result}")


def test_nlmsg_overrun_restarts(faulty: Make, pair: Pair) -> None:
    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        if index != 1:
            return [datagram]
        return [join([make_message(4, sequence(messages(datagram)[0]), b"")])]  # NLMSG_OVERRUN

    poller, seam = faulty(recv=Replies(edit), socket=passthrough("socket"))
    assert own_rows(poller.poll(), pair) == clean_rows(pair)
    assert seam.calls["socket"] == 2


def test_empty_datagram_is_bad_data(faulty: Make) -> None:
    poller, _ = faulty(recv=Replies(lambda index, datagram: [b""]))
    raises(poller, errno.EBADMSG, "sock_diag recv", "empty datagram")


def test_short_inet_diag_msg_is_bad_data(faulty: Make) -> None:
    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        seq = sequence(messages(datagram)[0])
        return [join([make_message(SOCK_DIAG_BY_FAMILY, seq, bytes(20))]), datagram]

    poller, _ = faulty(recv=Replies(edit))
    raises(poller, errno.EBADMSG, "short inet_diag_msg")


def test_nlmsg_done_carrying_an_error_fails_with_it(faulty: Make) -> None:
    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        parts = messages(datagram)
        if kind(parts[0]) != NLMSG_DONE:
            return [datagram]
        return [join([done_message(sequence(parts[0]), -errno.EINVAL)])]

    poller, _ = faulty(recv=Replies(edit))
    raises(poller, errno.EINVAL, "sock_diag dump")


def test_stale_replies_of_an_earlier_dump_are_skipped(faulty: Make, pair: Pair) -> None:
    # Before the real reply: rows and a DONE of an abandoned earlier dump (sequence - 1).
    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        if index != 1:
            return [datagram]
        parts = messages(datagram)
        stale = sequence(parts[0]) - 1
        return [
            join([with_sequence(part, stale) for part in parts]),
            join([done_message(stale)]),
            datagram,
        ]

    poller, _ = faulty(recv=Replies(edit))
    assert own_rows(poller.poll(), pair) == clean_rows(pair)


def test_a_dump_without_done_fails_at_the_deadline(faulty: Make) -> None:
    # Rows forever, never NLMSG_DONE; the clock jumps a second at every reading.
    rows: list[bytes] = []

    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        parts = [part for part in messages(datagram) if kind(part) == SOCK_DIAG_BY_FAMILY]
        rows.extend(parts)
        if kind(messages(datagram)[0]) == NLMSG_DONE:
            return [join(rows)] * 1000  # "more rows", until the shim gives up
        return [join(parts)] if parts else []

    replies = Replies(edit)
    poller, _ = faulty(recv=replies, monotonic_ms=Clock(1000))
    raises(poller, errno.ETIMEDOUT, "sock_diag dump", "no NLMSG_DONE within 10 s")
    assert len(replies.offered) <= lib.TCPTABLE_LINUX_TIMEOUT_MS // 1000 + 2


def test_sock_diag_socket_has_the_receive_timeout(faulty: Make) -> None:
    opened: list[int] = []
    poller, _ = faulty(socket=passthrough("socket", opened))
    poller.poll()
    with socket.socket(fileno=os.dup(opened[0])) as probe:
        seconds, microseconds = struct.unpack(
            "@ll", probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
        )
    assert seconds * 1000 + microseconds // 1000 == lib.TCPTABLE_LINUX_TIMEOUT_MS


@pytest.mark.parametrize(("offset", "value", "words"), [
    (1, 13, "unknown Linux TCP state 13"),
    (1, 0, "unknown Linux TCP state 0"),
    (0, 99, "unknown family 99"),
], ids=["state-13", "state-0", "family-99"])  # fmt: skip
def test_unknown_state_or_family_in_a_row_is_bad_data(
    faulty: Make, pair: Pair, offset: int, value: int, words: str
) -> None:
    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        return [
            join(
                set_diag_byte(part, offset, value)
                if kind(part) == SOCK_DIAG_BY_FAMILY and diag_port(part) == pair.listen_port
                else part
                for part in messages(datagram)
            )
        ]

    poller, _ = faulty(recv=Replies(edit))
    raises(poller, errno.EBADMSG, words)


def test_a_row_of_the_other_family_in_a_one_family_dump_is_bad_data(
    faulty: Make, pair: Pair
) -> None:
    # Found by tests/fuzz/fuzz_netlink.c: it came out as a row of the family not asked for.
    other = socket.AF_INET6 if pair.family == 4 else socket.AF_INET

    def edit(index: int, datagram: bytes) -> list[bytes | int]:
        return [
            join(
                set_diag_byte(part, 0, other)
                if kind(part) == SOCK_DIAG_BY_FAMILY and diag_port(part) == pair.listen_port
                else part
                for part in messages(datagram)
            )
        ]

    poller, _ = faulty(recv=Replies(edit))
    raises(poller, errno.EBADMSG, f"in the IPv{pair.family} dump")


# ---------------------------------------------------------------- odd /proc/net/tcp* text


def proc_text(pair: Pair) -> bytes:
    path = "/proc/net/tcp" if pair.family == 4 else "/proc/net/tcp6"
    with open(path, "rb") as file:
        return file.read()


def own_line(text: bytes, pair: Pair) -> bytes:
    """The listener's line (with its newline)."""
    port = f":{pair.listen_port:04X} ".encode()
    return next(line for line in text.splitlines(keepends=True) if port in line.split(b" 0A ")[0])


def proc_poller(faulty: Make, chunks: list[bytes], **hooks: Any) -> tuple[tcptable.Poller, Seam]:
    return faulty("proc", open=passthrough("open"), read=Text(chunks), **hooks)


def proc_raises(pair: Pair, poller: tcptable.Poller, *words: str) -> None:
    path = "/proc/net/tcp" if pair.family == 4 else "/proc/net/tcp6"
    raises(poller, errno.EBADMSG, path, *words)


def test_proc_without_a_header_is_bad_data(faulty: Make, pair: Pair) -> None:
    text = proc_text(pair)
    poller, _ = proc_poller(faulty, [text.split(b"\n", 1)[1]])
    proc_raises(pair, poller, "no header line")


def test_proc_empty_file_is_bad_data(faulty: Make, pair: Pair) -> None:
    poller, _ = proc_poller(faulty, [])
    proc_raises(pair, poller, "no header line")


def test_proc_header_only_is_an_empty_table(faulty: Make, pair: Pair) -> None:
    header = proc_text(pair).split(b"\n", 1)[0] + b"\n"
    poller, _ = proc_poller(faulty, [header])
    assert len(poller.poll()) == 0


def test_proc_text_in_small_reads_gives_the_exact_table(faulty: Make, pair: Pair) -> None:
    text = proc_text(pair)
    poller, _ = proc_poller(faulty, [text[i : i + 7] for i in range(0, len(text), 7)])
    assert own_rows(poller.poll(), pair) == clean_rows(pair, "proc")


def test_proc_line_listed_again_by_a_restarted_read_is_one_row(faulty: Make, pair: Pair) -> None:
    # The kernel walks its hash again at every read, by count: a socket gone before that point
    # makes the next read repeat a line it already gave.  Each socket stays one row.
    text = proc_text(pair)
    line = own_line(text, pair)
    poller, _ = proc_poller(faulty, [text, line, line])
    table = poller.poll()
    assert own_rows(table, pair) == clean_rows(pair, "proc")
    inodes = [row.inode for row in table if row.inode]
    assert len(inodes) == len(set(inodes))


def test_proc_file_ending_mid_line_is_bad_data(faulty: Make, pair: Pair) -> None:
    text = proc_text(pair)
    poller, _ = proc_poller(faulty, [text + own_line(text, pair)[:40]])
    proc_raises(pair, poller, "cut short")


def test_proc_missing_final_newline_is_bad_data(faulty: Make, pair: Pair) -> None:
    # The kernel ends every line with a newline: without one the last line may be cut.
    poller, _ = proc_poller(faulty, [proc_text(pair).rstrip(b"\n")])
    proc_raises(pair, poller, "cut short")


@pytest.mark.parametrize("cut", [40, -1], ids=["mid-line", "after-the-inode"])
def test_proc_line_cut_in_the_middle_is_bad_data(faulty: Make, pair: Pair, cut: int) -> None:
    text = proc_text(pair)
    line = own_line(text, pair)
    if cut < 0:  # keep the inode, drop the reference count and everything after it
        fields = line.split()
        cut = line.index(b" " + fields[9] + b" ") + len(fields[9]) + 1
    header, rest = text.split(b"\n", 1)
    poller, _ = proc_poller(faulty, [header + b"\n" + line[:cut] + b"\n" + rest])
    proc_raises(pair, poller, "malformed line 2")


def test_proc_nul_byte_is_bad_data(faulty: Make, pair: Pair) -> None:
    text = proc_text(pair)
    at = len(text) - 3
    poller, _ = proc_poller(faulty, [text[:at] + b"\0" + text[at + 1 :]])
    proc_raises(pair, poller, f"NUL byte at offset {at}")


def test_proc_unknown_state_is_bad_data(faulty: Make, pair: Pair) -> None:
    text = proc_text(pair)
    line = own_line(text, pair)
    poller, _ = proc_poller(faulty, [text.replace(line, line.replace(b" 0A ", b" 0D ", 1))])
    raises(poller, errno.EBADMSG, "unknown Linux TCP state 13")


def test_proc_line_of_a_mebibyte_of_padding_is_read_whole(faulty: Make, pair: Pair) -> None:
    # The kernel pads lines with spaces; a huge pad is still one line.
    text = proc_text(pair)
    line = own_line(text, pair)
    padded = line[:-1] + b" " * (1 << 20) + b"\n"
    poller, _ = proc_poller(faulty, [text.replace(line, padded)])
    assert own_rows(poller.poll(), pair) == clean_rows(pair, "proc")


def test_proc_line_of_a_mebibyte_of_garbage_is_bad_data(faulty: Make, pair: Pair) -> None:
    header, rest = proc_text(pair).split(b"\n", 1)
    poller, _ = proc_poller(faulty, [header + b"\n" + b"x" * (1 << 20) + b"\n" + rest])
    proc_raises(pair, poller, "malformed line 2")


def test_proc_file_growing_while_read_gives_every_line_read(faulty: Make, pair: Pair) -> None:
    # Lines appear between two reads: the table is every line read, the new one included.
    text = proc_text(pair)
    header, rest = text.split(b"\n", 1)
    line = own_line(text, pair)
    extra = line.replace(f":{pair.listen_port:04X} ".encode(), b":0001 ", 1)
    poller, _ = proc_poller(faulty, [header + b"\n", rest, extra])
    table = poller.poll()
    assert own_rows(table, pair) == clean_rows(pair, "proc")
    assert [c.state for c in table if c.local_port == 1] == [tcptable.State.LISTEN]


def test_proc_file_growing_forever_fails_at_the_deadline(faulty: Make, pair: Pair) -> None:
    text = proc_text(pair)
    line = own_line(text, pair)

    def forever() -> Iterator[bytes]:
        yield text
        while True:
            yield line

    poller, seam = faulty("proc", open=passthrough("open"), read=Text(forever()),
                          monotonic_ms=Clock(1000))  # fmt: skip
    path = "/proc/net/tcp" if pair.family == 4 else "/proc/net/tcp6"
    raises(poller, errno.ETIMEDOUT, path, "still growing after 10 s")
    assert seam.calls["read"] <= lib.TCPTABLE_LINUX_TIMEOUT_MS // 1000 + 2


# ---------------------------------------------------------------- no leak over many failures


def test_repeated_failures_leak_no_descriptor_and_no_memory() -> None:
    psutil = pytest.importorskip("psutil", reason="psutil measures the process's memory")
    # Other processes' sockets change the table's size, and with it the size of the buffers:
    # the smaller IPv6 table, narrowed to this pair's ports, keeps them steady.
    family = 6 if ipv6_available() else 4
    pair = open_pair(family)
    ports = [pair.listen_port, pair.client_port]
    fails = {"on": False}

    def recv(fd: int, buffer: Any, length: int, flags: int) -> int:
        if fails["on"]:
            REAL.recv(fd, buffer, length, flags)  # the kernel's datagram is lost...
            return fail(errno.EIO)  # ...and the dump fails
        return int(REAL.recv(fd, buffer, length, flags))

    def read(fd: int, buffer: Any, length: int) -> int:
        return fail(errno.EIO) if fails["on"] else int(REAL.read(fd, buffer, length))

    process = psutil.Process()
    pollers = [
        tcptable.Poller(family=FAMILY[family], pids=False, source=source, local_ports=ports)
        for source in ("netlink", "proc")
    ]
    seams = [Seam(pollers[0], recv=recv), Seam(pollers[1], open=passthrough("open"), read=read)]

    def rounds(count: int) -> None:
        for _ in range(count):
            for poller in pollers:
                fails["on"] = True
                with pytest.raises(tcptable.TcpTableError):
                    poller.poll()
                fails["on"] = False
                assert set(own_rows(poller.poll(), pair)) == pair.expected()

    try:
        rounds(10)  # buffers reach their steady size
        gc.collect()
        fds, rss = open_fds(), process.memory_info().rss
        rounds(60)
        gc.collect()
        assert open_fds() == fds
        # A leaked reply buffer (64 KiB) per failure would be 7.5 MiB.
        assert process.memory_info().rss - rss < 2 << 20
        tracemalloc.start()
        try:
            first = tracemalloc.take_snapshot()
            rounds(10)
            gc.collect()
            last = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        grown = sum(stat.size_diff for stat in last.compare_to(first, "filename"))
        assert grown < 64 << 10, grown
        for seam in seams:
            assert not seam.errors, seam.errors
    finally:
        for poller in pollers:
            poller.close()
        for sock in (pair.client, pair.server, pair.listener):
            sock.close()
