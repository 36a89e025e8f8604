#!/usr/bin/env bash
# The lint lane: every hook of .pre-commit-config.yaml over every file in git: ruff, ruff
# format, mypy, codespell, and ShellCheck on the lanes' scripts.  The hooks' environments are built once and kept in
# pre-commit's cache (~/.cache/pre-commit).
#
#   bash tests/lint/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}

timeout 300 "$PYTHON" -m pip install -q -r tests/lint/requirements.txt
timeout 1200 "$PYTHON" -m pre_commit run --all-files --show-diff-on-failure --color never
