"""CFFI out-of-line (API mode) build of ``tcptable._native``.

setup.py names ``ffibuilder`` in ``cffi_modules``; the Windows lane (tests/windows/run.sh)
imports this file too and cross-compiles ``ffibuilder.emit_c_code()`` with ``SHIM_SOURCES``,
so every platform builds from the same declarations and the same C files.
"""

from __future__ import annotations

import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_DIR = os.path.join("tcptable", "_shim")
HEADER = os.path.join(SHIM_DIR, "tcptable.h")
# Each file compiles on every OS; the per-OS ones reduce to nothing outside their #ifdef.
SHIM_SOURCES = [
    os.path.join(SHIM_DIR, name)
    for name in ("tcptable.c", "tcptable_windows.c", "tcptable_linux.c", "tcptable_other.c")
]
WINDOWS_LIBRARIES = ["iphlpapi"]
LIBRARIES = WINDOWS_LIBRARIES if sys.platform == "win32" else []


def read_cdef(path: str) -> str:
    """Return the declarations between the header's cdef markers."""
    with open(os.path.join(HERE, path), encoding="utf-8") as header:
        text = header.read()
    match = re.search(r"/\* cdef begin \*/(.*)/\* cdef end \*/", text, re.DOTALL)
    if match is None:
        raise RuntimeError(f"{path}: no '/* cdef begin */ ... /* cdef end */' section")
    return match.group(1)


ffibuilder = FFI()
ffibuilder.set_source(
    "tcptable._native",
    '#include "tcptable.h"',
    sources=SHIM_SOURCES,
    include_dirs=[SHIM_DIR],
    libraries=LIBRARIES,
)
ffibuilder.cdef(read_cdef(HEADER))

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
