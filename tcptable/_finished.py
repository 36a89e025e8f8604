"""``Changes.finished``: the sockets the kernel destroyed between two polls (close events)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._rows import ROW_SIZE
from ._snapshot import Snapshot
from ._socket_stats import STATS_SIZE

if TYPE_CHECKING:
    import numpy

__all__ = ["Finished"]


class Finished(Snapshot):
    """Every socket destroyed since the previous ``poll_changes()`` of a ``Poller(closes=True)``,
    in the order the kernel announced them: a ``Snapshot`` (``len``, ``view``, ``array``,
    iteration into ``Connection``) whose ``stats`` / ``stats_array`` hold each socket's final
    TCP stats (bytes_acked, bytes_received, rtt, retransmits, ...).

    Each row's state is the one the socket died in (CLOSED, as a rule); its pid, uid and inode
    are those of the last poll that saw it (looked up by socket cookie), 0 when no poll did.

    - ``unseen``: the rows no poll of this poller ever saw (opened and closed between two
      polls), with their stats, as a ``Snapshot``.
    - ``unseen_flags``: one byte per row, 1 for an unseen row (read-only memoryview; numpy:
      ``unseen_array``, booleans).
    """

    __slots__ = ("_unseen", "_unseen_rows")
    _unseen: memoryview
    _unseen_rows: Snapshot | None

    @classmethod
    def _from_events(
        cls, rows: memoryview, stats: memoryview, unseen: memoryview, timestamp: float
    ) -> Finished:
        finished = cls.__new__(cls)
        finished._view = rows
        finished._array = None
        finished._directions = None
        finished._origin = None
        finished._stats = stats
        finished._stats_array = None
        finished.process_names = None
        finished.timestamp = timestamp
        finished._unseen = unseen
        finished._unseen_rows = None
        return finished

    @property
    def unseen_flags(self) -> memoryview:
        """One byte per row: 1 when no poll saw that socket, else 0."""
        return self._unseen

    @property
    def unseen_array(self) -> numpy.ndarray:
        """``unseen_flags`` as a read-only numpy bool array (no copy)."""
        import numpy

        return numpy.frombuffer(self._unseen, dtype=numpy.bool_)

    @property
    def unseen(self) -> Snapshot:
        """The rows no poll saw, in arrival order, with their stats."""
        if self._unseen_rows is None:
            picked = [i for i, flag in enumerate(self._unseen) if flag]
            rows = b"".join(self._view[i * ROW_SIZE : (i + 1) * ROW_SIZE] for i in picked)
            stats = b"".join(self.stats[i * STATS_SIZE : (i + 1) * STATS_SIZE] for i in picked)
            self._unseen_rows = Snapshot._from_rows(
                memoryview(rows), self.timestamp, stats=memoryview(stats)
            )
        return self._unseen_rows

    def __repr__(self) -> str:
        unseen = sum(self._unseen)
        return f"<tcptable.Finished of {len(self)} rows ({unseen} unseen) at {self.timestamp:.6f}>"
