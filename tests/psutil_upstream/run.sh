#!/usr/bin/env bash
# psutil's own system-wide connection tests, run with psutil.net_connections replaced by
# tcptable.psutil_compat.net_connections (Linux).
#
#   bash tests/psutil_upstream/run.sh              # the pinned psutil (PSUTIL_VERSION below)
#   bash tests/psutil_upstream/run.sh -x -q        # extra arguments go to pytest
#
# Fetches psutil's sdist with pip (from the index pip is configured with), keeps it and a
# venv with psutil built from it under ~/.cache/tcptable-psutil-upstream/, installs this
# checkout of tcptable into that venv, and runs the sdist's tests/test_connections.py and the
# net_connections tests of test_contracts.py, test_linux.py and test_unicode.py with the
# plugin psutil_plugin.py, which swaps the function in before any test runs and checks before
# each test that it is still swapped.  Prints pytest's summary; exits with pytest's status.
# Bounded: a warm run takes well under a minute (the first one builds psutil: about a minute).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PSUTIL_VERSION=${PSUTIL_VERSION:-7.2.2}
PYTHON=${PYTHON:-python3}
CACHE=${TCPTABLE_PSUTIL_CACHE:-$HOME/.cache/tcptable-psutil-upstream}/$PSUTIL_VERSION
SDIST=$CACHE/psutil-$PSUTIL_VERSION.tar.gz
VENV=$CACHE/venv
RUN=$CACHE/run

if [ "$(uname -s)" != Linux ]; then
    echo "psutil upstream lane: Linux only (psutil's Linux tests; UNIX sockets are Linux-only here)"
    exit 0
fi
mkdir -p "$CACHE"

if [ ! -f "$SDIST" ]; then
    echo "fetching the psutil $PSUTIL_VERSION sdist"
    "$PYTHON" -m pip download -q --no-binary :all: --no-deps "psutil==$PSUTIL_VERSION" -d "$CACHE"
fi

# psutil built from that sdist, and its tests' runner, once per version.
if [ ! -f "$VENV/.psutil-$PSUTIL_VERSION-copies" ]; then
    rm -rf "$VENV"
    # --copies: psutil's tests start children with realpath(sys.executable), which for a
    # symlinked venv python is the system one, without psutil.
    "$PYTHON" -m venv --copies "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q "$SDIST" pytest
    touch "$VENV/.psutil-$PSUTIL_VERSION-copies"
fi
# This checkout of tcptable, every run (it is what is under test).
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$REPO" >/dev/null
"$VENV/bin/python" -m pip install -q "$REPO" >/dev/null  # its dependencies, if missing

# The sdist's tests, alone in a directory: run from the sdist itself, `import psutil` would
# find its unbuilt source tree instead of the installed build.
rm -rf "$RUN"
mkdir -p "$RUN"
tar -xzf "$SDIST" -C "$RUN" "psutil-$PSUTIL_VERSION/tests"
mv "$RUN/psutil-$PSUTIL_VERSION/tests" "$RUN/tests"
rmdir "$RUN/psutil-$PSUTIL_VERSION"
cp "$HERE/psutil_plugin.py" "$RUN/"
# This directory's own configuration (not a parent's), knowing the marker psutil's tests use.
printf "[pytest]\nmarkers =\n    xdist_group: psutil's marker for pytest-xdist (not installed here)\n" >"$RUN/pytest.ini"

# Left out, each because it tests psutil's internals rather than what net_connections returns:
#  - test_linux.py::TestSystemNetConnections::test_emulate_unix replaces the /proc/net/unix
#    text psutil parses (mock of builtins.open) and asserts that psutil opened it; the adapter
#    reads the kernel's sock_diag, not that file.
#  - test_linux.py::TestMisc::test_procfs_path sets psutil.PROCFS_PATH to an empty directory
#    and expects every psutil call to fail; the adapter does not read /proc/net (see
#    docs/psutil.md, "PROCFS_PATH").
# test_emulate_ipv6_unsupported also mocks psutil's internals (its view of socket.inet_ntop
# and supports_ipv6) but asks only that the call does not fail: it runs, and passes.
cd "$RUN"
set +e
PSUTIL_ROOT_DIR="$RUN" PYTHONPATH="$RUN" timeout 900 "$VENV/bin/python" -m pytest \
    -p psutil_plugin -p no:cacheprovider -c pytest.ini --rootdir "$RUN" -o addopts="" -rfEs \
    tests/test_connections.py \
    tests/test_contracts.py::TestSystemAPITypes::test_net_connections \
    tests/test_linux.py::TestSystemNetConnections \
    tests/test_unicode.py::TestFSAPIs::test_net_connections \
    tests/test_unicode.py::TestFSAPIsWithInvalidPath::test_net_connections \
    --deselect tests/test_linux.py::TestSystemNetConnections::test_emulate_unix \
    "$@"
status=$?
echo "psutil $PSUTIL_VERSION's own connection tests with tcptable.psutil_compat: pytest exit $status"
exit $status
