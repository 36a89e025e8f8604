"""The release pipeline: which wheels cibuildwheel builds, how the workflows are pinned, and
that tests/release/check_dist.py rejects the artifacts it exists to reject.

The cibuildwheel and workflow tests need the release tools (tests/release/requirements.txt).
tests/release/check.sh installs them and sets TCPTABLE_RELEASE_CHECKS=1, which turns their
absence into a failure; elsewhere those tests skip, saying so.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

PYTHONS = ["cp39", "cp310", "cp311", "cp312", "cp313", "cp314", "cp315"]
FREE_THREADED = ["cp314t", "cp315t"]
# cffi has no Windows ARM64 wheel before CPython 3.11.
WINDOWS_ARM64_PYTHONS = ["cp311", "cp312", "cp313", "cp314", "cp315"]


def identifiers(pythons: list[str], platform: str) -> set[str]:
    return {f"{python}-{platform}" for python in pythons}


EXPECTED = {
    "windows": identifiers(PYTHONS + FREE_THREADED, "win_amd64")
    | identifiers(PYTHONS + FREE_THREADED, "win32")
    | identifiers(WINDOWS_ARM64_PYTHONS + FREE_THREADED, "win_arm64"),
    "linux": identifiers(PYTHONS + FREE_THREADED, "manylinux_x86_64")
    | identifiers(PYTHONS + FREE_THREADED, "manylinux_aarch64")
    | identifiers(PYTHONS + FREE_THREADED, "musllinux_x86_64"),
}


def load_check_dist() -> ModuleType:
    path = ROOT / "tests" / "release" / "check_dist.py"
    spec = importlib.util.spec_from_file_location("check_dist", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dist = load_check_dist()


def require_release_tool(found: object, name: str) -> None:
    if found:
        return
    message = f"{name} is not installed (pip install -r tests/release/requirements.txt)"
    if os.environ.get("TCPTABLE_RELEASE_CHECKS") == "1":
        pytest.fail(message)
    pytest.skip(f"{message}; tests/release/check.sh runs this test with it")


def cibuildwheel_identifiers(platform: str) -> set[str]:
    require_release_tool(shutil.which("cibuildwheel"), "cibuildwheel")
    # Only pyproject.toml may decide: drop any CIBW_* a CI runner or a shell has set.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CIBW_")}
    result = subprocess.run(
        ["cibuildwheel", "--print-build-identifiers", "--platform", platform],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("platform", ["windows", "linux"])
def test_cibuildwheel_builds_exactly_the_intended_identifiers(platform: str) -> None:
    listed = cibuildwheel_identifiers(platform)
    assert sorted(listed - EXPECTED[platform]) == [], "built but not intended"
    assert sorted(EXPECTED[platform] - listed) == [], "intended but not built"


def wheel_count(platform_identifiers: set[str]) -> int:
    """Wheels a platform's identifiers produce: one abi3 wheel per platform tag, one per
    free-threaded identifier (cibuildwheel reuses the abi3 wheel for the other versions)."""
    platforms = {identifier.split("-", 1)[1] for identifier in platform_identifiers}
    free_threaded = {i for i in platform_identifiers if i.split("-", 1)[0].endswith("t")}
    return len(platforms) + len(free_threaded)


def workflow_text(name: str) -> str:
    return (ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8")


def test_publish_expects_every_wheel_the_identifiers_produce() -> None:
    expected = sum(wheel_count(EXPECTED[platform]) for platform in EXPECTED)
    match = re.search(r'EXPECTED_WHEELS: "(\d+)"', workflow_text("wheels.yml"))
    assert match is not None, "wheels.yml sets no EXPECTED_WHEELS"
    assert int(match.group(1)) == expected


def test_workflows_install_the_pinned_cibuildwheel() -> None:
    requirements = (ROOT / "tests" / "release" / "requirements.txt").read_text(encoding="utf-8")
    pinned = re.search(r"^cibuildwheel==(\S+)$", requirements, re.MULTILINE)
    assert pinned is not None
    match = re.search(r'CIBUILDWHEEL_VERSION: "([^"]+)"', workflow_text("wheels.yml"))
    assert match is not None, "wheels.yml sets no CIBUILDWHEEL_VERSION"
    assert match.group(1) == pinned.group(1)


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    uses = [
        (workflow.name, line.strip())
        for workflow in WORKFLOWS
        for line in workflow.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]
    assert uses, "no workflow uses an action"
    pinned = re.compile(r"(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
    assert [use for use in uses if not pinned.fullmatch(use[1])] == []


def load_workflows() -> dict[str, dict]:
    yaml_spec = importlib.util.find_spec("yaml")
    require_release_tool(yaml_spec, "PyYAML")
    import yaml

    return {
        workflow.name: yaml.safe_load(workflow.read_text(encoding="utf-8"))
        for workflow in WORKFLOWS
    }


def test_permissions_are_least_and_publishing_alone_gets_an_id_token() -> None:
    for name, workflow in load_workflows().items():
        assert workflow["permissions"] == {}, f"{name}: top-level permissions must be {{}}"
        for job_name, job in workflow["jobs"].items():
            permissions = job.get("permissions")
            assert permissions is not None, f"{name}/{job_name}: no job permissions"
            if job_name == "publish":
                assert permissions == {"id-token": "write"}
                assert job.get("environment"), "publishing runs in a protected environment"
                assert "refs/tags/v" in job["if"]
            else:
                assert set(permissions.items()) <= {("contents", "read")}, f"{name}/{job_name}"
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{name}/{job_name}"


# check_dist: each check must reject what it exists to reject.

GOOD_WHEEL = [
    "tcptable/__init__.py",
    "tcptable/_snapshot.py",
    "tcptable/py.typed",
    "tcptable/_native.abi3.so",
    "tcptable-0.1.0.dist-info/METADATA",
    "tcptable-0.1.0.dist-info/WHEEL",
    "tcptable-0.1.0.dist-info/RECORD",
]
LINUX_NAME = "tcptable-0.1.0-cp39-abi3-linux_x86_64.whl"
PACKAGE_FILES = {"tcptable/__init__.py", "tcptable/_snapshot.py", "tcptable/py.typed"}


def wheel_file(tag: str) -> str:
    return f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n"


def test_a_good_wheel_passes() -> None:
    good = check_dist.wheel_problems(
        LINUX_NAME, GOOD_WHEEL, wheel_file("cp39-abi3-linux_x86_64"), PACKAGE_FILES
    )
    assert good == []


@pytest.mark.parametrize(
    ("name", "extra", "tag", "complaint"),
    [
        ("tcptable-0.1.0-cp312-cp312-linux_x86_64.whl", [], "cp312-cp312-linux_x86_64", "not abi3"),
        (LINUX_NAME, [], "cp39-cp39-linux_x86_64", "WHEEL file says"),
        (LINUX_NAME, ["tests/test_api.py"], None, "outside"),
        (LINUX_NAME, ["tcptable/tests/test_api.py"], None, "test file"),
        (LINUX_NAME, ["tcptable/_shim/tcptable.c"], None, "build input"),
        (LINUX_NAME, ["tcptable/_native.c"], None, "build input"),
        (LINUX_NAME, ["tcptable/_native.o"], None, "leftover"),
        (LINUX_NAME, ["tcptable/__pycache__/x.cpython-312.pyc"], None, "bytecode"),
        (LINUX_NAME, ["tcptable/_native.pyd"], None, "one compiled"),
    ],
)
def test_a_bad_wheel_is_rejected(
    name: str, extra: list[str], tag: str | None, complaint: str
) -> None:
    text = wheel_file(tag or "cp39-abi3-linux_x86_64")
    problems = check_dist.wheel_problems(name, GOOD_WHEEL + extra, text, PACKAGE_FILES)
    assert any(complaint in problem for problem in problems), problems


def test_a_wheel_missing_a_module_or_py_typed_is_rejected() -> None:
    for missing in ("tcptable/_snapshot.py", "tcptable/py.typed", "tcptable/_native.abi3.so"):
        members = [member for member in GOOD_WHEEL if member != missing]
        text = wheel_file("cp39-abi3-linux_x86_64")
        assert check_dist.wheel_problems(LINUX_NAME, members, text, PACKAGE_FILES), missing


GOOD_SDIST = [
    "PKG-INFO",
    "pyproject.toml",
    "setup.py",
    "build_ffi.py",
    "README.md",
    "LICENSE",
    "tcptable/__init__.py",
    "tcptable/py.typed",
    "tcptable/_shim/tcptable.h",
    "tcptable/_shim/tcptable.c",
    "tests/conftest.py",
]


def test_sdist_checks() -> None:
    assert check_dist.sdist_problems(GOOD_SDIST, ["tests/conftest.py"]) == []
    cases = {
        "lacks tcptable/_shim/tcptable_linux.c": (GOOD_SDIST, ["tcptable/_shim/tcptable_linux.c"]),
        "lacks build_ffi.py": ([m for m in GOOD_SDIST if m != "build_ffi.py"], []),
        "no LICENSE": ([m for m in GOOD_SDIST if m != "LICENSE"], []),
        "build product": ([*GOOD_SDIST, "tcptable/_native.abi3.so"], []),
        "generated": ([*GOOD_SDIST, "tcptable/_native.c"], []),
    }
    for complaint, (members, tracked) in cases.items():
        problems = check_dist.sdist_problems(members, tracked)
        assert any(complaint in problem for problem in problems), (complaint, problems)


def test_windows_and_linux_wheels_differ_only_in_the_module_suffix() -> None:
    windows = [m.replace("_native.abi3.so", "_native.pyd") for m in GOOD_WHEEL]
    assert (
        check_dist.comparison_problems(GOOD_WHEEL, windows, "Name: tcptable", "Name: tcptable")
        == []
    )
    problems = check_dist.comparison_problems(
        GOOD_WHEEL, [*windows[1:], "tcptable/extra.py"], "Version: 0.1.0", "Version: 0.2.0"
    )
    assert "only in the Linux wheel: tcptable/__init__.py" in problems
    assert "only in the Windows wheel: tcptable/extra.py" in problems
    assert "METADATA only in Windows: Version: 0.2.0" in problems


def test_check_dist_reads_real_archives(tmp_path: Path) -> None:
    """The command line end to end, on archives written here: passes, then fails on a .c file."""
    sdist = tmp_path / "tcptable-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for member in GOOD_SDIST:
            info = tarfile.TarInfo(f"tcptable-0.1.0/{member}")
            archive.addfile(info, io.BytesIO(b""))

    def write_wheel(path: Path, members: list[str], tag: str) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            for member in members:
                text = wheel_file(tag) if member.endswith("/WHEEL") else ""
                archive.writestr(member, text)

    linux = tmp_path / LINUX_NAME
    windows = tmp_path / "tcptable-0.1.0-cp39-abi3-win_amd64.whl"
    members = [m for m in GOOD_WHEEL if m != "tcptable/_snapshot.py"]
    write_wheel(linux, members, "cp39-abi3-linux_x86_64")
    windows_members = [m.replace("_native.abi3.so", "_native.pyd") for m in members]
    write_wheel(windows, windows_members, "cp39-abi3-win_amd64")
    command = [sys.executable, str(ROOT / "tests" / "release" / "check_dist.py")]
    arguments = ["--sdist", str(sdist), "--wheel", str(linux), "--windows-wheel", str(windows)]
    # Not a git checkout: only the fixed list of sdist files applies.
    arguments += ["--source-tree", str(tmp_path)]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *arguments], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    assert run().returncode == 0, run().stdout
    write_wheel(windows, [*windows_members, "tcptable/_shim/tcptable.c"], "cp39-abi3-win_amd64")
    failed = run()
    assert failed.returncode == 1
    assert "only in the Windows wheel: tcptable/_shim/tcptable.c" in failed.stdout


def lane_versions() -> set[str]:
    """The CPython versions the suite runs on in .ci/run: the Windows lane's embeddable
    CPythons, the 3.14 lane's, and the host's own."""
    windows = (ROOT / "tests" / "windows" / "run.sh").read_text(encoding="utf-8")
    py314 = (ROOT / "tests" / "py314" / "run.sh").read_text(encoding="utf-8")
    listed = re.search(r"^VERSIONS=\(([^)]*)\)", windows, re.MULTILINE)
    single = re.search(r"^PYTHON_VERSION=(\S+)", py314, re.MULTILINE)
    assert listed is not None
    assert single is not None
    host = "{}.{}".format(*sys.version_info[:2])
    return set(listed.group(1).split()) | {single.group(1)} | {host}


def test_classifiers_claim_only_what_the_suite_runs_on() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^classifiers = \[(.*?)^\]", pyproject, re.MULTILINE | re.DOTALL)
    assert block is not None
    classifiers = re.findall(r'"([^"]+)"', block.group(1))
    claimed = {
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert claimed
    assert claimed <= lane_versions(), sorted(claimed - lane_versions())
    # No free-threaded interpreter can be had on the machines .ci/run uses: until a run with
    # the GIL off passes (ci.yml's 3.14t job), nothing claims it.
    assert [c for c in classifiers if "Free Threading" in c] == []
