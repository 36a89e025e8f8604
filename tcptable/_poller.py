"""Poller: polls the TCP table again and again, reusing its buffers."""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._errors import NotSupportedError, raise_for_status
from ._filters import Filter, StateLike, make_filter
from ._names import names_for_rows
from ._namespaces import NamespacesArgument, apply_namespaces, check_namespaces, namespaces_of_poll
from ._native import ffi, lib
from ._rows import ROW_SIZE
from ._snapshot import Snapshot
from ._socket_stats import STATS_SIZE

if TYPE_CHECKING:
    from ._changes import Changes
    from ._finished import Finished

__all__ = ["Poller", "snapshot"]

_FAMILIES = {
    "all": lib.TCPTABLE_FAMILY_IPV4 | lib.TCPTABLE_FAMILY_IPV6,
    "ipv4": lib.TCPTABLE_FAMILY_IPV4,
    "ipv6": lib.TCPTABLE_FAMILY_IPV6,
}
_PROTOCOLS = {
    "tcp": lib.TCPTABLE_PROTOCOLS_TCP,
    "udp": lib.TCPTABLE_PROTOCOLS_UDP,
    "all": lib.TCPTABLE_PROTOCOLS_TCP | lib.TCPTABLE_PROTOCOLS_UDP,
}
_SOURCES = {
    "default": lib.TCPTABLE_SOURCE_DEFAULT,
    "netlink": lib.TCPTABLE_SOURCE_NETLINK,
    "proc": lib.TCPTABLE_SOURCE_PROC_NET,
}
# Row buffers a poller keeps for reuse; more are allocated (and dropped) only while that many
# snapshots are alive at once.
_POOL_SIZE = 4
# Row memory is fully written by the shim before anyone can see it: no need to zero it.
_allocate = ffi.new_allocator(should_clear_after_alloc=False)


class _RowBuffer:
    """Row memory (and the rows' stats records, for a poller with stats=True) plus weak
    references to the cffi buffers of the snapshot that uses them.

    Every view of a snapshot's rows or stats (memoryviews, slices of them, numpy arrays over
    them) keeps that cffi buffer object alive, so once every weak reference is dead nothing
    can see the memory any more and the next poll may write into it.
    """

    __slots__ = ("rows", "stats", "users")

    def __init__(self, count: int, stats: bool) -> None:
        self.rows = _allocate("tcptable_row[]", count)
        self.stats = _allocate("tcptable_stats[]", count) if stats else None
        self.users: tuple[Any, ...] = ()

    def is_free(self) -> bool:
        return all(user() is None for user in self.users)


# Every open Poller, so that a fork child can give each a fresh lock: a fork while another
# thread was inside poll() copies the lock held, and the child's poll() would wait forever.
# Pollers are added from any thread: the set has a lock of its own (a WeakSet is not safe
# against concurrent mutation without the GIL), and so does the child after a fork.
_live_pollers: weakref.WeakSet[Poller] = weakref.WeakSet()
_live_pollers_lock = threading.Lock()


def _register(poller: Poller) -> None:
    with _live_pollers_lock:
        _live_pollers.add(poller)


def _after_fork_in_child() -> None:
    global _live_pollers_lock
    # The child has one thread: the forking one.  A lock another thread held is copied held.
    _live_pollers_lock = threading.Lock()
    for poller in list(_live_pollers):
        poller._lock = threading.Lock()
        poller._changes_lock = threading.Lock()
        if poller.closes and poller._handle is not None:
            # Its own event socket now, not at its first poll: closes in between count too.  A
            # failure is reported by that poll, which tries again.
            lib.tcptable_events_after_fork(poller._handle)


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_bool(name: str, value: object) -> int:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return int(value)


