"""The benchmark suite runs end to end (--quick) and writes its table and plot.  Timings are
not checked: they belong to the report, not to a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
# The marker the docs' performance page carries, as run.py writes it.
SUMMARY_BEGIN = (
    "<!-- benchmarks: begin (python benchmarks/run.py --summary docs/project/performance.md) -->"
)


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to tests/ (a wheel test)")
@pytest.mark.skipif(
    sys.platform == "win32", reason="the Windows lane runs its own smoke of the suite"
)
def test_quick_run_writes_the_table_and_the_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the bench extra) draws the plot")
    out = tmp_path / "docs"
    page = tmp_path / "docs" / "project" / "performance.md"
    page.parent.mkdir(parents=True)
    begin = SUMMARY_BEGIN
    page.write_text(f"# t\n\n{begin}\nold figures\n<!-- benchmarks: end -->\n\nafter\n")
    finished = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out), "--summary", str(page)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    table = (out / "benchmarks.md").read_text(encoding="utf-8")
    assert "## Targets" in table
    assert "| `poll()`, pids=False |" in table
    assert "![cost per row against table size](benchmarks.png)" in table
    assert "failed:" not in table
    assert (
        "![one poll of the whole table: tcptable against ss and psutil](benchmarks-peers.png)"
        in table
    )
    for png in ("benchmarks.png", "benchmarks-peers.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # The page's section is replaced, the rest of the file kept.
    section = page.read_text(encoding="utf-8")
    assert "old figures" not in section
    assert "| one walk: `poll()` pids=False ÷ two-dump floor | ≤ 0.7 |" in section
    assert "![cost per row against table size](../benchmarks.png)" in section
    assert "(../benchmarks-peers.png)" in section
    assert "[../benchmarks.md](../benchmarks.md)" in section
    assert section.startswith(f"# t\n\n{begin}\n")
    assert section.endswith("<!-- benchmarks: end -->\n\nafter\n")


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to tests/ (a wheel test)")
def test_the_docs_performance_page_has_the_markers_run_py_rewrites() -> None:
    page = RUN.parent.parent / "docs" / "project" / "performance.md"
    text = page.read_text(encoding="utf-8")
    assert text.count(SUMMARY_BEGIN) == 1
    assert text.index(SUMMARY_BEGIN) < text.index("<!-- benchmarks: end -->")
