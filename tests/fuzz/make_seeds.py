"""Write the fuzzers' seed corpus from this machine's real TCP table (Linux).

    python tests/fuzz/make_seeds.py      # rewrites the seeds in tests/fuzz/corpus/<harness>/

Opens a loopback pair per family so the table has rows, then records a real sock_diag dump
and the real /proc/net/tcp* text in each harness's input format (see the harnesses' header
comments), cut to a few rows so that the seeds stay tiny.  Windows rows are built from the
same sockets in the documented MIB_TCPROW2 / MIB_TCP6ROW2 layouts; the filter, count and diff
harnesses get packed rows from a real poll.  Files named regression-* (inputs that once
crashed a harness) are never touched.
"""

from __future__ import annotations

import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18
ROW_TYPES = (SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK)
NLMSG_DONE = 3
NLM_F_REQUEST_DUMP = 0x1 | 0x300
MAX_ROWS = 4  # rows kept per family: enough structure, tiny files


def sock_diag_dump(
    family: int,
    sequence: int,
    protocol: int = socket.IPPROTO_TCP,
    ports: set[int] | None = None,
) -> list[bytes]:
    """The datagrams of one real dump, its inet_diag messages cut to MAX_ROWS (or to the rows
    of `ports`).  AF_UNSPEC is the one-walk request for both families (TCPDIAG_GETSOCK and the
    older inet_diag_req)."""
    if family == socket.AF_UNSPEC:
        request = struct.pack("=IHHII", 16 + 60, TCPDIAG_GETSOCK, NLM_F_REQUEST_DUMP, sequence, 0)
        # inet_diag_req: family, src_len, dst_len, ext, inet_diag_sockid, states, dbs
        request += struct.pack("=BBBB", 0, 0, 0, 0) + bytes(48) + struct.pack("=II", 0xFFFFFFFF, 0)
    else:
        request = struct.pack(
            "=IHHII", 16 + 56, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST_DUMP, sequence, 0
        )
        # inet_diag_req_v2: family, protocol, ext, pad, states, then a zeroed inet_diag_sockid
        request += struct.pack("=BBBBI", family, protocol, 0, 0, 0xFFFFFFFF) + bytes(48)
    messages: list[bytes] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
        diag.sendto(request, (0, 0))
        while True:
            datagram = diag.recv(65536)
            offset, done = 0, False
            while offset + 16 <= len(datagram):
                length, kind = struct.unpack_from("=IH", datagram, offset)
                if kind == NLMSG_DONE:
                    done = True
                if kind in ROW_TYPES and ports is not None:
                    source, destination = struct.unpack_from(">HH", datagram, offset + 20)
                    keep = source in ports or destination in ports
                else:
                    keep = kind not in ROW_TYPES or len(messages) < MAX_ROWS
                if keep or done:
                    messages.append(datagram[offset : offset + length])
                offset += (length + 3) & ~3
                if done:
                    break
            if done:
                break
    # One datagram per two messages, so the seeds also cross datagram boundaries.
    padded = [m + bytes(-len(m) % 4) for m in messages]
    return [b"".join(padded[i : i + 2]) for i in range(0, len(padded), 2)]


def framed(datagrams: list[bytes]) -> bytes:
    return b"".join(struct.pack("<H", len(d)) + d for d in datagrams)


def proc_text(path: str) -> bytes:
    with open(path, "rb") as text:
        lines = text.read().splitlines(keepends=True)
    return b"".join(lines[: MAX_ROWS + 1])


def windows_rows(pairs: list[tuple[socket.socket, ...]]) -> tuple[bytes, bytes]:
    """IPv4 and IPv6 rows in the MIB_TCPROW2 / MIB_TCP6ROW2 layouts, for the given sockets."""
    v4, v6 = b"", b""
    for index, sock in enumerate(s for pair in pairs for s in pair):
        local = sock.getsockname()
        try:
            remote = sock.getpeername()
        except OSError:
            remote = ("::" if sock.family == socket.AF_INET6 else "0.0.0.0", 0)
        state = 2 if remote[1] == 0 else 5  # LISTEN, ESTAB
        # Ports: network order in the low 16 bits; garbage in the upper 16, as documented.
        ports = [
            struct.unpack("<I", struct.pack(">H", p) + b"\xab\xcd")[0]
            for p in (local[1], remote[1])
        ]
        if sock.family == socket.AF_INET:
            v4 += struct.pack(
                "<I4sI4sIII",
                state,
                socket.inet_aton(local[0]),
                ports[0],
                socket.inet_aton(remote[0]),
                ports[1],
                os.getpid() + index,
                index % 4,
            )
        else:
            v6 += struct.pack(
                "<16sII16sIIIII",
                socket.inet_pton(socket.AF_INET6, local[0]),
                0,
                ports[0],
                socket.inet_pton(socket.AF_INET6, remote[0]),
                0,
                ports[1],
                state,
                os.getpid() + index,
                index % 4,
            )
    return v4, v6