class Poller:
    """Polls the TCP table, reusing its OS and row buffers between polls.

    >>> with tcptable.Poller(family="ipv4") as poller:
    ...     while running:
    ...         table = poller.poll()
    ...         listening = table.array["state"] == tcptable.State.LISTEN

    ``family`` is ``"all"``, ``"ipv4"`` or ``"ipv6"``; ``protocol`` is ``"tcp"`` (the
    default), ``"udp"`` or ``"all"`` (both in one snapshot; every row says which in its
    ``protocol`` field, and UDP rows have the state ``State.NONE``); ``sort=True`` orders
    rows as Windows' Order=TRUE does (local address, local port, remote address, remote
    port; IPv4 first), and with both protocols puts the TCP rows first, then the UDP rows;
    unsorted rows come in the OS's order, where the families may interleave;
    ``pids=False`` skips the owner lookup (pid 0), which on Linux is most of a poll's cost.
    ``names=True`` (needs ``pids=True``) gives each snapshot ``process_names``, ``{pid: name}``
    for its non-zero pids.  ``pid_max_age`` (seconds, default 1.0) bounds how long Linux trusts
    an owner it found in an earlier poll: a socket handed to another process shows its new
    owner within that time; 0 re-checks every owner on every poll (exact, slower).
    ``source`` picks the Linux data source: ``"default"`` (sock_diag, falling back to
    /proc/net/tcp*), ``"netlink"`` or ``"proc"``; Windows accepts only ``"default"``.
    ``stats=True`` adds per-socket TCP stats to every snapshot (``Snapshot.stats``,
    ``Snapshot.stats_array``): Linux only (the /proc source has the queues only); on Windows
    polls raise NotSupportedError.  UDP rows have the queues only (UDP has no tcp_info).
    ``closes=True`` listens to the kernel's close events on a socket of the poller's own, drained
    at every poll: ``poll_changes()`` then reports in ``Changes.finished`` every socket destroyed
    since the previous call, even one opened and closed between two polls, with its final TCP
    stats, and ``Changes.events_lost``.  Linux sock_diag only: with ``source="proc"``, and on
    Windows, the constructor raises NotSupportedError, as it does with ``namespaces`` (the
    events come from the poller's own network namespace only).

    ``namespaces`` (Linux) picks the network namespaces: ``None``, the poller's own (as
    always); ``"all"``, every one on the host (each process's and each named one, found again
    on every poll); or an iterable of pids and namespace files (``/var/run/netns/NAME``,
    ``/proc/PID/ns/net``).  Every row's ``netns`` is the inode of its namespace;
    ``Snapshot.namespaces`` lists those read and ``Snapshot.namespace_errors`` those that could
    not be (permission, gone mid-poll).  Other OSes raise NotSupportedError for anything but
    None.  ``containers=True`` (needs ``pids=True``) gives each snapshot ``containers``,
    ``{pid: tcptable.Container}`` for its owning pids that run in a container.

    Filters keep only the rows that pass all of those given (``None``: no filter):
    ``states`` (``State`` members, their names in any case, or their numbers),
    ``local_ports`` and ``remote_ports`` (ints 0..65535), ``owner_pids`` (ints; needs
    ``pids=True``).  They run in C while the OS reply is flattened, and in the kernel where it
    can (Linux sock_diag: states and ports), so a filtered poll costs less than a full one:

    >>> tcptable.Poller(states={"LISTEN"}, local_ports=range(1, 1024)).poll()

    A Poller serialises its own polls with a lock; use one Poller per thread for parallel
    polling.  ``poll()`` after ``close()`` raises ValueError.  A Poller may be used on both
    sides of ``os.fork()``: the child's first poll opens its own OS handles.
    """

    def __init__(
        self,
        family: str = "all",
        sort: bool = False,
        pids: bool = True,
        *,
        source: str = "default",
        states: Iterable[StateLike] | None = None,
        local_ports: Iterable[int] | None = None,
        remote_ports: Iterable[int] | None = None,
        owner_pids: Iterable[int] | None = None,
        names: bool = False,
        pid_max_age: float = 1.0,
        stats: bool = False,
        namespaces: NamespacesArgument = None,
        containers: bool = False,
        protocol: str = "tcp",
        closes: bool = False,
    ) -> None:
        if not isinstance(family, str) or family not in _FAMILIES:
            raise ValueError(f"family must be 'all', 'ipv4' or 'ipv6', not {family!r}")
        if not isinstance(protocol, str) or protocol not in _PROTOCOLS:
            raise ValueError(f"protocol must be 'tcp', 'udp' or 'all', not {protocol!r}")
        if not isinstance(source, str) or source not in _SOURCES:
            raise ValueError(f"source must be 'default', 'netlink' or 'proc', not {source!r}")
        flags = _check_bool("sort", sort) * lib.TCPTABLE_SORT
        flags |= _check_bool("pids", pids) * lib.TCPTABLE_PIDS
        flags |= _check_bool("stats", stats) * lib.TCPTABLE_STATS
        _check_bool("closes", closes)
        checked = make_filter(states, local_ports, remote_ports, owner_pids, pids)
        if _check_bool("names", names) and not pids:
            raise ValueError("names=True needs pids=True (names are looked up by pid)")
        self.names = names
        if _check_bool("containers", containers) and not pids:
            raise ValueError("containers=True needs pids=True (containers are found by pid)")
        self.containers = containers
        namespace_mode, namespace_pids, namespace_paths = check_namespaces(namespaces)
        #: The namespaces as given: None, "all", or a tuple of the pids, then the paths.
        self.namespaces: str | tuple[int | str, ...] | None = None
        if namespace_mode == lib.TCPTABLE_NAMESPACES_ALL:
            self.namespaces = "all"
        elif namespace_mode == lib.TCPTABLE_NAMESPACES_LIST:
            self.namespaces = namespace_pids + namespace_paths
        self._namespace_mode = namespace_mode
        if closes and self.namespaces is not None:
            # The destroy groups are per namespace and the event socket is the poller's own:
            # other namespaces' closes would be missing without a word.
            raise NotSupportedError(
                f"closes=True hears the poller's own network namespace only; it cannot be "
                f"combined with namespaces={self.namespaces!r}"
            )
        if isinstance(pid_max_age, bool) or not isinstance(pid_max_age, (int, float)):
            raise TypeError(f"pid_max_age must be a number of seconds, not {pid_max_age!r}")
        if not math.isfinite(pid_max_age) or pid_max_age < 0:
            raise ValueError(f"pid_max_age must be a finite number >= 0, not {pid_max_age!r}")
        self.pid_max_age = pid_max_age
        self.family = family
        self.protocol = protocol
        self.sort = sort
        self.pids = pids
        self.source = source
        self.stats = stats
        self.closes = closes
        #: The filters as given, checked: frozensets, or None (no filter).
        self.states = checked.states
        self.local_ports = checked.local_ports
        self.remote_ports = checked.remote_ports
        self.owner_pids = checked.owner_pids
        self._families = _FAMILIES[family]
        self._source = _SOURCES[source]
        self._flags = flags
        self._lock = threading.Lock()
        self._pool: list[_RowBuffer] = []
        self._counts = ffi.new("size_t[2]")
        handle = lib.tcptable_poller_new()
        if handle == ffi.NULL:
            raise MemoryError("cannot allocate a tcptable poller")
        self._handle: Any = ffi.gc(handle, lib.tcptable_poller_free)
        raise_for_status(handle, lib.tcptable_poller_set_pid_max_age(handle, pid_max_age))
        raise_for_status(handle, lib.tcptable_poller_set_protocols(handle, _PROTOCOLS[protocol]))
        _apply_filter(self._handle, checked)
        apply_namespaces(self._handle, namespace_mode, namespace_pids, namespace_paths)
        if closes:
            raise_for_status(handle, lib.tcptable_events_open(handle, self._families, self._source))
        # poll_changes(): the table it saw last (at first: nothing, as of now).
        self._changes_lock = threading.Lock()
        self._previous = Snapshot._from_rows(memoryview(b"").toreadonly(), time.time())
        _register(self)

    def poll(self) -> Snapshot:
        """Ask the OS for the table now; returns an immutable Snapshot."""
        with self._lock:
            handle = self._handle
            if handle is None:
                raise ValueError("poll() on a closed tcptable.Poller")
            counts = self._counts
            timestamp = time.time()
            raise_for_status(
                handle,
                lib.tcptable_fetch(handle, self._families, self._source, self._flags, counts),
            )
            target = self._take_rows(counts[0])
            if target.stats is None:
                code = lib.tcptable_decode(handle, target.rows, len(target.rows), counts + 1)
            else:
                code = lib.tcptable_decode_stats(
                    handle, target.rows, target.stats, len(target.rows), counts + 1
                )
            raise_for_status(handle, code)
            if self.closes:  # after the dump: its rows are the owners of what closed since
                raise_for_status(handle, lib.tcptable_events_drain(handle))
            # ffi.buffer() keeps the memory alive; the weak references mark the buffer in use.
            exported = ffi.buffer(target.rows, counts[1] * ROW_SIZE)
            users = [exported]
            stats = None
            if target.stats is not None:
                users.append(ffi.buffer(target.stats, counts[1] * STATS_SIZE))
                stats = memoryview(users[-1]).toreadonly()
            target.users = tuple(weakref.ref(user) for user in users)
            names = names_for_rows(handle, target.rows, counts[1]) if self.names else None
            table = Snapshot._from_rows(
                memoryview(exported).toreadonly(), timestamp, names, stats=stats
            )
            table.namespaces, table.namespace_errors = namespaces_of_poll(
                handle, self._namespace_mode
            )
            if self.containers:
                from ._containers import containers_of  # re and the cache: only when asked

                table.containers = containers_of(table.count_by("pid"))
            return table

    def poll_changes(self) -> Changes:
        """Poll, and return what changed since this poller's previous ``poll_changes()``:
        ``tcptable.diff(previous, new)``.  The first call reports every row as opened (its
        ``before`` is an empty snapshot stamped with the poller's creation time).

        >>> changes = poller.poll_changes()
        >>> changes.after.count_by("state"), len(changes.opened), len(changes.closed)
        """
        with self._changes_lock:
            after = self.poll()
            before, self._previous = self._previous, after
            finished = self._take_finished(after.timestamp) if self.closes else None
        from ._changes import diff  # imported on first use: a one-shot poll needs no diff

        changes = diff(before, after)
        if finished is not None:
            changes.finished, changes.events_lost = finished
        return changes

    def _take_finished(self, timestamp: float) -> tuple[Finished, int]:
        """The destroyed sockets the poller kept since the last take, and the events lost."""
        from ._finished import Finished

        with self._lock:
            handle = self._handle
            if handle is None:
                raise ValueError("poll_changes() on a closed tcptable.Poller")
            info = ffi.new("tcptable_events_info *")
            raise_for_status(handle, lib.tcptable_events_get_info(handle, info))
            # info[0]: the struct itself (types-cffi models no field access through a pointer).
            room = max(1, int(info[0].kept))
            rows = _allocate("tcptable_row[]", room)
            stats = _allocate("tcptable_stats[]", room)
            unseen = _allocate("uint8_t[]", room)
            written = ffi.new("size_t *")
            lost = ffi.new("uint64_t *")
            raise_for_status(
                handle, lib.tcptable_events_take(handle, rows, stats, unseen, room, written, lost)
            )
            count = written[0]
            return (
                Finished._from_events(
                    memoryview(ffi.buffer(rows, count * ROW_SIZE)).toreadonly(),
                    memoryview(ffi.buffer(stats, count * STATS_SIZE)).toreadonly(),
                    memoryview(ffi.buffer(unseen, count)).toreadonly(),
                    timestamp,
                ),
                int(lost[0]),
            )

    def _take_rows(self, count: int) -> _RowBuffer:
        """The smallest pooled row buffer of at least ``count`` rows that no snapshot uses."""
        fitting = [c for c in self._pool if len(c.rows) >= count and c.is_free()]
        best = min(fitting, key=lambda c: len(c.rows)) if fitting else None
        if best is None:
            # Headroom, so that a slowly growing table does not allocate every poll.
            best = _RowBuffer(max(64, count + count // 4), self.stats)
            if len(self._pool) >= _POOL_SIZE:
                free = [candidate for candidate in self._pool if candidate.is_free()]
                if free:
                    self._pool.remove(min(free, key=lambda candidate: len(candidate.rows)))
            if len(self._pool) < _POOL_SIZE:
                self._pool.append(best)
        return best

    def close(self) -> None:
        """Free the OS buffers now; snapshots already returned stay valid."""
        with self._lock:
            if self._handle is not None:
                ffi.release(self._handle)
                self._handle = None
            self._pool = []

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> Poller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        filters = "".join(
            f" {name}={sorted(getattr(self, name))!r}"
            for name in ("states", "local_ports", "remote_ports", "owner_pids")
            if getattr(self, name) is not None
        )
        return (
            f"<tcptable.Poller {state} family={self.family!r} protocol={self.protocol!r} "
            f"sort={self.sort} "
            f"pids={self.pids} source={self.source!r} names={self.names}"
            f"{' stats=True' if self.stats else ''}{' closes=True' if self.closes else ''}"
            f"{f' namespaces={self.namespaces!r}' if self.namespaces is not None else ''}"
            f"{' containers=True' if self.containers else ''}{filters}>"
        )


def _optional_array(kind: str, values: frozenset[int] | None) -> tuple[Any, int]:
    if values is None:
        return ffi.NULL, 0
    return ffi.new(f"{kind}[]", sorted(values)), len(values)


def _apply_filter(handle: Any, checked: Filter) -> None:
    local, local_count = _optional_array("uint16_t", checked.local_ports)
    remote, remote_count = _optional_array("uint16_t", checked.remote_ports)
    pids, pid_count = _optional_array("uint32_t", checked.owner_pids)
    raise_for_status(
        handle,
        lib.tcptable_poller_set_filter(
            handle, checked.state_mask, local, local_count, remote, remote_count, pids, pid_count
        ),
    )


def snapshot(
    family: str = "all",
    sort: bool = False,
    pids: bool = True,
    *,
    source: str = "default",
    states: Iterable[StateLike] | None = None,
    local_ports: Iterable[int] | None = None,
    remote_ports: Iterable[int] | None = None,
    owner_pids: Iterable[int] | None = None,
    names: bool = False,
    stats: bool = False,
    namespaces: NamespacesArgument = None,
    containers: bool = False,
    protocol: str = "tcp",
) -> Snapshot:
    """Poll the TCP table once (the keywords are Poller's).  For repeated polls keep a
    ``Poller``: it reuses its buffers.

    >>> for connection in tcptable.snapshot(family="ipv4", sort=True, states={"LISTEN"}):
    ...     print(connection.local_port, connection.state.name)
    """
    with Poller(
        family=family,
        sort=sort,
        pids=pids,
        source=source,
        states=states,
        local_ports=local_ports,
        remote_ports=remote_ports,
        owner_pids=owner_pids,
        names=names,
        stats=stats,
        namespaces=namespaces,
        containers=containers,
        protocol=protocol,
    ) as poller:
        return poller.poll()
