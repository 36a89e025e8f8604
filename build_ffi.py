"""CFFI out-of-line (API mode) build of ``tcptable._native``.

setup.py names ``ffibuilder`` in ``cffi_modules``; the Windows lane (tests/windows/run.sh)
imports this file too and cross-compiles ``ffibuilder.emit_c_code()`` with ``SHIM_SOURCES``,
so every platform builds from the same declarations and the same C files.

Every ``tcptable/_shim/*.c`` file is compiled on every OS (a per-OS file reduces to nothing
outside its ``#ifdef``).  Every public header (``tcptable*.h`` with a cdef section) is fed to
``cdef`` and included by the module: ``tcptable.h`` first (the row, the poller, the status),
then one header per job (filters, diff, names, statistics, ...) in name order.
"""

from __future__ import annotations

import glob
import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_DIR = os.path.join("tcptable", "_shim")
HEADER = os.path.join(SHIM_DIR, "tcptable.h")
CDEF_SECTION = re.compile(r"/\* cdef begin \*/(.*)/\* cdef end \*/", re.DOTALL)


def _shim_files(pattern: str) -> list[str]:
    found = glob.glob(os.path.join(HERE, SHIM_DIR, pattern))
    return sorted(os.path.join(SHIM_DIR, os.path.basename(path)) for path in found)


def _has_cdef(path: str) -> bool:
    with open(os.path.join(HERE, path), encoding="utf-8") as header:
        return CDEF_SECTION.search(header.read()) is not None


SHIM_SOURCES = _shim_files("*.c")
CDEF_HEADERS = [HEADER] + [h for h in _shim_files("tcptable_*.h") if _has_cdef(h)]
WINDOWS_LIBRARIES = ["iphlpapi"]
LIBRARIES = WINDOWS_LIBRARIES if sys.platform == "win32" else []


def read_cdef(path: str) -> str:
    """Return the declarations between the header's cdef markers."""
    with open(os.path.join(HERE, path), encoding="utf-8") as header:
        text = header.read()
    match = CDEF_SECTION.search(text)
    if match is None:
        raise RuntimeError(f"{path}: no '/* cdef begin */ ... /* cdef end */' section")
    return match.group(1)


ffibuilder = FFI()
ffibuilder.set_source(
    "tcptable._native",
    "".join(f'#include "{os.path.basename(h)}"\n' for h in CDEF_HEADERS),
    sources=SHIM_SOURCES,
    include_dirs=[SHIM_DIR],
    libraries=LIBRARIES,
)
ffibuilder.cdef("".join(read_cdef(h) for h in CDEF_HEADERS))

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
