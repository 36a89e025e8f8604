"""What the release artifacts must hold, checked on the files themselves.

    python tests/release/check_dist.py --sdist S.tar.gz --wheel W.whl [--windows-wheel W2.whl]

- The sdist can rebuild the wheel and run the tests: the build script, every C file and header
  of the shim, the tests (every git-tracked file of those, when run inside the git checkout),
  and nothing compiled.
- A wheel is tagged cp39-abi3, says so in its WHEEL file too, and holds the package's modules,
  py.typed and exactly one compiled module; no tests, no C sources, no build leftovers.
- The Windows lane's wheel holds the same files as the Linux wheel apart from the compiled
  module's suffix (``_native.abi3.so`` / ``_native.pyd``), with the same METADATA.

Prints one line per check and exits 1 if any failed. tests/test_release.py tests the checks.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

PACKAGE = "tcptable"
COMPILED_MODULE = "_native"
# What an abi3 build of the compiled module is named: on Linux (and macOS), and on Windows.
MODULE_FILES = {f"{COMPILED_MODULE}.abi3.so", f"{COMPILED_MODULE}.pyd"}
MODULE_PLACEHOLDER = f"{PACKAGE}/{COMPILED_MODULE}.<abi3 extension suffix>"
# setup.py's bdist_wheel py_limited_api: the oldest CPython the abi3 wheel promises to load on.
PYTHON_TAG = "cp39"
COMPILED_SUFFIXES = {".so", ".pyd", ".dll", ".o", ".obj", ".lib", ".exp", ".pdb", ".a"}
SOURCE_SUFFIXES = {".c", ".h"}
BYTECODE_SUFFIXES = {".pyc", ".pyo"}
# Files the sdist needs to rebuild the wheel, besides the git-tracked ones named below.
SDIST_REQUIRED = {
    "PKG-INFO",
    "pyproject.toml",
    "setup.py",
    "build_ffi.py",
    "README.md",
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/py.typed",
}
# Every git-tracked file under these goes into the sdist.
SDIST_TRACKED = ["build_ffi.py", "setup.py", "pyproject.toml", PACKAGE, "tests"]


class WheelName:
    """The parts of a wheel's file name (PEP 427): name-version[-build]-python-abi-platform."""

    def __init__(self, filename: str) -> None:
        if not filename.endswith(".whl"):
            raise ValueError(f"{filename}: not a .whl file name")
        parts = filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            raise ValueError(f"{filename}: not name-version[-build]-python-abi-platform.whl")
        self.distribution, self.version = parts[0], parts[1]
        self.python, self.abi, self.platform = parts[-3:]

    @property
    def tag(self) -> str:
        return f"{self.python}-{self.abi}-{self.platform}"


def is_compiled_module(member: str) -> bool:
    path = PurePosixPath(member)
    return path.parent == PurePosixPath(PACKAGE) and path.name in MODULE_FILES


def package_files(members: list[str]) -> set[str]:
    """The package's own top-level files (modules, the native module's stub, py.typed) among
    an sdist's members."""
    return {
        member
        for member in members
        if PurePosixPath(member).parent == PurePosixPath(PACKAGE)
        and PurePosixPath(member).suffix in {".py", ".pyi", ".typed"}
    }


def wheel_problems(
    filename: str,
    members: list[str],
    wheel_file: str,
    expected_package_files: set[str],
) -> list[str]:
    """Everything wrong with one wheel, given its name, members and WHEEL file text."""
    try:
        name = WheelName(filename)
    except ValueError as error:
        return [str(error)]
    problems = []
    if name.abi != "abi3":
        problems.append(f"tagged {name.tag}: ABI {name.abi!r}, not abi3")
    if name.python != PYTHON_TAG:
        problems.append(f"tagged {name.tag}: Python {name.python!r}, not {PYTHON_TAG!r}")
    wheel_tags = {
        line.split(":", 1)[1].strip() for line in wheel_file.splitlines() if line.startswith("Tag:")
    }
    if wheel_tags != {name.tag}:
        problems.append(f"WHEEL file says Tag {sorted(wheel_tags)}, the file name {name.tag}")
    if "Root-Is-Purelib: false" not in wheel_file.splitlines():
        problems.append("WHEEL file lacks 'Root-Is-Purelib: false' (it holds a compiled module)")

    dist_info = f"{name.distribution}-{name.version}.dist-info"
    modules = [member for member in members if is_compiled_module(member)]
    if len(modules) != 1:
        problems.append(
            f"expected one compiled {PACKAGE}/{COMPILED_MODULE} module, found {modules}"
        )
    for missing in sorted(expected_package_files - set(members)):
        problems.append(f"lacks {missing}")
    for member in members:
        path = PurePosixPath(member)
        if path.parts[0] not in (PACKAGE, dist_info):
            problems.append(f"holds {member}: outside {PACKAGE}/ and {dist_info}/")
        elif "tests" in path.parts or path.name.startswith(("test_", "conftest")):
            problems.append(f"holds a test file: {member}")
        elif path.suffix in SOURCE_SUFFIXES or path.name == "build_ffi.py":
            problems.append(f"holds a build input: {member}")
        elif "__pycache__" in path.parts or path.suffix in BYTECODE_SUFFIXES:
            problems.append(f"holds bytecode: {member}")
        elif path.suffix in COMPILED_SUFFIXES and not is_compiled_module(member):
            problems.append(f"holds a build leftover: {member}")
    return problems


