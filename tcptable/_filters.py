"""The filter keywords of Poller and snapshot(): checked here, applied in C.

The shim (``_shim/tcptable_filter.c``) keeps a row only when it passes every filter given:
its state is one of ``states``, its local port one of ``local_ports``, its remote port one of
``remote_ports``, its owner one of ``owner_pids``.  ``None`` means no filter.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import NamedTuple, SupportsIndex, Union

from ._enums import State

__all__ = ["PID_MAX", "Filter", "StateLike", "make_filter"]

StateLike = Union[State, str, int]

PID_MAX = 0xFFFFFFFF  # a row's pid is a uint32: the largest pid a filter or a lookup takes


class Filter(NamedTuple):
    """A checked filter: frozensets (or None, no filter) ready for the shim."""

    states: frozenset[State] | None
    local_ports: frozenset[int] | None
    remote_ports: frozenset[int] | None
    owner_pids: frozenset[int] | None

    @property
    def state_mask(self) -> int:
        """Bit ``1 << state`` for every state kept; 0 keeps every state."""
        return sum(1 << state for state in self.states) if self.states is not None else 0


def _items(name: str, values: object, what: str) -> list[object]:
    """The elements of ``values``: an iterable, but not a string (its characters are no
    {what}) and not empty (that would keep no row)."""
    if isinstance(values, (str, bytes, bytearray)):
        raise TypeError(f"{name} must be an iterable of {what}, not the string {values!r}")
    if not isinstance(values, Iterable):
        raise TypeError(f"{name} must be an iterable of {what}, not {values!r}")
    items = list(values)
    if not items:
        raise ValueError(f"{name} is empty, which would keep no row (None keeps every row)")
    return items


def _integer(name: str, value: object, limit: int) -> int:
    # bool is an int subclass, but True as a port or pid is a mistake, not port 1.
    if isinstance(value, bool):
        raise TypeError(f"{name} must hold ints, not {value!r}")
    if not isinstance(value, SupportsIndex):  # int, numpy integers; not float or str
        raise TypeError(f"{name} must hold ints, not {value!r}")
    number = operator.index(value)
    if not 0 <= number < limit:
        raise ValueError(f"{name}: {value!r} is out of range 0..{limit - 1}")
    return number


def _state(value: object) -> State:
    if isinstance(value, State):
        return value
    if isinstance(value, str):
        try:
            return State[value.upper()]
        except KeyError:
            names = ", ".join(state.name for state in State)
            raise ValueError(f"states: unknown state {value!r} (one of {names})") from None
    if isinstance(value, bool):
        raise TypeError(f"states must hold State members, names or numbers, not {value!r}")
    if not isinstance(value, SupportsIndex):
        raise TypeError(f"states must hold State members, names or numbers, not {value!r}")
    number = operator.index(value)
    try:
        return State(number)
    except ValueError:
        raise ValueError(f"states: unknown state number {value!r} (1..12)") from None


def _ports(name: str, values: object) -> frozenset[int] | None:
    if values is None:
        return None
    return frozenset(_integer(name, port, 65536) for port in _items(name, values, "ports"))


def make_filter(
    states: Iterable[StateLike] | None,
    local_ports: Iterable[int] | None,
    remote_ports: Iterable[int] | None,
    owner_pids: Iterable[int] | None,
    pids: bool,
) -> Filter:
    """Check the filter keywords; ValueError / TypeError name the keyword and the bad value."""
    kept_states = None
    if states is not None:
        kept_states = frozenset(_state(value) for value in _items("states", states, "states"))
    kept_pids = None
    if owner_pids is not None:
        items = _items("owner_pids", owner_pids, "pids")
        kept_pids = frozenset(_integer("owner_pids", pid, PID_MAX + 1) for pid in items)
        if not pids:
            raise ValueError("owner_pids needs pids=True (with pids=False every pid is 0)")
    return Filter(
        kept_states,
        _ports("local_ports", local_ports),
        _ports("remote_ports", remote_ports),
        kept_pids,
    )
