"""Network namespaces for the tests (Linux, root): each holds a listener on 127.0.0.1:PORT and
one connection through it from 127.0.0.1:PORT+1, so that every namespace has the same 4-tuples.

`Holder` is a child process that owns them: an anonymous namespace (the child calls
unshare(CLONE_NEWNET)) or a named one (`ip netns add`, the child runs in it through `ip netns
exec`).  The child says it is ready on stdout and exits when its stdin closes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from typing import Any

_CHILD = r"""
import ctypes, json, os, socket, subprocess, sys
if sys.argv[1] == "unshare":
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
port = int(sys.argv[2])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen()
client = socket.socket()
client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
client.bind(("127.0.0.1", port + 1))
client.connect(("127.0.0.1", port))
server, _ = listener.accept()
print(json.dumps({"pid": os.getpid(), "netns": os.stat("/proc/self/ns/net").st_ino}), flush=True)
sys.stdin.read()
"""


def named_namespace() -> str:
    """A new named namespace (`ip netns add`); the caller deletes it (`delete_named`)."""
    name = f"tcptable-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


def delete_named(name: str) -> None:
    subprocess.run(["ip", "netns", "delete", name], check=False, stderr=subprocess.DEVNULL)


class Holder:
    """A child holding a listener and a connected pair in its own network namespace."""

    def __init__(self, port: int, named: str | None = None) -> None:
        self.port = port
        self.name = named
        command = [sys.executable, "-c", _CHILD, "named" if named else "unshare", str(port)]
        if named:
            command = ["ip", "netns", "exec", named, *command]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the child is ready (or died)
        if not line:
            self.process.wait()
            raise RuntimeError(f"namespace holder exited with {self.process.returncode}")
        ready: dict[str, Any] = json.loads(line)
        self.pid: int = ready["pid"]
        self.netns: int = ready["netns"]

    def tuples(self) -> set[tuple[str, int, str, int, str]]:
        """The (local, local port, remote, remote port, state name) of its three sockets."""
        loop = "127.0.0.1"
        return {
            (loop, self.port, "0.0.0.0", 0, "LISTEN"),
            (loop, self.port + 1, loop, self.port, "ESTABLISHED"),
            (loop, self.port, loop, self.port + 1, "ESTABLISHED"),
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)


def row_tuple(connection: Any) -> tuple[str, int, str, int, str]:
    return (
        connection.local_address,
        connection.local_port,
        connection.remote_address,
        connection.remote_port,
        connection.state.name,
    )


def free_port_pair() -> int:
    """A port p such that p and p + 1 are in no use in the caller's namespace (the holders'
    namespaces are empty anyway)."""
    return 20000 + (os.getpid() * 7 + secrets.randbelow(20000)) % 20000 * 2
