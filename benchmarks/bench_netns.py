"""Every network namespace in one poll (Linux, as root): 50 namespaces of 200 sockets each.

    python benchmarks/bench_netns.py [--namespaces 50] [--sockets 200] [--rounds 20]
                                     [--baseline PYTHON]
    python benchmarks/run.py --netns ...        (the same, as a section of the suite's report)

Makes named namespaces (``ip netns add``), each holding a listener and connected pairs on
loopback, then times, interleaved in rounds so that the machine's noise hits all alike
(owner lookup off, ``pids=False``, as the floors have no owners):

- ``Poller(namespaces=[those namespaces]).poll()`` against the floor: the sum of one bare C dump
  (both families in one walk, as tcptable asks) per namespace over sock_diag sockets already
  open in them (``netlink_floor.c``).  Target: at most 1.3x.
- ``Poller(namespaces="all").poll()``, which also reads the caller's namespace and every other
  one on the host, against the floor over those namespaces and the caller's.
- a loop of ``ss -tan -N NAME`` over the same namespaces.  Target: the poll at least 10x faster.
- ``Poller(namespaces=None).poll()`` against the same poll in ``--baseline`` (a Python with the
  tcptable from before namespaces installed), each timed in its own child process, children
  alternating.  Target: at most 1.05x.

The report gives medians and minimums, and the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import holders
import measures

import tcptable

CLONE_NEWNET = 0x40000000
NETLINK_SOCK_DIAG = 4

# The child that times namespaces=None polls (run by this Python and by --baseline's).
_OWN_POLLS = """
import statistics, sys, time
import tcptable
poller = tcptable.Poller(pids=False)
for _ in range(20):
    poller.poll()
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    poller.poll()
    times.append(time.perf_counter() - start)
