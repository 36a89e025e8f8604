#!/usr/bin/env bash
# The docs lane: builds the Sphinx site in docs/ with every warning an error (nitpicky: every
# cross-reference must resolve), then runs every ```python example of the docs and the README
# (tests/docs/examples.py).  Installs the pinned docs tools (docs/requirements.txt) into the
# Python it runs with.  Then the lint lane (tests/lint/run.sh: pre-commit over every file).
#
#   bash tests/docs/run.sh          # writes docs/_build/html
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
PYTHON=${PYTHON:-python}
failed=0

timeout 600 "$PYTHON" -m pip install -q -r docs/requirements.txt -e ".[numpy,prometheus]" \
    pytest || exit 1
rm -rf docs/_build/html docs/_build/doctrees
echo "--- sphinx-build -W --keep-going -n (html)"
timeout 600 "$PYTHON" -m sphinx -W --keep-going -n -q -b html -d docs/_build/doctrees \
    docs docs/_build/html || failed=1
echo "--- the docs' examples"
timeout 900 "$PYTHON" -m pytest -p no:cacheprovider -q tests/docs/examples.py || failed=1
echo "--- lint: pre-commit run --all-files"
PYTHON=$PYTHON bash tests/lint/run.sh || failed=1
exit $failed
