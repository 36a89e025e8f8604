"""Write the seed corpus of fuzz_unix_diag from this machine's real UNIX sock_diag dump (Linux).

    python tests/fuzz/make_unix_seeds.py   # rewrites tests/fuzz/corpus/unix_diag/seed-*

Opens a named listener, an abstract datagram socket and a connected pair so that the dump has
rows with a path, an abstract name and a peer, records one real dump (its messages cut to a
few rows, renumbered to sequence 1 as a fresh poller numbers its first dump) in the harness's
input format (see tests/fuzz/fuzz_unix_diag.c), and a few variants.  Files named
regression-* are never touched.
"""

from __future__ import annotations

import os
import socket
import struct
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus", "unix_diag")
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_DONE = 3
NLM_F_REQUEST_DUMP = 0x1 | 0x300
SHOW = 0x1 | 0x4 | 0x40  # UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_UID
HEADER = struct.Struct("=IHHII")
MAX_ROWS = 6


def dump() -> list[bytes]:
    """The messages of one real UNIX dump (rows, then NLMSG_DONE), renumbered 1."""
    request = HEADER.pack(16 + 24, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST_DUMP, 7, 0)
    request += struct.pack("=BBHIII8s", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, SHOW, bytes(8))
    found: list[bytes] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
        diag.sendto(request, (0, 0))
        while True:
            datagram = diag.recv(65536)
            offset = 0
            while offset + 16 <= len(datagram):
                length, kind, flags, _, port = HEADER.unpack_from(datagram, offset)
                message = HEADER.pack(length, kind, flags, 1, port)
                message += datagram[offset + 16 : offset + length]
                found.append(message + bytes(-length % 4))
                if kind == NLMSG_DONE:
                    return found
                offset += (length + 3) & ~3


def framed(datagrams: list[bytes]) -> bytes:
    return b"".join(struct.pack("<H", len(d)) + d for d in datagrams)


def main() -> None:
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "seed.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind(b"\0tcptable-seed\0x")
    left, right = socket.socketpair()
    try:
        messages = dump()
    finally:
        for sock in (listener, abstract, left, right):
            sock.close()
        os.unlink(path)
        os.rmdir(directory)
    rows, done = messages[:-1], messages[-1]
    mine = [m for m in rows if b"seed" in m]
    rows = (mine + [m for m in rows if m not in mine])[:MAX_ROWS]
    os.makedirs(CORPUS, exist_ok=True)
    seeds = {
        "seed-one-datagram": b"\0" + framed([b"".join(rows) + done]),
        "seed-row-per-datagram": b"\0" + framed([*rows, done]),
        "seed-eintr-then-rows": b"\0" + b"\xfe\xff" + framed([b"".join(rows) + done]),
        "seed-enobufs-restart": b"\0" + b"\xfd\xff" + framed([b"".join(rows) + done]),
        "seed-pids": b"\x0e" + framed([b"".join(rows) + done]),
    }
    for name, data in seeds.items():
        with open(os.path.join(CORPUS, name), "wb") as seed:
            seed.write(data)


if __name__ == "__main__":
    main()