print(statistics.median(times) * 1e3, min(times) * 1e3)
"""


def _in_namespace(name: str, make: Callable[[], Any]) -> Any:
    """``make()`` run in a thread that entered namespace ``name``: setns changes only the
    calling thread, and a socket stays in the namespace it was created in."""
    libc = ctypes.CDLL(None, use_errno=True)
    result: list[Any] = []
    errors: list[BaseException] = []

    def enter() -> None:
        try:
            with open(f"/var/run/netns/{name}") as namespace:
                if libc.setns(namespace.fileno(), CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns {name}: {os.strerror(error)}")
            result.append(make())
        except BaseException as error:  # re-raised in the caller
            errors.append(error)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _hold_sockets(count: int) -> list[socket.socket]:
    """A listener and (count - 1) // 2 connected pairs on this namespace's loopback."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    held = [listener]
    for _ in range((count - 1) // 2):
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        held += [client, server]
    return held


CHILD_EHASH = "/proc/sys/net/ipv4/tcp_child_ehash_entries"


@contextlib.contextmanager
def _child_ehash(entries: int) -> Iterator[None]:
    """Namespaces made inside get a TCP hash of their own of ``entries`` buckets (Linux 6.1+;
    0: they share the host's, the default).  Set only while they are made."""
    if entries == 0:
        yield
        return
    with open(CHILD_EHASH) as current:
        before = current.read().strip()
    with open(CHILD_EHASH, "w") as setting:
        setting.write(str(entries))
    try:
        yield
    finally:
        with open(CHILD_EHASH, "w") as setting:
            setting.write(before)


@contextlib.contextmanager
def namespaces(
    count: int, sockets: int, child_ehash: int = 0
) -> Iterator[tuple[list[str], list[socket.socket]]]:
    """``count`` named namespaces of ``sockets`` sockets each (deleted on exit)."""
    prefix = f"tcptable-bench-{secrets.token_hex(3)}"
    names: list[str] = []
    held: list[socket.socket] = []
    try:
        with _child_ehash(child_ehash):
            for index in range(count):
                name = f"{prefix}-{index}"
                subprocess.run(["ip", "netns", "add", name], check=True)
                names.append(name)
        for name in names:
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            held += _in_namespace(name, lambda: _hold_sockets(sockets))
        yield names, held
    finally:
        for sock in held:
            sock.close()
        for name in names:
            subprocess.run(["ip", "netns", "delete", name], check=False)


def _interleaved(
    scenarios: dict[str, Callable[[], float | None]], rounds: int
) -> dict[str, tuple[float, float]]:
    """(median ms, min ms) of each scenario; a scenario returns its own time in ms, or None
    to be timed here."""
    samples: dict[str, list[float]] = {name: [] for name in scenarios}
    for function in scenarios.values():
        function()  # warm-up: sockets opened, caches filled
    for _ in range(rounds):
        for name, function in scenarios.items():
            start = time.perf_counter()
            own = function()
            samples[name].append(own if own is not None else (time.perf_counter() - start) * 1e3)
    return {name: (statistics.median(t), min(t)) for name, t in samples.items()}


def _own_polls(python: str, polls: int) -> tuple[float, float]:
    shown = subprocess.run(
        [python, "-c", _OWN_POLLS, str(polls)], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(shown[0]), float(shown[1])


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def measure(
    count: int, sockets: int, rounds: int, baseline: str | None, child_ehash: int = 0
) -> list[str]:
    """The benchmark's report, as Markdown lines."""
    if not sys.platform.startswith("linux"):
        return ["Not measured: network namespaces are Linux only."]
    if os.geteuid() != 0:
        return ["Not measured: making network namespaces needs root."]
    for tool in ("ip", "ss"):
        if shutil.which(tool) is None:
            return [f"Not measured: no `{tool}` (iproute2) here."]
    floor = measures.Floor()  # compiles netlink_floor.c, raises NotMeasured without a compiler
    over = floor.library.netlink_floor_over
    over.restype = ctypes.c_double
    over.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.POINTER(ctypes.c_long)]
    rows = ctypes.c_long(0)
    holders.raise_fd_limit()  # count * sockets descriptors in this process
    load_before = _load()
    lines: list[str] = []
    with namespaces(count, sockets, child_ehash) as (names, _):
        floor_sockets = [
            _in_namespace(
                name, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
            )
            for name in names
        ]
        own_socket = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
        try:
            listed = (ctypes.c_int * count)(*(s.fileno() for s in floor_sockets))
            with_own = (ctypes.c_int * (count + 1))(
                *(s.fileno() for s in floor_sockets), own_socket.fileno()
            )

            def floor_of(fds: Any, n: int) -> Callable[[], float]:
                def run() -> float:
                    result = over(fds, n, ctypes.byref(rows))
                    if result < 0:
                        raise OSError(int(-result), os.strerror(int(-result)))
                    return float(result) / 1e3

                return run

            paths = [f"/var/run/netns/{name}" for name in names]
            listed_poller = tcptable.Poller(pids=False, namespaces=paths)
            all_poller = tcptable.Poller(pids=False, namespaces="all")
            table = listed_poller.poll()
            everything = all_poller.poll()
            timed = _interleaved(
                {
                    "floor": floor_of(listed, count),
                    "listed": lambda: listed_poller.poll() and None,
                    "floor_own": floor_of(with_own, count + 1),
                    "all": lambda: all_poller.poll() and None,
                },
                rounds,
            )
            ss_rounds = max(3, rounds // 5)
            ss_loop = _interleaved(
                {
                    "ss": lambda: (
                        [
                            subprocess.run(
                                ["ss", "-tan", "-N", name], capture_output=True, check=True
                            )
                            for name in names
                        ]
                        and None
                    ),
                    "listed": lambda: listed_poller.poll() and None,
                },
                ss_rounds,
            )
            listed_poller.close()
            all_poller.close()
        finally:
            for sock in [*floor_sockets, own_socket]:
                sock.close()
    own: dict[str, tuple[float, float]] = {}
    if baseline is not None:
        samples: dict[str, list[tuple[float, float]]] = {"now": [], "baseline": []}
        for _ in range(5):
            samples["now"].append(_own_polls(sys.executable, 100))
            samples["baseline"].append(_own_polls(baseline, 100))
        own = {
            name: (statistics.median(m for m, _ in s), min(low for _, low in s))
            for name, s in samples.items()
        }
    load_after = _load()

    def row(
        label: str, figures: tuple[float, float], reference: tuple[float, float] | None, target: str
    ) -> str:
        ratio = f"{figures[0] / reference[0]:.2f}x" if reference else "-"
        return f"| {label} | {figures[0]:.2f} | {figures[1]:.2f} | {ratio} | {target} |"

    hash_note = (
        f"each namespace with a TCP hash of its own of {child_ehash} buckets "
        f"(net.ipv4.tcp_child_ehash_entries, set while they were made)"
        if child_ehash
        else "the namespaces sharing the host's TCP hash (the default: every dump walks all of "
        "its buckets, whatever the namespace holds)"
    )
    lines += [
        f"{count} named namespaces of {sockets} sockets each, {hash_note} (a listener and "
        f"{(sockets - 1) // 2} loopback pairs), owner lookup off; {len(table):,} rows in them, "
        f"{len(everything):,} rows in every namespace of the host ({len(everything.namespaces)} "
        f"namespaces).  {rounds} interleaved rounds ({ss_rounds} for `ss`).  Load average "
        f"(1 min): {load_before} at the start, {load_after} at the end.",
        "",
        "| what | median ms | min ms | ratio (medians) | target |",
        "|---|---:|---:|---:|---|",
        row(f"C floor: {count} bare dumps over open sockets", timed["floor"], None, ""),
        row(
            f"`Poller(namespaces=[{count} paths]).poll()`",
            timed["listed"],
            timed["floor"],
            "<= 1.3x the floor",
        ),
        row(f"C floor: those {count} and the caller's namespace", timed["floor_own"], None, ""),
        row(
            '`Poller(namespaces="all").poll()` (every namespace of the host)',
            timed["all"],
            timed["floor_own"],
            "(floor of its namespaces)",
        ),
        row(f"`ss -tan -N NAME` for each of the {count}", ss_loop["ss"], None, ""),
        row(
            f"`Poller(namespaces=[{count} paths]).poll()`, same rounds",
            ss_loop["listed"],
            ss_loop["ss"],
            ">= 10x faster (<= 0.10x)",
        ),
    ]
    if own:
        lines += [
            row(
                "`Poller(namespaces=None).poll()`, before namespaces (baseline)",
                own["baseline"],
                None,
                "",
            ),
            row(
                "`Poller(namespaces=None).poll()`, now",
                own["now"],
                own["baseline"],
                "<= 1.05x the baseline",
            ),
            "",
            "The last two: 100 polls of the caller's own table in a child process of each build, "
            "5 children of each, alternating; medians of their medians.",
        ]
    elif child_ehash == 0:
        lines += [
            "",
            "`namespaces=None` against the build before namespaces: not measured "
            "(give --baseline PYTHON).",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--baseline",
        metavar="PYTHON",
        help="a Python with the tcptable from before namespaces installed",
    )
    parser.add_argument(
        "--child-ehash",
        type=int,
        default=1024,
        metavar="BUCKETS",
        help="also measure namespaces with a TCP hash of their own of this "
        "many buckets (0: only the shared hash)",
    )
    args = parser.parse_args(argv)
    print("\n".join(report(args)))
    return 0


def report(args: argparse.Namespace) -> list[str]:
    """Both configurations' sections (the baseline comparison once, in the first)."""
    lines: list[str] = []
    hashes = [0] + ([args.child_ehash] if args.child_ehash else [])
    for index, entries in enumerate(hashes):
        try:
            lines += measure(
                args.namespaces,
                args.sockets,
                args.rounds,
                args.baseline if index == 0 else None,
                entries,
            )
        except measures.NotMeasured as reason:
            lines += [f"Not measured: {reason}"]
        except OSError as error:
            lines += [f"Not measured: {error}"]
        lines.append("")
    return lines


if __name__ == "__main__":
    sys.exit(main())
