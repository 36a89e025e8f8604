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
"""

from __future__ import annotations

import glob
import os
import re
import sys

from cffi import FFI

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


ffibuilder = FFI()
ffibuilder.set_source(
    "tcptable._native",
    "".join(f'#include "{os.path.basename(h)}"\n' for h in CDEF_HEADERS),
    sources=SHIM_SOURCES,
    include_dirs=INCLUDE_DIRS,
    libraries=LIBRARIES,
)
ffibuilder.cdef("".join(read_cdef(h) for h in CDEF_HEADERS))

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
