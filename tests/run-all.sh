#!/usr/bin/env bash
# Every test of the project, on a fresh machine: installs what the tests need, then runs
#   1. the pytest suite on this machine's Python (Linux),
#   2. Linux hardening: bounded fuzzing, the suite under ASan+UBSan, valgrind memcheck,
#   3. the CPython 3.14 lane: the same suite on Debian sid's python3.14, from the abi3 wheel,
#   4. the Windows lane: the same suite on official Windows CPythons under Wine,
#   5. the release checks: workflows, sdist -> wheel, wheel contents, lint, typing,
#   6. the docs: the Sphinx site built with warnings as errors, every example run; pre-commit.
# Exits non-zero if any step fails; every step runs even when an earlier one failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PYTHON=${PYTHON:-python3}
VENV=${TCPTABLE_VENV:-.venv}
failed=()

step() {
    local name=$1
    shift
    echo
    echo "=== $name"
    if "$@"; then
        echo "=== $name: passed"
    else
        echo "=== $name: FAILED (exit $?)"
        failed+=("$name")
    fi
}

# The command's tests drive a real terminal (tmux, a Debian package installed when missing) and
# real metrics servers (Prometheus, VictoriaMetrics as an OTLP receiver: Debian trixie's, which
# tests/prometheus/fetch.sh fetches once into ~/.cache).  The tests fail without them when
# CI=true, and skip saying why elsewhere.
debian_package() {
    local program=$1 package=$2 sudo=()
    command -v "$program" >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || { echo "no $program and no apt-get to install $package"; return 0; }
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "installing $package (for $program)"
    # A fresh machine has no package lists yet: update once, then try again.
    flock /tmp/apt.lock "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$package" ||
        { flock /tmp/apt.lock "${sudo[@]}" apt-get update -q &&
            flock /tmp/apt.lock "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends "$package"; } ||
        echo "could not install $package: the tests that need $program will say so"
}
debian_package tmux tmux
# The network namespace tests make namespaces with ip (ip netns add) and compare with ss.
debian_package ip iproute2
bash tests/prometheus/fetch.sh prometheus >/dev/null ||
    echo "could not fetch the metrics servers: the tests that need them will say so"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || exit 1
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip || exit 1
python -m pip install -q -e ".[test]" || exit 1

# test_release.py needs the release tools: the release checks below run it with them.
step "pytest (Linux, $(python -c 'import platform; print(platform.python_version())'))" \
    python -m pytest tests -p no:cacheprovider --ignore=tests/test_release.py
# Linux hardening lanes: bounded fuzzing, the suite under ASan+UBSan, valgrind over a poll loop.
if [ "$(uname -s)" = Linux ]; then
    step "fuzzing (libFuzzer + ASan/UBSan, bounded)" bash tests/fuzz/run.sh
    step "sanitizers (the suite and a stress ramp under ASan+UBSan)" bash tests/sanitizers/run.sh
    step "valgrind memcheck (poll loop)" bash tests/valgrind/run.sh
    step "psutil's own connection tests against tcptable.psutil_compat" bash tests/psutil_upstream/run.sh
fi
if [ "$(uname -s)" = Linux ]; then
    step "CPython 3.14 lane (Debian sid's python3.14, the abi3 wheel)" bash tests/py314/run.sh
fi
if [ -f tests/windows/run.sh ]; then
    step "Windows lane (Wine)" bash tests/windows/run.sh
fi
if [ -f tests/release/check.sh ]; then
    # The lane above must have left its wheel for the Windows-vs-Linux wheel comparison.
    step "release checks" env TCPTABLE_REQUIRE_WINDOWS_WHEEL=1 bash tests/release/check.sh
fi
step "docs (Sphinx build, every example) and lint (pre-commit)" bash tests/docs/run.sh

echo
if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED steps: %s\n' "${failed[*]}"
    exit 1
fi
echo "all steps passed"
