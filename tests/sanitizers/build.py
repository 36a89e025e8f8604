"""Build tcptable into a directory of its own, with extra compiler flags.

    python tests/sanitizers/build.py DIRECTORY "-fsanitize=address,undefined ..."

DIRECTORY/tcptable gets the package's Python files and a `_native` extension compiled from
build_ffi.py's C (as the Windows lane does: `emit_c_code` plus `SHIM_SOURCES`) with the given
flags.  With DIRECTORY first on sys.path (the current directory, for `python -m`) that is the
tcptable that imports; the normal (editable) build is left alone.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    target = os.path.abspath(sys.argv[1])
    flags = shlex.split(sys.argv[2]) if len(sys.argv) > 2 else []
    package = os.path.join(target, "tcptable")
    shutil.rmtree(package, ignore_errors=True)
    os.makedirs(package)
    for path in glob.glob(os.path.join(ROOT, "tcptable", "*.py")):
        shutil.copy(path, package)
    shutil.copy(os.path.join(ROOT, "tcptable", "py.typed"), package)

    sys.path.insert(0, ROOT)
    import build_ffi

    module_c = os.path.join(target, "_native.c")
    build_ffi.ffibuilder.emit_c_code(module_c)
    sources = [module_c] + [os.path.join(ROOT, s) for s in build_ffi.SHIM_SOURCES]
    output = os.path.join(package, "_native" + sysconfig.get_config_var("EXT_SUFFIX"))
    compiler = os.environ.get("CC", "gcc")
    command = [
        compiler, "-shared", "-fPIC", "-Wall", "-Wextra", *flags,
        *(f"-I{os.path.join(ROOT, folder)}" for folder in build_ffi.INCLUDE_DIRS),
        "-I", sysconfig.get_paths()["include"],
        *sources, "-o", output,
    ]  # fmt: skip
    subprocess.run(command, check=True)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
