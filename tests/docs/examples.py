"""Every fenced ```python block of the README and the docs runs as written (Linux, as root),
and every relative link of the top-level Markdown files leads to a file that exists (Sphinx
checks the links inside docs/; the README is read outside it, on the repository's pages).

The blocks of one page run in order in one fresh interpreter, sharing their names as a
reader following the page would.  Run by tests/docs/run.sh: ``pytest tests/docs/examples.py``
(the file's name keeps it out of the main suite's collection).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# Runs each block with its page and line in its code object's file name, so a traceback points
# at the page.
RUNNER = """
import json, sys
namespace = {"__name__": "__main__"}
for name, source in json.load(sys.stdin):
    exec(compile(source, name, "exec"), namespace)
"""


def pages() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    found += sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)
    return [page for page in found if page.exists()]


def blocks(page: Path) -> list[tuple[str, str]]:
    """(page:line, source) of each python block; the source is padded with blank lines so that
    a traceback's line number is the page's."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start(1))
        found.append((str(page.relative_to(ROOT)), "\n" * line + match.group(1)))
    return found


PAGES = [page for page in pages() if blocks(page)]


def test_the_docs_have_examples() -> None:
    assert PAGES, "no ```python block found under docs/ or in the README"


@pytest.mark.skipif(sys.platform != "linux", reason="the examples are run on Linux")
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_examples_run(page: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(blocks(page)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert finished.returncode == 0, f"{page}:\n{finished.stdout}\n{finished.stderr}"


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_relative_links_lead_to_files(name: str) -> None:
    page = ROOT / name
    targets = [t for t in LINK.findall(page.read_text(encoding="utf-8")) if ":" not in t]
    missing = [target for target in targets if not (page.parent / target).exists()]
    assert not missing, f"{name} links to files that do not exist: {missing}"
