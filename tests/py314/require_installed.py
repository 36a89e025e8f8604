"""pytest plugin of the 3.14 lane: fail the session unless tcptable comes from the installed
wheel (under the venv's prefix), never from the source tree the tests sit in."""

from __future__ import annotations

import os
import sys

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    import tcptable
    import tcptable._native

    for module in (tcptable, tcptable._native):
        path = os.path.realpath(module.__file__ or "")
        if not path.startswith(os.path.realpath(sys.prefix) + os.sep):
            raise pytest.UsageError(f"{module.__name__} imported from {path}, not the wheel")
    print(f"tcptable from the wheel: {tcptable.__file__} (CPython {sys.version.split()[0]})")