def windows_udp_rows(sockets: list[socket.socket]) -> tuple[bytes, bytes]:
    """IPv4 and IPv6 rows in the MIB_UDPROW_OWNER_PID / MIB_UDP6ROW_OWNER_PID layouts."""
    v4, v6 = b"", b""
    for index, sock in enumerate(sockets):
        address, port = sock.getsockname()[:2]
        port_dword = struct.unpack("<I", struct.pack(">H", port) + b"\xab\xcd")[0]
        if sock.family == socket.AF_INET:
            v4 += struct.pack("<4sII", socket.inet_aton(address), port_dword, os.getpid() + index)
        else:
            packed = socket.inet_pton(socket.AF_INET6, address)
            v6 += struct.pack("<16sIII", packed, 0, port_dword, os.getpid() + index)
    return v4, v6


def open_udp(family: int) -> list[socket.socket]:
    """A bound UDP socket and one connected to it."""
    loopback = "127.0.0.1" if family == socket.AF_INET else "::1"
    bound = socket.socket(family, socket.SOCK_DGRAM)
    bound.bind((loopback, 0))
    connected = socket.socket(family, socket.SOCK_DGRAM)
    connected.connect(bound.getsockname()[:2])
    return [bound, connected]


def write_udp_seeds() -> None:
    """Seeds of the UDP harnesses, from this machine's real UDP table."""
    udp = open_udp(socket.AF_INET) + open_udp(socket.AF_INET6)
    # netlink_udp: the TCP dumps first (dump 1; one walk for "all"), then one UDP dump per
    # family.
    tcp4 = sock_diag_dump(socket.AF_INET, 1)
    udp4 = sock_diag_dump(socket.AF_INET, 2, socket.IPPROTO_UDP)
    write("netlink_udp", "ipv4", b"\x01" + framed(tcp4 + udp4))
    both = sock_diag_dump(socket.AF_UNSPEC, 1)
    udp4 = sock_diag_dump(socket.AF_INET, 2, socket.IPPROTO_UDP)
    udp6 = sock_diag_dump(socket.AF_INET6, 3, socket.IPPROTO_UDP)
    write("netlink_udp", "all", b"\x00" + framed(both + udp4 + udp6))
    write("netlink_udp", "all-stats", b"\x10" + framed(both + udp4 + udp6))
    # procnet_udp: procnet's format, with the udp and udp6 texts.
    text, text6 = proc_text("/proc/net/udp"), proc_text("/proc/net/udp6")
    write("procnet_udp", "all", b"\x30" + struct.pack("<H", len(text)) + text + text6)
    write("procnet_udp", "all-stats", b"\x08" + struct.pack("<H", len(text)) + text + text6)
    # windows_rows, UDP tables (config bit 2).
    v4, v6 = windows_udp_rows(udp)
    write("windows_rows", "udp", b"\x05" + bytes([len(v4) // 12]) + v4 + v6)
    for sock in udp:
        sock.close()


def open_pair(family: int) -> tuple[socket.socket, ...]:
    listener = socket.socket(family)
    listener.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname()[:2])
    server, _ = listener.accept()
    return listener, client, server


def write(harness: str, name: str, data: bytes) -> None:
    os.makedirs(os.path.join(CORPUS, harness), exist_ok=True)
    with open(os.path.join(CORPUS, harness, name), "wb") as seed:
        seed.write(data)


def main() -> int:
    if not sys.platform.startswith("linux"):
        print("make_seeds.py reads a real Linux table: run it on Linux", file=sys.stderr)
        return 1
    pairs = [open_pair(socket.AF_INET), open_pair(socket.AF_INET6)]
    # netlink: config byte, then framed datagrams; a fresh poller numbers its dumps from 1,
    # and asks for both families in one walk (AF_UNSPEC) when family is "all".
    dump4 = sock_diag_dump(socket.AF_INET, 1)
    both = sock_diag_dump(socket.AF_UNSPEC, 1)
    write("netlink", "ipv4", b"\x01" + framed(dump4))
    write("netlink", "ipv6-sorted", b"\x06" + framed(sock_diag_dump(socket.AF_INET6, 1)))
    write("netlink", "all", b"\x00" + framed(both))
    write("netlink", "all-pids", b"\x18" + framed(both))
    # The one-walk request refused (as old kernels do), then a dump per family: 2 and 3.
    refused = struct.pack("=IHHIIi", 36, 2, 0, 1, 0, -22) + bytes(16)  # NLMSG_ERROR EINVAL
    write(
        "netlink",
        "all-one-walk-refused",
        b"\x00"
        + framed(
            [refused, *sock_diag_dump(socket.AF_INET, 2), *sock_diag_dump(socket.AF_INET6, 3)]
        ),
    )
    # procnet: config byte, 2-byte length of the tcp text, tcp text, tcp6 text.
    tcp, tcp6 = proc_text("/proc/net/tcp"), proc_text("/proc/net/tcp6")
    write("procnet", "all", b"\x30" + struct.pack("<H", len(tcp)) + tcp + tcp6)
    write("procnet", "all-sorted-bytewise", b"\x04" + struct.pack("<H", len(tcp)) + tcp + tcp6)
    write("procnet", "ipv4-no-tcp6", b"\x21" + struct.pack("<H", len(tcp)) + tcp)
    # windows_rows: config byte (keep pids), IPv4 row count, IPv4 rows, IPv6 rows.
    v4, v6 = windows_rows(pairs)
    write("windows_rows", "pairs", b"\x01" + bytes([len(v4) // 28]) + v4 + v6)
    # Packed rows of a real poll: this process's own sockets first, a few others after.
    import tcptable
    from tcptable._rows import ROW_SIZE

    own = {s.getsockname()[1] for pair in pairs for s in pair}
    table = tcptable.snapshot(pids=True)
    chosen = sorted(range(len(table)), key=lambda i: table[i].local_port not in own)[:8]
    rows = b"".join(bytes(table.view[i * ROW_SIZE : (i + 1) * ROW_SIZE]) for i in chosen)
    for key in range(1, 8):  # count: key, capacity (0xFF: a group per row), directions
        write("count", f"key-{key}", bytes([key, 0xFF, 1]) + rows)
    # format: output, column count, columns, flags (directions and every text map), a text
    # (quotes, commas, a line break, bytes that are not UTF-8, an astral character), rows.
    from tcptable._native import lib

    names = b'py"th,on\n\xc3\xa9\xff\xf0\x9f\x98\x80 \xc2\xa0'
    table_columns = range(lib.TCPTABLE_COLUMN_PROTO, lib.TCPTABLE_COLUMN_CONTAINER + 1)
    fields = range(lib.TCPTABLE_FIELD_FAMILY, lib.TCPTABLE_FIELD_CONTAINER + 1)
    for name, output, columns in (
        ("table", lib.TCPTABLE_OUTPUT_TABLE, table_columns),
        ("json", lib.TCPTABLE_OUTPUT_JSON, fields),
        ("jsonl", lib.TCPTABLE_OUTPUT_JSONL, fields),
        ("csv", lib.TCPTABLE_OUTPUT_CSV, fields),
    ):
        header = bytes([output, len(columns), *columns, 0x1F, len(names)])
        write("format", name, header + names + rows)
    write("diff", "copy-with-changed-states", bytes([len(rows) // 64, 0x80]) + rows)
    pairs[0][1].close()  # a close: the second table lacks a row of the first
    closed = tcptable.snapshot(pids=True)
    later = b"".join(
        bytes(closed.view[i * ROW_SIZE : (i + 1) * ROW_SIZE])
        for i in range(len(closed))
        if closed[i].local_port in own
    )
    write("diff", "closed-one", bytes([len(rows) // 64, 0]) + rows + later[:512])
    listen_port = pairs[0][0].getsockname()[1]
    write(  # filter: states (LISTEN, ESTAB), local ports, no remote list, pids, room, rows
        "filter",
        "ports-and-pid",
        struct.pack("<H", (1 << 2) | (1 << 5))
        + bytes([3])
        + struct.pack("<3H", listen_port, 8000, 8001)
        + b"\xff"
        + bytes([1])
        + struct.pack("<I", os.getpid())
        + struct.pack("<H", 4096)
        + rows,
    )
    for pair in pairs:
        for sock in pair:
            sock.close()
    close_event_seeds()
    write_udp_seeds()
    return 0


SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY = 1, 3


def close_event_seeds() -> None:
    """events: config byte, then framed datagrams: a dump of a pair's rows (optional), then
    the destroy events of that pair's sockets, as the kernel sent them."""
    groups = 1 << (SKNLGRP_INET_TCP_DESTROY - 1) | 1 << (SKNLGRP_INET6_TCP_DESTROY - 1)
    for family, name in ((socket.AF_INET, "ipv4"), (socket.AF_INET6, "ipv6")):
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as events:
            events.bind((0, groups))
            pair = open_pair(family)
            ports = {sock.getsockname()[1] for sock in pair[1:]}
            dump = sock_diag_dump(family, 1, ports=ports)
            for sock in (pair[1], pair[2]):  # the two connected ends: two events
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            pair[0].close()
            events.settimeout(5)
            caught: list[bytes] = []
            while len(caught) < 2:
                datagram = events.recv(65536)
                source, destination = struct.unpack_from(">HH", datagram, 20)
                if source in ports or destination in ports:
                    caught.append(datagram)
        bit = 1 if family == socket.AF_INET else 2
        write("events", f"{name}-unseen", bytes([bit]) + framed(caught))
        write("events", f"{name}-dump-then-close", bytes([bit | 4]) + framed(dump + caught))
        overflow = struct.pack("<H", 0xFFFE)  # ENOBUFS between the two events
        write(
            "events",
            f"{name}-overflow-no-meminfo-two-drains",
            bytes([bit | 0x30]) + framed(caught[:1]) + overflow + framed(caught[1:]),
        )


if __name__ == "__main__":
    sys.exit(main())
