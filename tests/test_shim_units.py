"""The shim's C units form a DAG: no two units need each other (tests/shim_units.py).

A cycle (say the poller and the filter each calling the other) is reported with the symbols
that close it.  Checked for the Linux build with gcc, and for the Windows build with mingw-w64
where it is installed; both link every unit, each of which reduces to its OS's part.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shim_units

if not os.path.exists(os.path.join(shim_units.ROOT, "build_ffi.py")):
    pytest.skip(
        "no shim sources here (the suite runs against an installed wheel)",
        allow_module_level=True,
    )

COMPILERS = [
    pytest.param(
        "gcc",
        marks=pytest.mark.skipif(
            not sys.platform.startswith("linux") or shutil.which("gcc") is None,
            reason="the Linux build's graph needs gcc on Linux",
        ),
    ),
    pytest.param(
        "x86_64-w64-mingw32-gcc",
        marks=pytest.mark.skipif(
            shutil.which("x86_64-w64-mingw32-gcc") is None,
            reason="the Windows build's graph needs mingw-w64",
        ),
    ),
]


@pytest.mark.parametrize("compiler", COMPILERS)
def test_no_two_units_need_each_other(compiler: str, tmp_path) -> None:
    edges = shim_units.graph(shim_units.symbols(compiler, str(tmp_path)))
    cycle = shim_units.find_cycle(edges)
    if cycle is not None:
        detail = "; ".join(
            f"{a} uses {', '.join(sorted(edges[a][b]))} from {b}" for a, b in zip(cycle, cycle[1:])
        )
        pytest.fail("cycle " + " -> ".join(cycle) + ": " + detail)
    # The poller is on top: it uses the backend, and no unit uses the poller's own functions.
    users = [unit for unit, targets in edges.items() if "common/tcptable.c" in targets]
    assert users == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {
        "a.c": {"b.c": {"f"}},
        "b.c": {"c.c": {"g"}},
        "c.c": {"a.c": {"h"}},
        "d.c": {"a.c": {"i"}},
    }
    assert shim_units.find_cycle(edges) == ["a.c", "b.c", "c.c", "a.c"]
    del edges["c.c"]["a.c"]
    assert shim_units.find_cycle(edges) is None
    assert shim_units.order(edges) == ["c.c", "b.c", "a.c", "d.c"]


def test_the_build_compiles_every_unit() -> None:
    sys.path.insert(0, shim_units.ROOT)
    import build_ffi

    built = sorted(
        os.path.relpath(path, os.path.join("tcptable", "_shim")) for path in build_ffi.SHIM_SOURCES
    )
    assert built == shim_units.units()
