"""Child processes that give the benchmark a table to poll: loopback pairs, replaced on demand
(the churn scenario), and processes holding many non-socket fds (the fd-mix scenario)."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import sys
import time
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection
from typing import Any

# Client ports are bound explicitly, below the ephemeral range, each holder on its own
# 127.77.H.0/24 addresses (all of 127/8 is loopback on Linux): thousands of held connections
# then take nothing from the ephemeral ports that other programs on the machine connect from.
FIRST_PORT = 10000
LAST_PORT = 32000
# A share of the pairs is IPv6 (ephemeral ports on ::1), as on real hosts.
IPV6_SHARE = 40
# SO_LINGER on, 0 s: close() resets the connection (struct linger: two ints; u_shorts on Windows).
NO_LINGER = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; returns (soft, hard).  No-op off POSIX."""
    try:
        import resource
    except ImportError:
        return (0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def pairs_per_holder() -> int:
    """How many pairs one child can hold (two fds each) under the hard fd limit."""
    hard = raise_fd_limit()[1]
    if hard <= 0 or hard >= 1 << 20:
        return 10000
    return max(1, (hard - 100) // 2)


class _Pairs:
    """The sockets of one holder: a listener per family and the established pairs."""

    def __init__(self, holder: int) -> None:
        self.address = f"127.77.{holder % 250}.1"
        self.client_address = f"127.77.{holder % 250}.2"
        self.listeners = {4: socket.create_server((self.address, 0), backlog=4096)}
        with contextlib.suppress(OSError):  # no IPv6 loopback: IPv4 only
            self.listeners[6] = socket.create_server(
                ("::1", 0), family=socket.AF_INET6, backlog=4096
            )
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.next_port = FIRST_PORT
        self.opened = 0

    def open_one(self) -> None:
        family = 6 if 6 in self.listeners and self.opened % IPV6_SHARE == IPV6_SHARE - 1 else 4
        listener = self.listeners[family]
        client = socket.socket(listener.family)
        if family == 4:
            self._bind_below_ephemeral(client)
        client.connect(listener.getsockname()[:2])
        server, _ = listener.accept()
        self.pairs.append((client, server))
        self.opened += 1

    def _bind_below_ephemeral(self, client: socket.socket) -> None:
        for _ in range(LAST_PORT - FIRST_PORT):
            port = self.next_port
            self.next_port = FIRST_PORT if port >= LAST_PORT else port + 1
            try:
                client.bind((self.client_address, port))
                return
            except OSError:
                continue  # taken (by a wildcard listener elsewhere): the next one
        raise OSError("no free client port below the ephemeral range")

    def replace(self, count: int) -> None:
        """Close the `count` oldest pairs (reset, so no TIME_WAIT grows the table) and open as
        many new ones."""
        count = min(count, len(self.pairs))
        for client, server in self.pairs[:count]:
            for sock in (client, server):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
                sock.close()
        del self.pairs[:count]
        for _ in range(count):
            self.open_one()

    def close(self) -> None:
        for client, server in self.pairs:
            for sock in (client, server):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
                sock.close()
        for listener in self.listeners.values():
            listener.close()


def _hold_pairs(commands: Connection, holder: int, count: int) -> None:
    """Child: open `count` pairs, report, then obey ("replace", k) and ("stop",)."""
    try:
        raise_fd_limit()
        pairs = _Pairs(holder)
        for _ in range(count):
            pairs.open_one()
    except OSError as error:
        commands.send(("error", f"{type(error).__name__}: {error}"))
        return
    commands.send(("ready", len(pairs.pairs)))
    while True:
        try:
            command = commands.recv()
        except EOFError:
            break
        if command[0] == "stop":
            break
        try:
            pairs.replace(command[1])
            commands.send(("done", len(pairs.pairs)))
        except OSError as error:
            commands.send(("error", f"{type(error).__name__}: {error}"))
    pairs.close()


class PairHolders:
    """`sockets` loopback sockets (pairs of them) held by as many children as the fd limit
    needs.  Use as a context manager; `replace(share)` swaps that share of the pairs."""

    def __init__(self, sockets: int, timeout: float = 300.0) -> None:
        self.pairs = max(1, sockets // 2)
        self.timeout = timeout
        self.children: list[tuple[Process, Connection]] = []

    def __enter__(self) -> PairHolders:
        per_holder = pairs_per_holder()
        try:
            for holder, first in enumerate(range(0, self.pairs, per_holder)):
                ours, theirs = Pipe()
                child = Process(
                    target=_hold_pairs,
                    args=(theirs, holder, min(per_holder, self.pairs - first)),
                    daemon=True,
                )
                child.start()
                self.children.append((child, ours))
            for _, commands in self.children:
                self._expect(commands, "ready")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _expect(self, commands: Connection, word: str) -> Any:
        if not commands.poll(self.timeout):
            raise RuntimeError(f"a pair holder did not answer within {self.timeout:.0f} s")
        reply = commands.recv()
        if reply[0] != word:
            raise RuntimeError(f"a pair holder failed: {reply[1]}")
        return reply[1]

    def replace(self, share: float) -> None:
        """Replace `share` of every holder's pairs; returns once all are open again."""
        for _, commands in self.children:
            commands.send(("replace", max(1, int(self.pairs * share / len(self.children)))))
        for _, commands in self.children:
            self._expect(commands, "done")

    def __exit__(self, *exc_info: object) -> None:
        for _, commands in self.children:
            with contextlib.suppress(OSError):
                commands.send(("stop",))
        for child, _ in self.children:
            child.join(30)
            if child.is_alive():
                child.kill()
                child.join(5)
        self.children = []


class FdMix:
    """`processes` processes each holding `fds` non-socket fds (pipes and /dev/null), as a real
    server's many files are; Linux (they are forked from one child)."""

    def __init__(self, processes: int, fds: int) -> None:
        self.processes = processes
        self.fds = fds
        self.child: Process | None = None
        self.commands: Connection | None = None

    def __enter__(self) -> FdMix:
        if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
            raise NotImplementedError("the fd-mix processes are forked (Linux only)")
        self.commands, theirs = Pipe()
        self.child = Process(target=_fork_fd_holders, args=(theirs, self.processes, self.fds))
        self.child.daemon = True
        self.child.start()
        if not self.commands.poll(120):
            self.__exit__()
            raise RuntimeError("the fd-mix processes did not start within 120 s")
        reply = self.commands.recv()
        if reply[0] != "ready":
            self.__exit__()
            raise RuntimeError(f"the fd-mix processes failed: {reply[1]}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.commands is not None:
            with contextlib.suppress(OSError):
                self.commands.send(("stop",))
            self.commands.close()
        if self.child is not None:
            self.child.join(30)
            if self.child.is_alive():
                self.child.kill()
                self.child.join(5)
        self.child = self.commands = None


def _fork_fd_holders(commands: Connection, processes: int, fds: int) -> None:
    """Child: fork `processes` grandchildren that each open `fds` fds and wait for the stop
    pipe to close; report "ready" once all have opened theirs."""
    raise_fd_limit()
    stop_read, stop_write = os.pipe()
    ready_read, ready_write = os.pipe()
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # grandchild: open the fds, say so, wait for the pipe to close
            os.close(stop_write)
            held: list[int] = []
            try:
                while len(held) < fds:  # files and pipes, as a server holds them
                    if len(held) % 4 == 0 and len(held) + 2 <= fds:
                        held += os.pipe()
                    else:
                        held.append(os.open(os.devnull, os.O_RDONLY))
                os.write(ready_write, b"+")
            except OSError:
                os.write(ready_write, b"-")
            os.read(stop_read, 1)
            os._exit(0)
        children.append(pid)
    os.close(stop_read)
    answers = b""
    deadline = time.monotonic() + 100
    while len(answers) < processes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([ready_read], [], [], remaining)[0]:
            break
        answers += os.read(ready_read, processes - len(answers))
    if answers == b"+" * processes:
        commands.send(("ready", processes))
    else:
        commands.send(("error", f"{answers.count(b'-')} fd holders could not open their fds"))
    with contextlib.suppress(EOFError):
        commands.recv()  # ("stop",)
    os.close(stop_write)  # the grandchildren's read returns: they exit
    for pid in children:
        os.waitpid(pid, 0)


class CloseChurn:
    """A child process that opens and closes loopback connections at a steady pace: `rate`
    sockets destroyed per second (each connection is two: its client and server ends, both
    closed by a reset, so no TIME_WAIT row is left behind), on a grid of 1 ms ticks.
    `achieved` (after exit) is the rate the child actually kept."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.child: Process | None = None
        self.commands: Connection | None = None
        self.achieved: float | None = None

    def __enter__(self) -> CloseChurn:
        self.commands, theirs = Pipe()
        self.child = Process(target=_churn_closes, args=(theirs, self.rate))
        self.child.daemon = True
        self.child.start()
        if not self.commands.poll(30) or self.commands.recv() != ("ready",):
            self.__exit__()
            raise RuntimeError("the close churn did not start within 30 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.commands is not None:
            with contextlib.suppress(OSError):
                self.commands.send(("stop",))
                if self.commands.poll(30):
                    self.achieved = self.commands.recv()[1]
            self.commands.close()
        if self.child is not None:
            self.child.join(30)
            if self.child.is_alive():
                self.child.kill()
                self.child.join(5)
        self.child = self.commands = None


def _churn_closes(commands: Connection, rate: int) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    address = listener.getsockname()
    commands.send(("ready",))
    connections = 0
    started = time.monotonic()
    while not commands.poll(0):
        # Connections due by now (two closes each); the deficit is made up at once.
        due = int((time.monotonic() - started) * rate / 2)
        while connections < due:
            client = socket.create_connection(address)
            server, _ = listener.accept()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
            server.close()
            client.close()
            connections += 1
        time.sleep(0.001)
    commands.send(("stopped", 2 * connections / (time.monotonic() - started)))
    listener.close()
