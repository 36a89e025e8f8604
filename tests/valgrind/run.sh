#!/usr/bin/env bash
# valgrind memcheck over a poll loop (tests/valgrind/poll_loop.py: every family, source, sort
# and pids combination, ROUNDS rounds): fails on any memcheck error with a shim frame on its
# stack and on any block the shim allocated and lost (tests/valgrind/report.py).  CPython's
# own noise is suppressed by its top frame (python.supp) or listed but not counted.
# Installs valgrind if missing.
#
#   bash tests/valgrind/run.sh              # 6 rounds: 216 polls
#   TCPTABLE_VALGRIND_ROUNDS=20 bash tests/valgrind/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
ROUNDS=${TCPTABLE_VALGRIND_ROUNDS:-6}

# shellcheck source=tests/apt_install.sh
. tests/apt_install.sh
command -v valgrind >/dev/null || apt_install valgrind
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# PYTHONMALLOC=malloc: every Python allocation goes through malloc, where memcheck sees it
# (pymalloc's arenas would hide use-after-free and make its own reads look invalid).
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --num-callers=40 \
    --suppressions=tests/valgrind/python.supp --xml=yes --xml-file="$WORK/memcheck.xml" \
    "$PYTHON" tests/valgrind/poll_loop.py "$ROUNDS"
"$PYTHON" tests/valgrind/report.py "$WORK/memcheck.xml"
