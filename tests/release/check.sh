#!/usr/bin/env bash
# The release checks that do not need GitHub: run by tests/run-all.sh (so by .ci/run) and by the
# CI workflow. Installs its own pinned tools (tests/release/requirements.txt) into a venv, then:
#   workflows   every workflow validates against the GitHub workflow schema; zizmor --offline
#               reports nothing of medium severity or above
#   sdist       python -m build --sdist, then a wheel built FROM that sdist; twine check --strict;
#               check_dist.py asserts what both hold; abi3audit on the wheel
#   wheel test  the wheel installed in a fresh venv, the suite run against it the way
#               cibuildwheel's test-command does
#   Windows     the Windows lane's wheel (build/windows-lane/dist/*.whl): twine check, and the
#               same files as the Linux wheel apart from the module suffix. Missing: a loud
#               warning, or a failure when TCPTABLE_REQUIRE_WINDOWS_WHEEL=1
#   identifiers tests/test_release.py (cibuildwheel identifier lists, workflow pins)
#   lint/typing ruff check, ruff format --check, mypy
# Every step runs even after a failure; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
VENV=${TCPTABLE_RELEASE_VENV:-build/release-venv}
OUT=build/release
WINDOWS_WHEELS=build/windows-lane/dist
failed=()
warnings=()

step() {
    local name=$1
    shift
    echo
    echo "--- $name"
    if "$@"; then
        echo "--- $name: passed"
    else
        echo "--- $name: FAILED"
        failed+=("$name")
    fi
}

install_tools() {
    # cibuildwheel 4 runs on CPython 3.11 or newer.
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        { echo "$PYTHON is older than 3.11: set PYTHON to a newer one"; return 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV" || return 1
    fi
    timeout 600 "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -r tests/release/requirements.txt
}

workflow_schema() {
    timeout 300 check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml &&
        timeout 300 check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
}

zizmor_offline() {
    timeout 300 zizmor --offline --min-severity medium .github/
}

build_sdist_then_wheel() {
    rm -rf "$OUT" && mkdir -p "$OUT/dist" "$OUT/unpacked" || return 1
    timeout 600 python -m build --sdist --outdir "$OUT/dist" . || return 1
    local sdist
    sdist=$(ls "$OUT"/dist/*.tar.gz) || return 1
    tar -xzf "$sdist" -C "$OUT/unpacked" || return 1
    # The wheel comes from the unpacked sdist alone: a file missing from MANIFEST.in fails here.
    timeout 600 python -m build --wheel --outdir "$OUT/dist" "$OUT"/unpacked/*/
}

twine_strict() {
    timeout 300 twine check --strict "$OUT"/dist/*
}

dist_contents() {
    local windows=()
    if [ -n "$WINDOWS_WHEEL" ]; then
        windows=(--windows-wheel "$WINDOWS_WHEEL")
    fi
    python tests/release/check_dist.py --sdist "$OUT"/dist/*.tar.gz --wheel "$OUT"/dist/*.whl \
        "${windows[@]}"
}

abi3_audit() {
    timeout 300 abi3audit --strict --verbose "$OUT"/dist/*.whl
}

# The test-command of [tool.cibuildwheel], run the way cibuildwheel runs it: the wheel and the
# test extra installed in a fresh venv, test-sources copied to an empty folder, run from there.
wheel_test_suite() {
    local venv="$OUT/wheel-test-venv" cwd="$OUT/wheel-test-cwd"
    "$PYTHON" -m venv "$venv" || return 1
    local wheel
    wheel=$(ls "$OUT"/dist/*.whl) || return 1
    timeout 600 "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[test]" ||
        return 1
    mkdir -p "$cwd" && cp -r tests pyproject.toml "$cwd/" || return 1
    local command
    command=$(python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["tool"]["cibuildwheel"]["test-command"])') ||
        return 1
    echo "in a copy of test-sources, against $(basename "$wheel"): $command"
    local venv_bin
    venv_bin=$(cd "$venv/bin" && pwd) || return 1
    (cd "$cwd" && PATH="$venv_bin:$PATH" VIRTUAL_ENV="${venv_bin%/bin}" timeout 900 sh -c "$command")
}

windows_wheel_twine() {
    timeout 300 twine check --strict "$WINDOWS_WHEEL"
}

release_tests() {
    TCPTABLE_RELEASE_CHECKS=1 timeout 600 python -m pytest -p no:cacheprovider -q tests/test_release.py
}

ruff_lint() {
    timeout 300 ruff check . && timeout 300 ruff format --check .
}

mypy_types() {
    timeout 600 mypy
}

step "install the pinned release tools into $VENV" install_tools || true
if [ ${#failed[@]} -gt 0 ]; then
    echo "cannot run the release checks without their tools"
    exit 1
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

WINDOWS_WHEEL=""
shopt -s nullglob
windows_wheels=("$WINDOWS_WHEELS"/*.whl)
shopt -u nullglob
if [ ${#windows_wheels[@]} -eq 1 ]; then
    WINDOWS_WHEEL=${windows_wheels[0]}
elif [ ${#windows_wheels[@]} -gt 1 ]; then
    echo "more than one wheel in $WINDOWS_WHEELS: ${windows_wheels[*]}"
    failed+=("one Windows lane wheel")
fi

step "workflows validate against the GitHub workflow schema" workflow_schema
step "zizmor --offline: no finding of medium severity or above" zizmor_offline
step "sdist, then a wheel built from that sdist" build_sdist_then_wheel
step "twine check --strict" twine_strict
step "sdist and wheel contents" dist_contents
step "abi3audit --strict on the wheel" abi3_audit
step "the suite against the installed wheel (cibuildwheel's test-command)" wheel_test_suite
if [ -n "$WINDOWS_WHEEL" ]; then
    step "twine check --strict on the Windows lane's wheel" windows_wheel_twine
else
    message="NO WINDOWS WHEEL at $WINDOWS_WHEELS/*.whl: the Windows lane did not build one, so it was not compared with the Linux wheel"
    if [ "${TCPTABLE_REQUIRE_WINDOWS_WHEEL:-0}" = 1 ]; then
        echo "$message (TCPTABLE_REQUIRE_WINDOWS_WHEEL=1)"
        failed+=("Windows lane wheel present")
    else
        printf '\n!!! %s\n!!! (set TCPTABLE_REQUIRE_WINDOWS_WHEEL=1 to make this a failure)\n' "$message"
        warnings+=("$message")
    fi
fi
step "cibuildwheel identifiers and workflow policy (tests/test_release.py)" release_tests
step "ruff check and ruff format --check" ruff_lint
step "mypy" mypy_types

echo
echo "=== release checks summary"
for warning in "${warnings[@]}"; do
    echo "WARNING: $warning"
done
if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "all release checks passed"
