"""Snapshot: one poll's rows, immutable, viewed in place."""

from __future__ import annotations

import numbers
import operator
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

from ._enums import OffloadState, State
from ._rows import ROW_SIZE, ROW_STRUCT, Connection, connection_from_fields, row_dtype

if TYPE_CHECKING:
    import numpy

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
    """

    __slots__ = ("__weakref__", "_array", "_view", "timestamp")
    _view: memoryview
    _array: numpy.ndarray | None
    timestamp: float

    def __init__(self, view: memoryview, timestamp: float) -> None:
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
        self._view = rows
        self._array = None
        self.timestamp = _real_number(timestamp)

    @classmethod
    def _trusted(cls, view: memoryview, timestamp: float) -> Snapshot:
        """A Snapshot of a read-only 'B' memoryview of whole rows, without the checks (polls)."""
        snapshot = cls.__new__(cls)
        snapshot._view = view
        snapshot._array = None
        snapshot.timestamp = timestamp
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
