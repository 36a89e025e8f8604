"""Snapshot: one poll's rows, immutable, viewed in place."""

from __future__ import annotations

import numbers
import operator
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

from . import _counts
from ._enums import OffloadState, State
from ._rows import ROW_SIZE, ROW_STRUCT, Connection, connection_from_fields, row_dtype
from ._socket_stats import stats_dtype

if TYPE_CHECKING:
    import numpy

    from ._containers import Container

__all__ = ["Snapshot"]


def _real_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Snapshot timestamp must be a real number, not {value!r}")
    return float(value)


class Snapshot:
    """The TCP table as one poll saw it.

    The rows live in memory owned by the Poller's row buffer and are never written again while
    this snapshot, or any view of it (``view``, ``array``, a slice of either), is alive.

    - ``len(snapshot)``: the number of rows.
    - ``snapshot.view``: a read-only memoryview of the packed rows (format ``B``, no copy);
      on Python 3.12+ ``memoryview(snapshot)`` gives the same (PEP 688 buffer protocol).
    - ``snapshot.array``: a read-only numpy structured array over the same memory, dtype
      ``tcptable.ROW_DTYPE`` (``numpy.frombuffer(snapshot.view, tcptable.ROW_DTYPE)`` is the
      same view; the buffer protocol exports bytes, so ``numpy.asarray(snapshot)`` is not).
    - iterating (or indexing) yields ``Connection`` named tuples, one Python object per row:
      handy, but slower than ``array`` in a polling loop.
    - ``timestamp``: ``time.time()`` when the OS was asked.
    - ``count_by(key)``, ``directions()``, ``direction_array``: counts and directions computed
      in C over the packed rows, no Python object per row.
    - ``process_names``: with ``Poller(names=True)``, ``{pid: name}`` for the snapshot's
      non-zero pids (a process that exited before its name was read is left out); None when
      names were not asked for.
    - ``stats`` / ``stats_array``: per-socket TCP stats, one record per row in row order, when
      the poller had ``stats=True`` (otherwise they raise ValueError).
    - ``namespaces``: ``{inode: name or None}``, every network namespace the poll read (Linux;
      a named one's name as ``ip netns list`` shows it); each row's ``netns`` is one of them.
      ``namespace_errors``: ``{inode or path: OSError}``, every namespace it could not read.
    - ``containers``: with ``Poller(containers=True)``, ``{pid: tcptable.Container}`` for the
      snapshot's owning pids that run in a container; None when containers were not asked for.
    """

    __slots__ = (
        "__weakref__",
        "_array",
        "_directions",
        "_origin",
        "_stats",
        "_stats_array",
        "_view",
        "containers",
        "namespace_errors",
        "namespaces",
        "process_names",
        "timestamp",
    )
    _view: memoryview
    _array: numpy.ndarray | None
    _directions: memoryview | None
    _origin: tuple[Snapshot, Any] | None
    _stats: memoryview | None
    _stats_array: numpy.ndarray | None
    process_names: dict[int, str] | None
    timestamp: float
    namespaces: dict[int, str | None]
    namespace_errors: dict[int | str, OSError]
    containers: dict[int, Container] | None

    def __init__(
        self, view: memoryview, timestamp: float, process_names: dict[int, str] | None = None
    ) -> None:
        """Rows from ``view``: a read-only bytes-like object (``bytes``, a read-only
        ``memoryview``) of packed rows, ``len(view)`` a multiple of ``tcptable.ROW_SIZE``;
        ``timestamp`` is ``time.time()`` of when they were read.  Polls make these; building one
        by hand serves tests and rows kept elsewhere."""
        try:
            rows = memoryview(view)
        except TypeError:
            raise TypeError(
                f"Snapshot view must be a bytes-like object, not {type(view).__name__}"
            ) from None
        if not rows.readonly:
            raise ValueError("Snapshot view must be read-only (a Snapshot never changes)")
        if rows.format != "B" or rows.ndim != 1 or not rows.c_contiguous:
            raise ValueError(
                f"Snapshot view must be contiguous bytes (format 'B', 1 dimension), not format "
                f"{rows.format!r} with {rows.ndim} dimensions"
            )
        if rows.nbytes % ROW_SIZE:
            raise ValueError(
                f"Snapshot view must hold whole rows of {ROW_SIZE} bytes, not {rows.nbytes} bytes"
            )
        if process_names is not None and not isinstance(process_names, dict):
            raise TypeError(
                f"Snapshot process_names must be a dict or None, not {type(process_names).__name__}"
            )
        self._view = rows
        self._array = None
        self._directions = None
        self._origin = None
        self._stats = None
        self._stats_array = None
        self.timestamp = _real_number(timestamp)
        self.process_names = process_names
        self.namespaces = {}
        self.namespace_errors = {}
        self.containers = None

    @classmethod
    def _from_rows(
        cls,
        view: memoryview,
        timestamp: float,
        process_names: dict[int, str] | None = None,
        *,
        origin: tuple[Snapshot, Any] | None = None,
        stats: memoryview | None = None,
    ) -> Snapshot:
        """Private: a snapshot over rows the library packed itself (a read-only 'B' memoryview
        of whole rows), without the constructor's checks: polls, and the row sets of
        ``tcptable.Changes``.  ``origin`` is the table such rows were picked from and their
        indices in it (a ``uint32_t[]``): their directions are judged against that table's
        listeners, and they get its process names of their own pids.  ``stats``: the rows'
        TCP stats records, aligned with them."""
        snapshot = cls.__new__(cls)
        snapshot._view = view
        snapshot._array = None
        snapshot._directions = None
        snapshot._origin = origin
        snapshot._stats = stats
        snapshot._stats_array = None
        snapshot.process_names = process_names
        snapshot.timestamp = timestamp
        snapshot.namespaces = {}
        snapshot.namespace_errors = {}
        snapshot.containers = None
        names = origin[0].process_names if origin is not None else None
        if process_names is None and names is not None:  # the names of this part's own pids
            snapshot.process_names = {p: names[p] for p in snapshot.count_by("pid") if p in names}
        if origin is not None:  # rows picked from a polled table: that poll's namespaces
            snapshot.namespaces = origin[0].namespaces
            snapshot.namespace_errors = origin[0].namespace_errors
            snapshot.containers = origin[0].containers
        return snapshot

    def __len__(self) -> int:
        return len(self._view) // ROW_SIZE

    @property
    def view(self) -> memoryview:
        """Read-only memoryview of the packed rows (``len(snapshot) * ROW_SIZE`` bytes)."""
        return self._view

    if sys.version_info >= (3, 12):

        def __buffer__(self, flags: int) -> memoryview:
            return self._view

    @property
    def array(self) -> numpy.ndarray:
        """Read-only numpy structured array of the rows, sharing their memory (no copy)."""
        if self._array is None:
            import numpy

            self._array = numpy.frombuffer(self._view, dtype=row_dtype())
        return self._array

    @property
    def stats(self) -> memoryview:
        """Read-only memoryview of the rows' TCP stats records (``tcptable_stats``, one per
        row, in row order; ``len(snapshot) * STATS_DTYPE.itemsize`` bytes).

        Raises ValueError when the snapshot was polled without ``stats=True``.
        """
        if self._stats is None:
            raise ValueError("this snapshot has no TCP stats: poll with stats=True")
        return self._stats

    @property
    def stats_array(self) -> numpy.ndarray:
        """Read-only numpy array of the TCP stats, dtype ``tcptable.STATS_DTYPE``, aligned
        with ``array`` (``stats_array[i]`` belongs to ``array[i]``)."""
        if self._stats_array is None:
            stats = self.stats  # the ValueError first: it needs no numpy
            import numpy

            self._stats_array = numpy.frombuffer(stats, dtype=stats_dtype())
        return self._stats_array

    def __iter__(self) -> Iterator[Connection]:
        for fields in ROW_STRUCT.iter_unpack(self._view):
            yield connection_from_fields(fields)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Connection: ...
    @overload
    def __getitem__(self, index: slice) -> list[Connection]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Connection | list[Connection]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self)
        try:
            position = operator.index(index)  # numpy integers too, and bools, as lists take them
        except TypeError:
            raise TypeError(
                f"Snapshot indices must be integers or slices, not {type(index).__name__}"
            ) from None
        if position < 0:
            position += count
        if not 0 <= position < count:
            raise IndexError(f"row {index} out of range for a Snapshot of {count} rows")
        return connection_from_fields(ROW_STRUCT.unpack_from(self._view, position * ROW_SIZE))

    def count_by(self, key: str) -> dict[Any, int]:
        """How many rows share each value of ``key``, as ``{value: count}`` in ascending value
        order; values no row has are absent.

        ``key`` is ``"state"`` (``State`` keys), ``"family"`` (4, 6), ``"local_port"``,
        ``"remote_port"``, ``"pid"``, ``"netns"`` (ints: a namespace's inode), ``"remote_address"``
        (str, formatted as ``Connection`` formats it; IPv4 first) or ``"direction"``
        (``Direction`` keys).
        Counted in C over the packed rows; numpy is not needed.

        >>> table.count_by("state")
        {<State.LISTEN: 2>: 12, <State.ESTABLISHED: 5>: 40, <State.TIME_WAIT: 11>: 3}
        """
        if not isinstance(key, str) or key not in _counts.COUNT_KEYS:
            raise ValueError(
                f"count_by key must be one of {', '.join(map(repr, _counts.COUNT_KEYS))}, "
                f"not {key!r}"
            )
        return _counts.count_by(self._view, key, self.directions() if key == "direction" else None)

    def directions(self) -> memoryview:
        """One byte per row, a ``tcptable.Direction`` value (read-only memoryview, computed
        once per snapshot in C): LISTEN, INBOUND (the local port is one a listener of the same
        family accepts on, at this address or a wildcard, in the row's own network namespace),
        OUTBOUND, or UNKNOWN (no remote end).
        """
        if self._directions is None:
            if self._origin is None:
                self._directions = _counts.directions(self._view)
            else:  # rows a diff picked: the listeners are in the table they came from
                table, indices = self._origin
                self._directions = _counts.directions(table.view, indices, len(self))
        return self._directions

    @property
    def direction_array(self) -> numpy.ndarray:
        """``directions()`` as a read-only numpy uint8 array (no copy)."""
        import numpy

        return numpy.frombuffer(self.directions(), dtype=numpy.uint8)

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts (state and offload_state as their names)."""
        rows = []
        for connection in self:
            row = connection._asdict()
            row["state"] = State(connection.state).name
            row["offload_state"] = OffloadState(connection.offload_state).name
            rows.append(row)
        return rows

    def __repr__(self) -> str:
        return f"<tcptable.Snapshot of {len(self)} rows at {self.timestamp:.6f}>"