def sdist_problems(members: list[str], tracked: list[str] | None) -> list[str]:
    """Everything wrong with an sdist, given its members relative to its top folder."""
    problems = []
    present = set(members)
    for missing in sorted((SDIST_REQUIRED | set(tracked or [])) - present):
        problems.append(f"lacks {missing}")
    if not any(
        PurePosixPath(member).name.upper().startswith(("LICENSE", "LICENCE")) for member in members
    ):
        problems.append("holds no LICENSE file (the license text must ship with the code)")
    if not any(
        member.startswith(f"{PACKAGE}/_shim/") and member.endswith(".c") for member in members
    ):
        problems.append(f"holds no C source under {PACKAGE}/_shim/")
    for member in members:
        path = PurePosixPath(member)
        if path.suffix in COMPILED_SUFFIXES or path.suffix in BYTECODE_SUFFIXES:
            problems.append(f"holds a build product: {member}")
        elif member == f"{PACKAGE}/{COMPILED_MODULE}.c":
            problems.append(f"holds CFFI's generated {member} (the build writes it anew)")
        elif "__pycache__" in path.parts:
            problems.append(f"holds bytecode: {member}")
    return problems


def module_neutral(members: list[str]) -> set[str]:
    """Members with the compiled module's platform suffix replaced by a placeholder."""
    return {MODULE_PLACEHOLDER if is_compiled_module(member) else member for member in members}


def metadata_differences(linux: str, windows: str) -> list[str]:
    """Header lines only one METADATA has; the long description (the README) as one item."""
    linux_headers, _, linux_body = linux.partition("\n\n")
    windows_headers, _, windows_body = windows.partition("\n\n")
    linux_lines, windows_lines = linux_headers.splitlines(), windows_headers.splitlines()
    differences = [
        f"METADATA only in Linux: {line}" for line in linux_lines if line not in windows_lines
    ]
    differences += [
        f"METADATA only in Windows: {line}" for line in windows_lines if line not in linux_lines
    ]
    if linux_body != windows_body:
        differences.append(
            f"METADATA long description differs: {len(linux_body.splitlines())} lines in Linux, "
            f"{len(windows_body.splitlines())} in Windows"
        )
    return differences or ["METADATA differs (the same lines, in another order)"]


def comparison_problems(
    linux_members: list[str], windows_members: list[str], linux_metadata: str, windows_metadata: str
) -> list[str]:
    """How the Windows wheel's files and METADATA differ from the Linux wheel's."""
    linux, windows = module_neutral(linux_members), module_neutral(windows_members)
    problems = [f"only in the Linux wheel: {member}" for member in sorted(linux - windows)]
    problems += [f"only in the Windows wheel: {member}" for member in sorted(windows - linux)]
    if linux_metadata != windows_metadata:
        problems += metadata_differences(linux_metadata, windows_metadata)
    return problems


class Wheel:
    """A wheel file's members and the two dist-info files the checks read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with zipfile.ZipFile(path) as archive:
            self.members = [info.filename for info in archive.infolist() if not info.is_dir()]
            self.wheel_file = self._read(archive, "WHEEL")
            self.metadata = self._read(archive, "METADATA")

    def _read(self, archive: zipfile.ZipFile, name: str) -> str:
        for member in self.members:
            path = PurePosixPath(member)
            if len(path.parts) == 2 and path.parts[0].endswith(".dist-info") and path.name == name:
                return archive.read(member).decode("utf-8")
        return ""


def sdist_members(path: Path) -> list[str]:
    """The sdist's files, relative to its single top folder."""
    with tarfile.open(path) as archive:
        names = [member.name for member in archive.getmembers() if member.isfile()]
    tops = {PurePosixPath(name).parts[0] for name in names}
    if len(tops) != 1:
        raise ValueError(f"{path.name}: expected one top folder, found {sorted(tops)}")
    return [str(PurePosixPath(*PurePosixPath(name).parts[1:])) for name in names]


def git_tracked(root: Path) -> list[str] | None:
    """The git-tracked files the sdist must carry, or None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z", "--", *SDIST_TRACKED],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [name for name in result.stdout.decode("utf-8").split("\0") if name]


def report(label: str, problems: list[str]) -> bool:
    if problems:
        print(f"FAIL {label}")
        for problem in problems:
            print(f"     - {problem}")
    else:
        print(f"ok   {label}")
    return not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, required=True)
    parser.add_argument("--wheel", type=Path, required=True, help="the wheel built from the sdist")
    parser.add_argument("--windows-wheel", type=Path, help="the Windows lane's wheel")
    parser.add_argument(
        "--source-tree",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the git checkout whose tracked files the sdist must carry (default: this one)",
    )
    args = parser.parse_args(argv)

    tracked = git_tracked(args.source_tree)
    if tracked is None:
        print("note: not a git checkout; the sdist is checked against the fixed list only")
    members = sdist_members(args.sdist)
    passed = report(
        f"sdist {args.sdist.name} ({len(members)} files)", sdist_problems(members, tracked)
    )

    expected = package_files(members)
    wheel = Wheel(args.wheel)
    passed &= report(
        f"wheel {args.wheel.name} ({len(wheel.members)} files)",
        wheel_problems(args.wheel.name, wheel.members, wheel.wheel_file, expected),
    )
    if args.windows_wheel is not None:
        windows = Wheel(args.windows_wheel)
        problems = wheel_problems(
            args.windows_wheel.name, windows.members, windows.wheel_file, expected
        )
        if not WheelName(args.windows_wheel.name).platform.startswith("win"):
            problems.append("its platform tag is not a Windows one")
        passed &= report(f"Windows wheel {args.windows_wheel.name}", problems)
        passed &= report(
            "Windows wheel has the Linux wheel's files (module suffix aside) and METADATA",
            comparison_problems(wheel.members, windows.members, wheel.metadata, windows.metadata),
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
