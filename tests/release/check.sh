#!/usr/bin/env bash
# The release checks that do not need GitHub: run by tests/run-all.sh (so by .ci/run) and by the
# CI workflow. Installs its own pinned tools (tests/release/requirements.txt) into a venv, then:
#   workflows   every workflow validates against the GitHub workflow schema; zizmor --offline
#               reports nothing of medium severity or above
#   sdist       python -m build --sdist, then a wheel built FROM that sdist; twine check --strict;
#               check_dist.py asserts what both hold; abi3audit on the wheel
#   wheel test  the wheel installed in a fresh venv, the suite run against it the way
#               cibuildwheel's test-command does; then ONE wheel built on CPython 3.9 and the
#               suite run against it on every CPython 3.x this machine has
#   Windows     the Windows lane's wheel (build/windows-lane/dist/*.whl): twine check, and the
#               same files as the Linux wheel apart from the module suffix. Missing: a loud
#               warning, or a failure when TCPTABLE_REQUIRE_WINDOWS_WHEEL=1
#   identifiers tests/test_release.py (cibuildwheel identifier lists, workflow pins)
#   lint/typing ruff check, ruff format --check, mypy
# Every step runs even after a failure; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

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

cibuildwheel_option() {
    python -c 'import tomllib; options = tomllib.load(open("pyproject.toml", "rb"))["tool"]["cibuildwheel"]; '"$1"
}

# The test-command of [tool.cibuildwheel], run the way cibuildwheel runs it: the wheel and the
# test extra installed in a fresh venv of interpreter $1, test-sources copied to an empty
# folder, run from there.
run_wheel_suite() {
    local python=$1 wheel=$2 work
    work="$OUT/wheel-test/$("$python" -c 'import sys; print(sys.implementation.cache_tag)')"
    rm -rf "$work" && mkdir -p "$work/cwd" || return 1
    "$python" -m venv "$work/venv" || return 1
    timeout 600 "$work/venv/bin/python" -m pip install -q --disable-pip-version-check \
        --only-binary=:all: "${wheel}[test]" || return 1
    local sources command venv_bin
    sources=$(cibuildwheel_option 'print(*options["test-sources"])') || return 1
    command=$(cibuildwheel_option 'print(options["test-command"])') || return 1
    # shellcheck disable=SC2086 # test-sources is a list of paths without spaces
    cp -r $sources "$work/cwd/" || return 1
    venv_bin=$(cd "$work/venv/bin" && pwd) || return 1
    echo "$("$python" --version) in a copy of test-sources, against $(basename "$wheel"): $command"
    (cd "$work/cwd" && PATH="$venv_bin:$PATH" VIRTUAL_ENV="${venv_bin%/bin}" timeout 900 sh -c "$command")
}

wheel_test_suite() {
    run_wheel_suite "$PYTHON" "$(ls "$OUT"/dist/*.whl)"
}

# What cibuildwheel does on every platform, here on Linux with the CPythons this machine has:
# ONE abi3 wheel built (from the sdist) on the oldest supported CPython, 3.9, then the suite run
# against that same file on every other CPython found.
abi3_across_versions() {
    local pythons=() version candidate
    for version in 9 10 11 12 13 14 15; do
        # On PATH, or installed by pyenv (whose shims answer only for the selected versions).
        for candidate in "python3.$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$version".*/bin/python3."$version"; do
            if "$candidate" -c '' >/dev/null 2>&1; then
                pythons+=("$candidate")
                break
            fi
        done
    done
    if [[ "${pythons[0]:-}" != *python3.9 ]]; then
        echo "no python3.9 here: the abi3 wheel cannot be built on the oldest supported CPython"
        return 1
    fi
    echo "building on python3.9, testing on: ${pythons[*]}"
    rm -rf "$OUT/abi3" && mkdir -p "$OUT/abi3" || return 1
    timeout 600 "${pythons[0]}" -m pip wheel -q --disable-pip-version-check --no-deps \
        --wheel-dir "$OUT/abi3" "$(ls "$OUT"/dist/*.tar.gz)" || return 1
    local wheel
    wheel=$(ls "$OUT"/abi3/*.whl) || return 1
    case $(basename "$wheel") in
        *-cp39-abi3-*) ;;
        *) echo "python3.9 built $(basename "$wheel"), not a cp39-abi3 wheel"; return 1 ;;
    esac
    local python status=0
    for python in "${pythons[@]}"; do
        run_wheel_suite "$python" "$wheel" || { echo "FAILED on $python"; status=1; }
    done
    return $status
}

windows_wheel_twine() {
    timeout 300 twine check --strict "$WINDOWS_WHEEL"
}

release_tests() {
    # --noconftest: these tests need no built package, and the suite's conftest imports it.
    TCPTABLE_RELEASE_CHECKS=1 timeout 600 python -m pytest -p no:cacheprovider --noconftest -q \
        tests/test_release.py
}

ruff_lint() {
    timeout 300 ruff check . && timeout 300 ruff format --check .
}

mypy_types() {
    # tcptable/_native.pyi (the native module's types, from the shim's cdef) as the build writes
    # it, so that a cdef changed without a rebuild is checked as it is now.
    "$VENV/bin/python" -c 'import build_ffi' || return 1
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
step "one cp39-abi3 wheel, the suite on every CPython here" abi3_across_versions
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
