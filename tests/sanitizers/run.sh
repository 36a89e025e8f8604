#!/usr/bin/env bash
# The Linux test suite and a stress ramp against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of the extension.  Fails on any sanitizer report (from the tests or any child process).
#
#   bash tests/sanitizers/run.sh            # from the project's venv (tests/run-all.sh's)
#
# The extension is built into a directory of its own (tests/sanitizers/build.py), so the
# normal build is untouched; that directory comes first on sys.path.  CPython itself is not
# instrumented: the runtimes are preloaded (LD_PRELOAD), and leak detection is off because
# CPython keeps memory until exit by design (the fuzzers check the shim for leaks, and
# tests/valgrind/run.sh counts what the shim loses).  ASan's quarantine keeps freed memory
# from being reused, so tests that measure the process's memory (named *memory*) run in a
# second pass with quarantine_size_mb=0; every other test runs with the quarantine on, to
# catch use after free.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PYTHON=${PYTHON:-python}
WORK=${TCPTABLE_SANITIZER_DIR:-$(mktemp -d)}
LOGS="$WORK/reports"
rm -rf "$LOGS"
mkdir -p "$LOGS"

# shellcheck source=tests/apt_install.sh
. tests/apt_install.sh
if ! [ -e "$(gcc -print-file-name=libasan.so)" ] || ! [ -e "$(gcc -print-file-name=libubsan.so)" ]; then
    apt_install "libgcc-$(gcc -dumpversion | cut -d. -f1)-dev"
fi

FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
echo "building the extension with $FLAGS into $WORK"
"$PYTHON" tests/sanitizers/build.py "$WORK" "$FLAGS" >/dev/null

# The runtimes of the compiler that built the extension (gcc: libasan, libubsan; Debian ships
# them with libgcc-N-dev, which gcc depends on).
PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
for runtime in $PRELOAD; do
    [ -e "$runtime" ] || { echo "sanitizer runtime $runtime is missing"; exit 1; }
done
ASAN_BASE="detect_leaks=0:abort_on_error=1:log_path=$LOGS/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan"
export PYTHONPATH="$WORK"

sanitized() {
    # $1: extra ASAN_OPTIONS; the rest: the command, run from $WORK (first on sys.path).
    local extra=$1
    shift
    (cd "$WORK" && LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$ASAN_BASE${extra:+:$extra}" "$@")
}

# The sanitized build must be the tcptable that imports, and it must be instrumented.
sanitized "" "$PYTHON" -c "
import sys, tcptable._native as native
assert native.__file__.startswith('$WORK'), native.__file__
print('testing', native.__file__)"
ldd "$WORK"/tcptable/_native*.so | grep -q libasan

status=0
PYTEST=("$PYTHON" -m pytest "$ROOT/tests" -p no:cacheprovider --ignore="$ROOT/tests/test_release.py" -q)
echo "--- the suite, ASan quarantine on"
sanitized "" "${PYTEST[@]}" -k "not memory" || status=1
echo "--- the memory-measuring tests, quarantine_size_mb=0"
sanitized "quarantine_size_mb=0" "${PYTEST[@]}" -k "memory" || status=1
echo "--- stress: 2,000 held pairs, 6 threads, every family/source/sort/pids combination"
sanitized "" "$PYTHON" "$ROOT/benchmarks/stress_ramp.py" --pairs 2000 --steps 2 \
    --every-combination --threads 6 || status=1

if compgen -G "$LOGS/*" >/dev/null; then
    echo "sanitizer reports:"
    for report in "$LOGS"/*; do
        echo "== $report"
        cat "$report"
    done
    status=1
fi
if [ $status -eq 0 ]; then
    echo "sanitizers: no report"
    [ -n "${TCPTABLE_SANITIZER_DIR:-}" ] || rm -rf "$WORK"
fi
exit $status
