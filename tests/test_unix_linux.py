"""UNIX domain sockets (tcptable.unix_snapshot, UnixPoller) on Linux: the test's own sockets by
inode, path, type, state, peer and owner; and every fault of the sock_diag dump, through the
system-call seam: a retry that gives the exact table, or an exception naming the call and the
errno, never a crash, a hang or a leaked descriptor."""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
import tempfile
from collections.abc import Iterator
from typing import Any, Callable

import pytest

import tcptable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

if sys.platform.startswith("linux"):
    from faults import (
        SOCK_DIAG_BY_FAMILY,
        Clock,
        Replies,
        Seam,
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
    )

    from tcptable._native import ffi

UNIX_DIAG_MSG = struct.Struct("=BBBBI8s")  # family, type, state, pad, inode, cookie
RTA = struct.Struct("=HH")
UNIX_DIAG_NAME, UNIX_DIAG_PEER = 0, 2


def inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def by_inode(rows: list[tcptable.UnixSocket]) -> dict[int, tcptable.UnixSocket]:
    return {row.inode: row for row in rows}


@pytest.fixture(scope="module")
def sockets() -> Iterator[dict[str, Any]]:
    """A named stream listener, a connected stream pair, an abstract datagram socket, an
    unbound seqpacket socket and a socket whose path is not UTF-8-clean."""
    directory = tempfile.mkdtemp(prefix="tcptable-unix-")
    path = os.path.join(directory, "listener sock")  # a space: psutil loses such paths
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract_name = f"tcptable-test-{os.getpid()}"
    abstract.bind("\0" + abstract_name)
    seqpacket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    odd_path = os.path.join(directory, "odd\udce9")  # the byte 0xE9: not UTF-8
    odd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    odd.bind(odd_path)
    yield {
        "path": path,
        "listener": listener,
        "left": left,
        "right": right,
        "abstract": abstract,
        "abstract_name": abstract_name,
        "seqpacket": seqpacket,
        "odd": odd,
        "odd_path": odd_path,
    }
    listener.close()
    left.close()
    right.close()
    abstract.close()
    seqpacket.close()
    odd.close()
    os.unlink(path)
    os.unlink(odd_path)
    os.rmdir(directory)


def test_own_sockets_exactly(sockets: dict[str, Any]) -> None:
    rows = by_inode(tcptable.unix_snapshot())
    me = os.getpid()
    listener = rows[inode(sockets["listener"])]
    assert listener._replace(uid=None) == tcptable.UnixSocket(
        sockets["path"],
        socket.SOCK_STREAM,
        tcptable.State.LISTEN,
        inode(sockets["listener"]),
        0,
        me,
        sockets["listener"].fileno(),
        None,
    )
    left, right = rows[inode(sockets["left"])], rows[inode(sockets["right"])]
    assert (left.peer_inode, right.peer_inode) == (right.inode, left.inode)
    assert left.state == right.state == tcptable.State.ESTABLISHED
    assert (left.path, left.type, left.pid, left.fd) == ("", socket.SOCK_STREAM, me,
                                                         sockets["left"].fileno())  # fmt: skip
    abstract = rows[inode(sockets["abstract"])]
    assert abstract.path == "@" + sockets["abstract_name"]
    assert (abstract.type, abstract.state) == (socket.SOCK_DGRAM, tcptable.State.CLOSED)
    assert abstract.fd == sockets["abstract"].fileno()
    seqpacket = rows[inode(sockets["seqpacket"])]
    assert (seqpacket.path, seqpacket.type, seqpacket.peer_inode) == (
        "",
        socket.SOCK_SEQPACKET,
        0,
    )
    # Bytes that are not UTF-8 come back as os.fsdecode gives them: the same str as bound.
    assert rows[inode(sockets["odd"])].path == sockets["odd_path"]


