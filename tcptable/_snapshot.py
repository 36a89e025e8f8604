"""Snapshot: one poll's rows, immutable, viewed in place."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, overload

from ._enums import OffloadState, State
from ._rows import ROW_SIZE, ROW_STRUCT, Connection, connection_from_fields, row_dtype

if TYPE_CHECKING:
    import numpy

__all__ = ["Snapshot"]


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
    - ``process_names``: with ``Poller(names=True)``, ``{pid: name}`` for the snapshot's
      non-zero pids (a process that exited before its name was read is left out); None when
      names were not asked for.
    """

    __slots__ = ("__weakref__", "_array", "_view", "process_names", "timestamp")

    def __init__(
        self, view: memoryview, timestamp: float, process_names: dict[int, str] | None = None
    ) -> None:
        self._view = view
        self._array: numpy.ndarray | None = None
        self.timestamp = timestamp
        self.process_names = process_names

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

    def __iter__(self) -> Iterator[Connection]:
        for fields in ROW_STRUCT.iter_unpack(self._view):
            yield connection_from_fields(fields)

    @overload
    def __getitem__(self, index: int) -> Connection: ...
    @overload
    def __getitem__(self, index: slice) -> list[Connection]: ...

    def __getitem__(self, index: int | slice) -> Connection | list[Connection]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self)
        if not isinstance(index, int):
            raise TypeError(
                f"Snapshot indices must be integers or slices, not {type(index).__name__}"
            )
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"row {index} out of range for a Snapshot of {count} rows")
        return connection_from_fields(ROW_STRUCT.unpack_from(self._view, index * ROW_SIZE))

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
