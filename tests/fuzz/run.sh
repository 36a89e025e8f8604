#!/usr/bin/env bash
# Build every libFuzzer harness in tests/fuzz/ (clang, -fsanitize=fuzzer,address,undefined)
# and run each for a bounded time over its seed corpus (tests/fuzz/corpus/<harness>/, which
# also holds every crash found so far: they are replayed first).  Fails on any crash, leak,
# timeout, out-of-memory or sanitizer report.  Installs clang and libFuzzer if missing.
#
#   bash tests/fuzz/run.sh                          # 15 s per harness (CI)
#   TCPTABLE_FUZZ_SECONDS=3600 bash tests/fuzz/run.sh netlink   # a long local run of one
#
# New inputs go to a scratch corpus under $TCPTABLE_FUZZ_DIR (default: a temporary
# directory); the repository's corpus is only read.  A failing input is left in that
# directory as crash-*, leak-*, timeout-* or oom-*; add it to tests/fuzz/corpus/<harness>/
# as regression-<what> once fixed.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_EACH=${TCPTABLE_FUZZ_SECONDS:-15}
# shellcheck source=tests/apt_install.sh
. tests/apt_install.sh
CLANG=${CLANG:-clang}

install_tools() {
    # clang builds the harnesses; libclang-rt-dev holds libFuzzer and the sanitizer runtimes.
    local probe
    probe=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n * 0; }\n' \
        >"$probe/probe.c"
    if ! "$CLANG" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>/dev/null; then
        apt_install clang libclang-rt-dev
        "$CLANG" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe"
    fi
    rm -rf "$probe"
}

install_tools
WORK=${TCPTABLE_FUZZ_DIR:-$(mktemp -d)}
mkdir -p "$WORK"
echo "fuzzing for ${SECONDS_EACH} s per harness; work directory $WORK"

if [ $# -gt 0 ]; then
    harnesses=("$@")
else
    harnesses=()
    for source in tests/fuzz/fuzz_*.c; do
        name=$(basename "$source" .c)
        harnesses+=("${name#fuzz_}")
    done
fi

failed=()
summary=()
for harness in "${harnesses[@]}"; do
    binary="$WORK/fuzz_$harness"
    # Every shim C file: the per-OS ones reduce to nothing off their OS.
    "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -Wall -Wextra -I tcptable/_shim/common -I tcptable/_shim/linux \
        -I tcptable/_shim/windows -I tests/fuzz \
        "tests/fuzz/fuzz_$harness.c" tcptable/_shim/*/*.c -o "$binary"
    scratch="$WORK/corpus_$harness"
    mkdir -p "$scratch" "tests/fuzz/corpus/$harness"
    log="$WORK/fuzz_$harness.log"
    echo "--- $harness"
    # Leaks are checked after every input (ASan's LeakSanitizer); any sanitizer report aborts.
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$binary" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -timeout=10 -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$WORK/$harness-" \
        "$scratch" "tests/fuzz/corpus/$harness" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        summary+=("$harness: $runs runs, $rate exec/s, $coverage")
        echo "$harness: $runs runs in ${SECONDS_EACH} s ($rate exec/s), $coverage"
    else
        echo "$harness: FAILED; the report:"
        grep -v -E '^#[0-9]+ ' "$log" | tail -60
        failed+=("$harness")
    fi
done

echo
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing FAILED: ${failed[*]} (inputs in $WORK)"
    exit 1
fi
if [ -z "${TCPTABLE_FUZZ_DIR:-}" ]; then
    rm -rf "$WORK"
fi