def test_uid_is_the_owner_when_reported(sockets: dict[str, Any]) -> None:
    row = by_inode(tcptable.unix_snapshot(pids=False))[inode(sockets["listener"])]
    assert row.uid in (os.getuid(), None)  # None: a kernel before 5.3 does not report it


def test_without_pids_no_owner_is_looked_up(sockets: dict[str, Any]) -> None:
    row = by_inode(tcptable.unix_snapshot(pids=False))[inode(sockets["left"])]
    assert (row.pid, row.fd) == (0, -1)
    assert row.peer_inode == inode(sockets["right"])


def test_poller_keeps_owners_and_sees_new_sockets(sockets: dict[str, Any]) -> None:
    with tcptable.UnixPoller(pid_max_age=60) as poller:
        first = by_inode(poller.poll())
        assert first[inode(sockets["left"])].fd == sockets["left"].fileno()
        late_left, late_right = socket.socketpair()
        closed = inode(late_left)
        try:
            second = by_inode(poller.poll())
            for sock in (late_left, late_right):
                assert (second[inode(sock)].pid, second[inode(sock)].fd) == (
                    os.getpid(),
                    sock.fileno(),
                )
        finally:
            late_left.close()
            late_right.close()
        assert closed not in by_inode(poller.poll())


def test_a_forked_child_sees_its_own_fd(sockets: dict[str, Any]) -> None:
    """After fork the child polls on its own descriptors (a shared directory offset would
    corrupt both processes' scans) and finds the socket it alone holds."""
    poller = tcptable.UnixPoller()
    poller.poll()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            mine_left, _mine_right = socket.socketpair()
            row = by_inode(poller.poll())[inode(mine_left)]
            code = 0 if (row.pid, row.fd) == (os.getpid(), mine_left.fileno()) else 2
        finally:
            os.write(write_end, bytes([code]))
            os._exit(0)
    os.close(write_end)
    try:
        assert os.read(read_end, 1) == b"\0"
    finally:
        os.close(read_end)
        os.waitpid(child, 0)
        poller.close()


