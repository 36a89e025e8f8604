"""``tcptable.diff`` and ``tcptable.Changes``: what changed between two snapshots, matched in C."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._counts import rows_of
from ._errors import raise_for_status_of
from ._native import ffi, lib
from ._snapshot import Snapshot

if TYPE_CHECKING:
    import numpy

    from ._finished import Finished

__all__ = ["Changes", "diff"]

# The shim writes every byte of these buffers before anyone reads them.
_allocate = ffi.new_allocator(should_clear_after_alloc=False)


class Changes:
    """What changed from ``before`` to ``after`` (two snapshots), as ``tcptable.diff`` finds it.

    - ``opened``: rows of ``after`` that ``before`` did not have; ``closed``: rows of ``before``
      gone from ``after``; ``changed``: rows of ``after`` whose state differs from their match in
      ``before``.  Each is a ``Snapshot`` (``len``, ``view``, ``array``, iteration into
      ``Connection``, ``count_by``): ``opened`` and ``changed`` in ``after``'s row order and
      stamped with its time, ``closed`` in ``before``'s.  Their ``directions()`` are judged
      against the listeners of the whole table each row came from.
    - ``changed_from``: the state each ``changed`` row had in ``before``, aligned with it: a
      read-only memoryview of one ``State`` number per row (numpy: ``changed_from_array``).
    - ``before``, ``after``: the two snapshots.
    - ``finished`` (a ``Poller(closes=True)``'s ``poll_changes()`` only, else None): every
      socket the kernel destroyed since the previous ``poll_changes()``, from close events, in
      arrival order, with final TCP stats: ``tcptable.Finished``.  A connection that a poll saw
      and that then closed is in both ``closed`` and ``finished``; one opened and closed between
      two polls is only in ``finished`` (and in ``finished.unseen``).
    - ``events_lost``: with ``finished``, how many close events were lost in that time (the
      kernel's count of events its full queue dropped, plus any past the poller's keep limit);
      None without close events.
    - ``len(changes)`` is ``len(opened) + len(closed) + len(changed)``; a Changes is true when
      anything changed.

    A row's identity is its protocol, family, addresses, ports and scope ids.  Rows sharing
    one (several SO_REUSEPORT listeners; a TIME_WAIT row beside a new connection on the same
    ports) are paired first with a row of equal inode and pid, then in table order, so
    ``diff(s, s)`` is empty and ``before`` minus ``closed`` plus ``opened`` equals ``after``
    as multisets of identities.  A socket going from ESTABLISHED to TIME_WAIT is a change, not
    a close and an open, although its Linux inode drops to 0; but two rows whose inodes are
    both non-zero and differ are two sockets (Linux never renumbers one): a close and an open
    on the same ports.

    >>> for row, old in zip(changes.changed, changes.changed_from):
    ...     print(row.local_port, tcptable.State(old).name, "->", row.state.name)
    """

    __slots__ = (
        "_changed_from",
        "after",
        "before",
        "changed",
        "closed",
        "events_lost",
        "finished",
        "opened",
    )

    def __init__(
        self,
        before: Snapshot,
        after: Snapshot,
        opened: Snapshot,
        closed: Snapshot,
        changed: Snapshot,
        changed_from: memoryview,
        finished: Finished | None = None,
        events_lost: int | None = None,
    ) -> None:
        self.before = before
        self.after = after
        self.opened = opened
        self.closed = closed
        self.changed = changed
        self._changed_from = changed_from
        self.finished = finished
        self.events_lost = events_lost

    @property
    def changed_from(self) -> memoryview:
        """The previous state of each ``changed`` row (read-only, one byte per row)."""
        return self._changed_from

    @property
    def changed_from_array(self) -> numpy.ndarray:
        """``changed_from`` as a read-only numpy uint8 array (no copy)."""
        import numpy

        return numpy.frombuffer(self._changed_from, dtype=numpy.uint8)

    def __len__(self) -> int:
        return len(self.opened) + len(self.closed) + len(self.changed)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        finished = (
            ""
            if self.finished is None
            else f" finished={len(self.finished)} events_lost={self.events_lost}"
        )
        return (
            f"<tcptable.Changes opened={len(self.opened)} closed={len(self.closed)} "
            f"changed={len(self.changed)}{finished}>"
        )


class _Part:
    """Space for one part of a diff: its rows and each row's index in its own table."""

    def __init__(self, count: int) -> None:
        self.rows = _allocate("tcptable_row[]", count)
        self.index = _allocate("uint32_t[]", count)

    def snapshot(self, table: Snapshot) -> Snapshot:
        view = memoryview(ffi.buffer(self.rows)).toreadonly()
        return Snapshot._from_rows(view, table.timestamp, origin=(table, self.index))


def diff(before: Snapshot, after: Snapshot) -> Changes:
    """What changed from ``before`` to ``after``: ``tcptable.Changes`` (opened, closed,
    changed rows).  Matched in C by hashing each row's identity; no Python object per row.

    >>> changes = tcptable.diff(earlier, tcptable.snapshot())
    >>> print(len(changes.opened), "opened,", len(changes.closed), "closed")
    """
    for name, value in (("before", before), ("after", after)):
        if not isinstance(value, Snapshot):
            raise TypeError(f"{name} must be a tcptable.Snapshot, not {type(value).__name__}")
    before_rows, before_count = rows_of(before.view)
    after_rows, after_count = rows_of(after.view)
    after_match = _allocate("uint32_t[]", after_count)
    before_matched = _allocate("uint8_t[]", before_count)
    counts = ffi.new("tcptable_diff_counts *")
    status = ffi.new("tcptable_status *")
    raise_for_status_of(
        status,
        lib.tcptable_diff(
            status,
            before_rows,
            before_count,
            after_rows,
            after_count,
            after_match,
            before_matched,
            counts,
        ),
    )
    # counts[0]: the struct itself (types-cffi models no field access through a pointer).
    sizes = counts[0]
    opened, closed, changed = _Part(sizes.opened), _Part(sizes.closed), _Part(sizes.changed)
    changed_from = _allocate("uint8_t[]", sizes.changed)
    raise_for_status_of(
        status,
        lib.tcptable_diff_collect(
            status,
            before_rows,
            before_count,
            after_rows,
            after_count,
            after_match,
            before_matched,
            counts,
            opened.rows,
            opened.index,
            closed.rows,
            closed.index,
            changed.rows,
            changed.index,
            changed_from,
        ),
    )
    return Changes(
        before,
        after,
        opened.snapshot(after),
        closed.snapshot(before),
        changed.snapshot(after),
        memoryview(ffi.buffer(changed_from)).toreadonly(),
    )
