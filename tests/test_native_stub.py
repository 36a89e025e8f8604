"""The type stub of the native module (tcptable/_native.pyi), which build_ffi.py generates from
the shim's cdef so that mypy checks every call into the shim: it is current, it declares what
the compiled module has with the types CFFI converts, and mypy refuses a wrong call with it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tcptable._native import ffi, lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.exists(os.path.join(ROOT, "build_ffi.py")):
    pytest.skip(
        "no build script here (the suite runs against an installed wheel)",
        allow_module_level=True,
    )
sys.path.insert(0, ROOT)
import build_ffi  # noqa: E402

STUB = os.path.join(ROOT, "tcptable", "_native.pyi")


def stub_text() -> str:
    with open(STUB, encoding="utf-8") as stub:
        return stub.read()


def declared() -> dict[str, str]:
    """name -> its stub line (stripped), for every member of the stub's _Lib."""
    members = {}
    for line in stub_text().splitlines():
        line = line.strip()
        if line.startswith("def "):
            members[line[4 : line.index("(")]] = line
        elif line.startswith("TCPTABLE_"):
            members[line.split(":")[0]] = line
    return members


def test_the_stub_is_what_the_cdef_gives() -> None:
    assert stub_text() == build_ffi.native_stub(build_ffi.CDEF)


def python_type(ctype: ffi.CType, argument: bool) -> str:
    if ctype.kind == "void":
        return "None"
    if ctype.kind == "primitive":
        return "float" if ctype.cname in ("float", "double") else "int"
    if ctype.kind == "pointer" and argument and ctype.item.cname == "char":
        return "bytes | CData"  # only a const char * (CFFI's ctype drops the const): see below
    return "CData"


def test_every_function_and_constant_of_the_module_is_declared_as_cffi_converts_it() -> None:
    members = declared()
    names = [name for name in dir(lib) if not name.startswith("__")]
    assert sorted(members) == sorted(names)
    for name in names:
        value = getattr(lib, name)
        if isinstance(value, int):
            assert members[name] == f"{name}: int"
            continue
        ctype = ffi.typeof(value)
        line = members[name]
        parameters = line[line.index("(") + 1 : line.rindex(") ->")].split(", ")
        parameters = [p for p in parameters if p not in ("self", "/")]
        assert len(parameters) == len(ctype.args), line
        for parameter, arg in zip(parameters, ctype.args):
            expected = python_type(arg, argument=True)
            given = parameter.split(": ")[1]
            assert given == expected or (expected == "bytes | CData" and given == "CData"), line
        assert line.endswith(f"-> {python_type(ctype.result, argument=False)}: ..."), line


def test_mypy_refuses_a_wrong_call_into_the_shim(tmp_path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (tests/release/requirements.txt)")
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from tcptable._native import ffi, lib\n"
        "count = ffi.new('size_t *')\n"
        "handle = lib.tcptable_poller_new()\n"
        "lib.tcptable_fetch(handle, 'all', 0, 0, count)\n"  # families must be an int
        "lib.tcptable_decode(handle, count)\n"  # two arguments short
        "name: str = lib.tcptable_poller_set_pid_max_age(handle, 1.0)\n"  # returns int
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(wrong)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": ROOT},
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Argument 2 to "tcptable_fetch" of "_Lib" has incompatible type "str"' in result.stdout
    assert 'Too few arguments for "tcptable_decode" of "_Lib"' in result.stdout
    assert "Incompatible types in assignment" in result.stdout