def test_arguments_and_closed_poller() -> None:
    with pytest.raises(TypeError, match="pids must be True or False, not 1"):
        tcptable.UnixPoller(pids=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pid_max_age must be a finite number >= 0, not -1"):
        tcptable.UnixPoller(pid_max_age=-1)
    with pytest.raises(TypeError, match="pid_max_age must be a number of seconds"):
        tcptable.UnixPoller(pid_max_age="1")  # type: ignore[arg-type]
    poller = tcptable.UnixPoller()
    poller.close()
    assert poller.closed
    with pytest.raises(ValueError, match=r"closed tcptable\.UnixPoller"):
        poller.poll()


# ---------------------------------------------------------------- faults of the dump


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


Make = Callable[..., tuple[tcptable.UnixPoller, "Seam"]]


@pytest.fixture
def faulty(sockets: dict[str, Any]) -> Iterator[Make]:
    """make(**hooks) -> (poller, seam): a UnixPoller whose calls are the hooks.  Afterwards no
    hook raised, the same poller on the real calls finds the test's sockets, and every
    descriptor opened meanwhile is closed."""
    before = open_fds()
    made: list[tuple[tcptable.UnixPoller, Seam]] = []

    def make(**hooks: Callable[..., int]) -> tuple[tcptable.UnixPoller, Seam]:
        poller = tcptable.UnixPoller(pids=False)
        seam = Seam(poller, **hooks)  # type: ignore[arg-type]
        made.append((poller, seam))
        return poller, seam

    yield make
    for poller, seam in made:
        assert not seam.errors, seam.errors
        seam.remove()
        assert inode(sockets["listener"]) in by_inode(poller.poll())
        poller.close()
    assert open_fds() == before


def raises(poller: tcptable.UnixPoller, err: int, *words: str,
           cls: type = tcptable.TcpTableError) -> BaseException:  # fmt: skip
    with pytest.raises(tcptable.TcpTableError) as raised:
        poller.poll()
    assert type(raised.value) is cls
    assert raised.value.errno == err, raised.value
    assert os.strerror(err) in str(raised.value)
    for word in words:
        assert word in str(raised.value)
    return raised.value


def own_socket_found(poller: tcptable.UnixPoller, sockets: dict[str, Any]) -> None:
    rows = by_inode(poller.poll())
    assert rows[inode(sockets["listener"])].path == sockets["path"]
    assert rows[inode(sockets["left"])].peer_inode == inode(sockets["right"])


CALLS = {"socket": "NETLINK_SOCK_DIAG socket", "sendto": "UNIX sock_diag request",
         "recv": "UNIX sock_diag recv"}  # fmt: skip


@pytest.mark.parametrize("call", CALLS)
def test_eintr_once_is_retried_and_gives_the_exact_table(
    faulty: Make, sockets: dict[str, Any], call: str
) -> None:
    poller, seam = faulty(**{call: fail_first(call, errno.EINTR)})
    own_socket_found(poller, sockets)
    assert seam.calls[call] >= 2


@pytest.mark.parametrize("err", [errno.EIO, errno.EBADF, errno.EMFILE])
@pytest.mark.parametrize("call", CALLS)
def test_failing_calls_fail_naming_the_call(faulty: Make, call: str, err: int) -> None:
    poller, _ = faulty(**{call: lambda *args: fail(err)})
    raises(poller, err, CALLS[call])


def test_recv_timeout_is_an_error_naming_the_wait(faulty: Make) -> None:
    poller, _ = faulty(recv=lambda *args: fail(errno.EAGAIN))
    raises(poller, errno.EAGAIN, "UNIX sock_diag recv", "no reply within 10 s")


@pytest.mark.parametrize("err", [errno.EPROTONOSUPPORT, errno.EACCES])
def test_no_sock_diag_socket_is_not_supported(faulty: Make, err: int) -> None:
    poller, _ = faulty(socket=lambda *args: fail(err))
    raises(poller, err, "NETLINK_SOCK_DIAG socket", cls=tcptable.NotSupportedError)


def test_enobufs_once_restarts_the_dump(faulty: Make, sockets: dict[str, Any]) -> None:
    poller, seam = faulty(recv=fail_first("recv", errno.ENOBUFS), socket=passthrough("socket"))
    own_socket_found(poller, sockets)
    assert seam.calls["socket"] == 2  # the restart is on a fresh socket


def test_enobufs_always_fails_after_bounded_restarts(faulty: Make) -> None:
    poller, seam = faulty(recv=lambda *args: fail(errno.ENOBUFS), socket=passthrough("socket"))
    raises(poller, errno.ENOBUFS, "restarted 4 times")
    assert seam.calls["socket"] == 4


def rows_then(edit: Callable[[bytes], list[bytes | int]]) -> Replies:
    """The real dump, its first datagram replaced by edit(datagram)."""
    return Replies(lambda index, datagram: edit(datagram) if index == 1 else [datagram])


def first_row(datagram: bytes) -> tuple[bytes, int]:
    for message in messages(datagram):
        if kind(message) == SOCK_DIAG_BY_FAMILY:
            return message, sequence(message)
    raise AssertionError("no row in the first datagram")


def row_message(seq: int, *attributes: tuple[int, bytes], state: int = 7, family: int = 1,
                length: int | None = None) -> bytes:  # fmt: skip
    payload = UNIX_DIAG_MSG.pack(family, 1, state, 0, 4242, bytes(8))
    for number, data in attributes:
        payload += RTA.pack(RTA.size + len(data), number) + data + bytes(-len(data) % 4)
    return make_message(SOCK_DIAG_BY_FAMILY, seq, payload, length)


@pytest.mark.parametrize("err", [errno.ENOENT, errno.EOPNOTSUPP])
def test_kernel_without_unix_diag_is_not_supported(faulty: Make, err: int) -> None:
    poller, _ = faulty(recv=rows_then(lambda d: [error_message(first_row(d)[1], err)]))
    error = raises(poller, err, "no UNIX sock_diag", cls=tcptable.NotSupportedError)
    assert error.os_error == err  # type: ignore[attr-defined]


def test_nlmsg_error_fails_with_its_errno(faulty: Make) -> None:
    poller, _ = faulty(recv=rows_then(lambda d: [error_message(first_row(d)[1], errno.EPERM)]))
    raises(poller, errno.EPERM, "UNIX sock_diag dump")


def test_transient_error_in_done_restarts(faulty: Make, sockets: dict[str, Any]) -> None:
    poller, seam = faulty(
        recv=rows_then(lambda d: [done_message(first_row(d)[1], -errno.EBUSY)]),
        socket=passthrough("socket"),
    )
    own_socket_found(poller, sockets)
    assert seam.calls["socket"] == 2


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        (((UNIX_DIAG_NAME, b"x" * 109),), "a 109-byte name"),
        (((UNIX_DIAG_PEER, b"\1\0"),), "a 2-byte peer"),
    ],
)
def test_bad_attributes_are_bad_data(faulty: Make, attributes: Any, words: str) -> None:
    poller, _ = faulty(
        recv=rows_then(lambda d: [join([row_message(first_row(d)[1], *attributes)])])
    )
    raises(poller, errno.EBADMSG, words)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"family": 2}, "a row of family 2"),
        ({"state": 99}, "99"),
        ({"length": 20}, "a 20-byte message"),
    ],
)
def test_bad_rows_are_bad_data(faulty: Make, edit: dict[str, int], words: str) -> None:
    def replace(datagram: bytes) -> list[bytes | int]:
        seq = first_row(datagram)[1]
        message = row_message(seq, **edit)
        if "length" in edit:
            message = message[: edit["length"]]
        return [join([message, done_message(seq)])]

    poller, _ = faulty(recv=rows_then(replace))
    raises(poller, errno.EBADMSG, words)


