"""CFFI out-of-line (API mode) build of ``tcptable._native``.

setup.py names ``ffibuilder`` in ``cffi_modules``; the Windows lane (tests/windows/run.sh)
imports this file too and cross-compiles ``ffibuilder.emit_c_code()`` with ``SHIM_SOURCES``,
so every platform builds from the same declarations and the same C files.

The shim lives in one folder per OS under ``tcptable/_shim/``: ``common/`` (the poller, errors,
buffers and the row operations), ``linux/`` and ``windows/``.  Every ``*.c`` file of every folder
is compiled on every OS (a per-OS file reduces to nothing outside its ``#ifdef``), with every
folder on the include path.  Every public header (``tcptable*.h`` with a cdef section) is fed to
``cdef`` and included by the module: ``common/tcptable.h`` first (the row, the poller, the
status), then one header per job (filters, diff, names, statistics, ...) in name order.

Importing this file also writes ``tcptable/_native.pyi`` from the same declarations (when they
changed it): the type stub through which mypy checks every call into the shim.
"""

from __future__ import annotations

import glob
import os
import re
import sys

from cffi import FFI
from pycparser import c_ast, c_parser

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_DIR = os.path.join("tcptable", "_shim")
SHIM_FOLDERS = ("common", "linux", "windows")
INCLUDE_DIRS = [os.path.join(SHIM_DIR, folder) for folder in SHIM_FOLDERS]
HEADER = os.path.join(SHIM_DIR, "common", "tcptable.h")
CDEF_SECTION = re.compile(r"/\* cdef begin \*/(.*)/\* cdef end \*/", re.DOTALL)


def _shim_files(pattern: str) -> list[str]:
    found = []
    for folder in INCLUDE_DIRS:
        found += glob.glob(os.path.join(HERE, folder, pattern))
    # Sorted by file name, so the cdef order does not depend on which folder a header is in.
    relative = (os.path.relpath(path, HERE) for path in found)
    return sorted(relative, key=lambda path: (os.path.basename(path), path))


def _has_cdef(path: str) -> bool:
    with open(os.path.join(HERE, path), encoding="utf-8") as header:
        return CDEF_SECTION.search(header.read()) is not None


SHIM_SOURCES = _shim_files("*.c")
CDEF_HEADERS = [HEADER] + [h for h in _shim_files("tcptable_*.h") if _has_cdef(h)]
WINDOWS_LIBRARIES = ["iphlpapi", "ws2_32"]  # ws2_32: inet_ntop (tcptable_format.c)
LIBRARIES = WINDOWS_LIBRARIES if sys.platform == "win32" else []


def read_cdef(path: str) -> str:
    """Return the declarations between the header's cdef markers."""
    with open(os.path.join(HERE, path), encoding="utf-8") as header:
        text = header.read()
    match = CDEF_SECTION.search(text)
    if match is None:
        raise RuntimeError(f"{path}: no '/* cdef begin */ ... /* cdef end */' section")
    return match.group(1)


# ---- the type stub of tcptable._native, from the same declarations -------------------------

STUB = os.path.join("tcptable", "_native.pyi")
# Scalar C types as Python sees them through CFFI.
_INTEGERS = {
    "char", "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int",
    "unsigned", "long", "unsigned long", "long long", "unsigned long long", "size_t", "ssize_t",
    "ptrdiff_t", "intptr_t", "uintptr_t", "int8_t", "uint8_t", "int16_t", "uint16_t",
    "int32_t", "uint32_t", "int64_t", "uint64_t", "_Bool", "bool",
}  # fmt: skip
_FLOATS = {"float", "double"}
_DEFINE = re.compile(r"^\s*#define\s+(\w+)\s+(.+?)\s*$", re.MULTILINE)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


