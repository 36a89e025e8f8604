"""The benchmark suite runs end to end (--quick) and writes its table and plot.  Timings are
not checked: they belong to the report, not to a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to tests/ (a wheel test)")
@pytest.mark.skipif(
    sys.platform == "win32", reason="the Windows lane runs its own smoke of the suite"
)
def test_quick_run_writes_the_table_and_the_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the bench extra) draws the plot")
    out = tmp_path / "docs"
    readme = tmp_path / "README.md"
    begin = "<!-- benchmarks: begin (python benchmarks/run.py --readme README.md) -->"
    readme.write_text(f"# t\n\n{begin}\nold figures\n<!-- benchmarks: end -->\n\nafter\n")
    finished = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out), "--readme", str(readme)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    table = (out / "benchmarks.md").read_text(encoding="utf-8")
    assert "## Targets (issue #8)" in table
    assert "| `poll()`, pids=False |" in table
    assert "![cost per row against table size](benchmarks.png)" in table
    assert "| sock_diag, pids=False |" in table.split("## A UDP poll beside a TCP poll")[1]
    assert "failed:" not in table
    assert (out / "benchmarks.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # The README's section is replaced, the rest of the file kept.
    section = readme.read_text(encoding="utf-8")
    assert "old figures" not in section
    assert "| one walk: `poll()` pids=False ÷ two-dump floor | ≤ 0.7 |" in section
    assert "![cost per row against table size](docs/benchmarks.png)" in section
    assert section.startswith(f"# t\n\n{begin}\n")
    assert section.endswith("<!-- benchmarks: end -->\n\nafter\n")