def test_attribute_longer_than_its_message_is_bad_data(faulty: Make) -> None:
    def replace(datagram: bytes) -> list[bytes | int]:
        seq = first_row(datagram)[1]
        message = bytearray(row_message(seq, (UNIX_DIAG_PEER, b"\1\0\0\0")))
        struct.pack_into("=H", message, 16 + UNIX_DIAG_MSG.size, 200)
        return [bytes(message)]

    poller, _ = faulty(recv=rows_then(replace))
    raises(poller, errno.EBADMSG, "attribute of length 200")


def test_abstract_and_nul_bytes_show_as_proc_shows_them(faulty: Make) -> None:
    def replace(datagram: bytes) -> list[bytes | int]:
        seq = first_row(datagram)[1]
        return [
            join(
                [
                    row_message(seq, (UNIX_DIAG_NAME, b"\0ab\0c"), (UNIX_DIAG_PEER, b"\7\0\0\0")),
                    row_message(seq, (UNIX_DIAG_NAME, b"/run/x.sock\0")),
                    done_message(seq),
                ]
            )
        ]

    poller, seam = faulty(recv=rows_then(replace), socket=passthrough("socket"))
    rows = poller.poll()
    assert [(row.path, row.peer_inode, row.state) for row in rows] == [
        ("@ab@c", 7, tcptable.State.CLOSED),
        ("/run/x.sock", 0, tcptable.State.CLOSED),
    ]
    assert seam.calls["socket"] == 1


def test_a_dump_without_done_fails_at_the_deadline(faulty: Make) -> None:
    """A kernel that keeps sending rows and never ends the dump: an error at the deadline."""
    row = join([row_message(1)])  # a fresh poller numbers its first dump 1

    def endless(fd: int, buffer: Any, length: int, flags: int) -> int:
        ffi.memmove(buffer, row, len(row))
        return len(row)

    poller, _ = faulty(recv=endless, monotonic_ms=Clock())
    raises(poller, errno.ETIMEDOUT, "not finished after 10 s")
