"""The psutil drop-in against psutil itself, on the same held table: what
``tcptable.psutil_compat.net_connections`` costs next to ``psutil.net_connections`` for the same
kind, in one run (run.py adds these to its measurements).

- ``compat_inet``: the adapter as an agent calls it, again and again (its pollers and their
  owner caches are kept between calls: owners found earlier are re-read within 1 s).
- ``compat_inet_age0``: the same with ``PID_MAX_AGE = 0``: every owner re-read on every call,
  exact as psutil's full /proc scan is.
- ``compat_inet_cold``: a first call: fresh pollers, a full owner search.
- ``psutil_inet``: ``psutil.net_connections('inet')``, a full /proc scan every call.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import measures

from tcptable import psutil_compat


def _psutil() -> object:
    try:
        import psutil
    except ImportError:
        raise measures.NotMeasured("psutil is not installed") from None
    return psutil


def _fresh_tables(stack: contextlib.ExitStack, pid_max_age: float) -> None:
    """The adapter with new pollers (closed, and the defaults restored, at the end)."""
    saved = psutil_compat._tables, psutil_compat.PID_MAX_AGE

    def restore() -> None:
        for poller, _ in psutil_compat._tables.inet.values():
            poller.close()
        psutil_compat._tables, psutil_compat.PID_MAX_AGE = saved

    stack.callback(restore)
    psutil_compat.PID_MAX_AGE = pid_max_age
    psutil_compat._tables = psutil_compat._Tables()


def compat(kind: str, pid_max_age: float) -> Callable[..., Callable[[], object]]:
    def setup(setting: measures.Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
        _psutil()  # measured only beside psutil
        _fresh_tables(stack, pid_max_age)
        return lambda: psutil_compat.net_connections(kind)

    return setup


def compat_cold(kind: str) -> Callable[..., Callable[[], object]]:
    def setup(setting: measures.Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
        _psutil()
        _fresh_tables(stack, psutil_compat.PID_MAX_AGE)

        def run() -> object:
            for poller, _ in psutil_compat._tables.inet.values():
                poller.close()
            psutil_compat._tables = psutil_compat._Tables()
            return psutil_compat.net_connections(kind)

        return run

    return setup


def peer(kind: str) -> Callable[..., Callable[[], object]]:
    def setup(setting: measures.Setting, stack: contextlib.ExitStack) -> Callable[[], object]:
        psutil = _psutil()
        return lambda: psutil.net_connections(kind)  # type: ignore[attr-defined]

    return setup


MEASURES = [
    measures.Measure(
        "compat_inet", "`psutil_compat.net_connections('inet')`", compat("inet", 1.0), slow=True
    ),
    measures.Measure(
        "compat_inet_age0",
        "`psutil_compat.net_connections('inet')`, PID_MAX_AGE=0",
        compat("inet", 0.0),
        slow=True,
    ),
    measures.Measure(
        "compat_inet_cold",
        "`psutil_compat.net_connections('inet')`, first call",
        compat_cold("inet"),
        slow=True,
    ),
    measures.Measure("psutil_inet", "`psutil.net_connections('inet')`", peer("inet"), slow=True),
    measures.Measure(
        "compat_tcp", "`psutil_compat.net_connections('tcp')`", compat("tcp", 1.0), slow=True
    ),
]
