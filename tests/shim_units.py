"""The dependency graph between the shim's C units, derived from their object files.

Each ``tcptable/_shim/*/*.c`` is compiled on its own; ``nm`` tells which external symbols
the object defines and which it uses.  Unit A depends on unit B when A uses a symbol that B
defines.  The shim's rule is that this graph has no cycle: helpers (errors, buffers, the
system-call seam) below the OS parts, the OS parts below their dispatcher, the dispatcher
below the poller.

    python tests/shim_units.py [--compiler gcc|x86_64-w64-mingw32-gcc]

prints each unit with what it uses, in dependency order, and exits 1 on a cycle.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(ROOT, "tcptable", "_shim")
FOLDERS = ("common", "linux", "windows")
DEFINED = set("TDRBCG")  # text, data, read-only, bss, common, small data


def units() -> list[str]:
    """Every C unit of the shim, as FOLDER/NAME.c."""
    found = glob.glob(os.path.join(SHIM, "*", "*.c"))
    return sorted(os.path.relpath(path, SHIM) for path in found)


def nm_for(compiler: str) -> str:
    """The nm that reads this compiler's objects."""
    if compiler.endswith("-gcc"):
        prefixed = compiler[: -len("gcc")] + "nm"
        if shutil.which(prefixed):
            return prefixed
    return "nm"


def symbols(compiler: str, workdir: str) -> dict[str, tuple[set[str], set[str]]]:
    """unit -> (symbols it defines, symbols it uses but does not define)."""
    include = [f"-I{os.path.join(SHIM, folder)}" for folder in FOLDERS]
    include.append(f"-I{sysconfig.get_paths()['include']}")
    nm = nm_for(compiler)
    result: dict[str, tuple[set[str], set[str]]] = {}
    for unit in units():
        obj = os.path.join(workdir, unit.replace(os.sep, "_") + ".o")
        subprocess.run(
            [compiler, "-c", "-O1", *include, os.path.join(SHIM, unit), "-o", obj],
            check=True,
        )
        listing = subprocess.run([nm, "-P", obj], check=True, capture_output=True, text=True).stdout
        defined, used = set(), set()
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) < 2:
                continue
            name, kind = fields[0], fields[1]
            if kind == "U":
                used.add(name)
            elif kind in DEFINED:
                defined.add(name)
        result[unit] = (defined, used - defined)
    return result


def graph(table: dict[str, tuple[set[str], set[str]]]) -> dict[str, dict[str, set[str]]]:
    """unit -> {unit it depends on -> the symbols it uses from it}."""
    owner: dict[str, str] = {}
    for unit, (defined, _) in table.items():
        for name in defined:
            if name in owner:
                raise AssertionError(f"{name} is defined by both {owner[name]} and {unit}")
            owner[name] = unit
    edges: dict[str, dict[str, set[str]]] = {unit: {} for unit in table}
    for unit, (_, used) in table.items():
        for name in used:
            if name in owner and owner[name] != unit:
                edges[unit].setdefault(owner[name], set()).add(name)
    return edges


def find_cycle(edges: dict[str, dict[str, set[str]]]) -> list[str] | None:
    """A cycle as [a, b, ..., a], or None when the graph is a DAG."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(unit: str) -> list[str] | None:
        state[unit] = 1
        path.append(unit)
        for target in sorted(edges[unit]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[unit] = 2
        return None

    for unit in sorted(edges):
        if unit not in state:
            found = visit(unit)
            if found:
                return found
    return None


def order(edges: dict[str, dict[str, set[str]]]) -> list[str]:
    """The units, each after every unit it uses (edges must be acyclic)."""
    done: list[str] = []
    remaining = dict(edges)
    while remaining:
        ready = sorted(u for u, targets in remaining.items() if all(t in done for t in targets))
        done += ready
        for unit in ready:
            del remaining[unit]
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compiler", default="gcc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        edges = graph(symbols(args.compiler, workdir))
    cycle = find_cycle(edges)
    if cycle:
        print("cycle: " + " -> ".join(cycle))
        for a, b in zip(cycle, cycle[1:]):
            print(f"  {a} uses {', '.join(sorted(edges[a][b]))} from {b}")
        return 1
    for unit in order(edges):
        print(f"{unit}: {', '.join(sorted(edges[unit])) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