def _python_type(node: c_ast.Node, typedefs: dict[str, c_ast.Node], argument: bool) -> str:
    """The Python type CFFI takes (argument) or gives (result) for a declarator."""
    if isinstance(node, (c_ast.PtrDecl, c_ast.ArrayDecl)):
        target = node.type
        if (
            argument
            and isinstance(target, c_ast.TypeDecl)
            and isinstance(target.type, c_ast.IdentifierType)
            and target.type.names == ["char"]
            and "const" in target.quals
        ):
            return "bytes | CData"  # CFFI passes a bytes object as a const char pointer
        return "CData"
    if isinstance(node, c_ast.TypeDecl):
        inner = node.type
        if isinstance(inner, c_ast.IdentifierType):
            name = " ".join(inner.names)
            if name == "void":
                return "None"
            if name in _INTEGERS:
                return "int"
            if name in _FLOATS:
                return "float"
            if name in typedefs:
                return _python_type(typedefs[name], typedefs, argument)
            raise ValueError(f"no Python type for C type {name!r}")
        if isinstance(inner, c_ast.Enum):
            return "int"
        return "CData"  # a struct or union by value
    if isinstance(node, c_ast.FuncDecl):
        return "CData"
    raise ValueError(f"no Python type for {type(node).__name__}")


def native_stub(cdef: str) -> str:
    """tcptable/_native.pyi for `cdef`: `ffi`, and `lib` with every constant and function, each
    parameter and result typed as CFFI converts it, so that mypy checks every call."""
    constants = [name for name, _ in _DEFINE.findall(cdef)]
    source = _DEFINE.sub("", _COMMENT.sub("", cdef))
    # The standard typedefs the cdef uses without declaring them (CFFI knows them).
    preamble = "".join(f"typedef int {name};\n" for name in sorted(_INTEGERS) if "_t" in name)
    tree = c_parser.CParser().parse(preamble + source)
    typedefs: dict[str, c_ast.Node] = {}
    functions: list[str] = []
    for node in tree.ext:
        if isinstance(node, c_ast.Typedef):
            if node.name not in _INTEGERS:  # not the preamble's
                typedefs[node.name] = node.type
            continue
        if isinstance(node, c_ast.Decl) and isinstance(node.type, c_ast.FuncDecl):
            declarator = node.type
            parameters = []
            for index, parameter in enumerate(declarator.args.params if declarator.args else []):
                if isinstance(parameter, c_ast.EllipsisParam):
                    raise ValueError(f"{node.name}: variadic functions have no stub")
                kind = _python_type(parameter.type, typedefs, argument=True)
                if kind == "None":  # f(void)
                    continue
                parameters.append(f"{parameter.name or f'arg{index}'}: {kind}")
            result = _python_type(declarator.type, typedefs, argument=False)
            arguments = ", ".join(["self", *parameters, "/"]) if parameters else "self"
            functions.append(f"    def {node.name}({arguments}) -> {result}: ...")
        elif isinstance(node, c_ast.Decl) and isinstance(node.type, c_ast.Enum):
            for item in node.type.values.enumerators if node.type.values else []:
                constants.append(item.name)
    lines = [
        "# The type stub of tcptable._native, generated by build_ffi.py from the shim's cdef",
        "# (every public header's cdef section): not to be edited; a build rewrites it.",
        "from _cffi_backend import FFI",
        "from _cffi_backend import _CDataBase as CData",
        "",
        "class _Lib:",
        *(f"    {name}: int" for name in sorted(set(constants))),
        *functions,
        "",
        "ffi: FFI",
        "lib: _Lib",
        "",
    ]
    return "\n".join(lines)


def write_native_stub(cdef: str) -> None:
    """Rewrite tcptable/_native.pyi when the cdef changed it."""
    path = os.path.join(HERE, STUB)
    text = native_stub(cdef)
    try:
        with open(path, encoding="utf-8") as old:
            if old.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8", newline="\n") as new:
        new.write(text)


CDEF = "".join(read_cdef(h) for h in CDEF_HEADERS)
write_native_stub(CDEF)

ffibuilder = FFI()
ffibuilder.set_source(
    "tcptable._native",
    "".join(f'#include "{os.path.basename(h)}"\n' for h in CDEF_HEADERS),
    sources=SHIM_SOURCES,
    include_dirs=INCLUDE_DIRS,
    libraries=LIBRARIES,
)
ffibuilder.cdef(CDEF)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
