"""The suite's outputs: the machine's description, a markdown report (targets, then one table
per table size) and a plot of the cost per row against the table size."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field

from measures import Result

FLOOR = "two_dump"


@dataclass
class SizeRun:
    """Everything measured while `sockets` sockets were held."""

    sockets: int
    rows: int = 0  # TCP rows in the table (the machine's own sockets included)
    results: list[Result] = field(default_factory=list)
    note: str = ""  # why this size could not be measured

    def get(self, key: str) -> Result | None:
        return next((r for r in self.results if r.key == key and r.median_ms is not None), None)


# (description, numerator, denominator, limit): a ratio of medians that the issue targets.
TARGETS = [
    ("one walk: `poll()` pids=False ÷ two-dump floor", "poll", FLOOR, 0.7),
    ("sort=True ÷ unsorted `poll()`", "sort", "poll", 1.15),
    ("pids=True, 10 polls a second ÷ two-dump floor", "pids", FLOOR, 1.3),
    ("churn 5%, pids=True ÷ two-dump floor", "churn", FLOOR, 2.0),
    ("pid_max_age=0 ÷ two-dump floor", "pids_age0", FLOOR, 2.5),
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}, {platform.machine()}), {platform.system()} "
        f"{platform.release()}, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _ratio(run: SizeRun, top: str, bottom: str) -> str:
    a, b = run.get(top), run.get(bottom)
    if a is None or b is None or not b.median_ms or not b.min_ms:
        return ""
    assert a.median_ms is not None
    assert a.min_ms is not None
    return f"{a.median_ms / b.median_ms:.2f} (min {a.min_ms / b.min_ms:.2f})"


def targets_table(runs: list[SizeRun]) -> list[str]:
    measured = [run for run in runs if run.results]
    lines = [
        "| target (ratio of medians; of minimums in brackets) | limit | "
        + " | ".join(f"{run.sockets:,} sockets" for run in measured)
        + " |",
        "|---|---:|" + "---:|" * len(measured),
    ]
    for description, top, bottom, limit in TARGETS:
        cells = [_ratio(run, top, bottom) or "not measured" for run in measured]
        lines.append(f"| {description} | ≤ {limit} | " + " | ".join(cells) + " |")
    cells = []
    for run in measured:
        full, cached = run.get("fdmix_age0"), run.get("fdmix")
        if full and cached and cached.median_ms and full.median_ms:
            cells.append(f"{full.median_ms / cached.median_ms:.1f}x")
        else:
            cells.append("not measured")
    lines.append(
        "| fd mix: pid_max_age=0 (a full re-check) ÷ pids=True (cached) | ≥ 5x | "
        + " | ".join(cells)
        + " |"
    )
    return lines


def size_table(run: SizeRun) -> list[str]:
    lines = [
        f"### {run.sockets:,} sockets held ({run.rows:,} TCP rows in the table)",
        "",
        "| what | median ms | min ms | µs per row | x two-dump floor |",
        "|---|---:|---:|---:|---:|",
    ]
    floor = run.get(FLOOR)
    for result in run.results:
        if result.median_ms is None:
            lines.append(f"| {result.label} | {result.note} | | | |")
            continue
        per_row = result.median_ms * 1e3 / run.rows if run.rows else None
        ratio = f"{result.median_ms / floor.median_ms:.2f}" if floor and floor.median_ms else ""
        lines.append(
            f"| {result.label} | {_ms(result.median_ms)} | {_ms(result.min_ms)} | "
            f"{'' if per_row is None else f'{per_row:.2f}'} | {ratio} |"
        )
    return lines


def markdown(runs: list[SizeRun], header: list[str], plot_name: str | None) -> str:
    lines = ["# tcptable benchmarks", "", *header, ""]
    if plot_name:
        lines += [f"![cost per row against table size]({plot_name})", ""]
    lines += ["## Targets (issue #8)", "", *targets_table(runs), ""]
    lines += ["## Every measurement", ""]
    for run in runs:
        if run.note:
            lines += [f"### {run.sockets:,} sockets: {run.note}", ""]
        else:
            lines += [*size_table(run), ""]
    return "\n".join(lines)


def plot(runs: list[SizeRun], path: str) -> str | None:
    """Write the PNG; returns why not when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        return "matplotlib is not installed (pip install 'tcptable[bench]')"
    measured = [run for run in runs if run.results and run.rows]
    labels: dict[str, str] = {}
    for run in measured:
        for result in run.results:
            labels.setdefault(result.key, result.label)
    figure, axes = pyplot.subplots(figsize=(10, 6.5))
    colours = pyplot.get_cmap("tab20").colors
    for index, (key, label) in enumerate(labels.items()):
        points = [
            (run.rows, result.median_ms * 1e3 / run.rows)
            for run in measured
            for result in [run.get(key)]
            if result is not None and result.median_ms is not None
        ]
        if points:
            axes.plot(
                *zip(*points),
                "--" if key in ("two_dump", "one_walk") else "-",
                marker="os^vD<>"[index % 7],
                color=colours[index % len(colours)],
                label=label.replace("`", ""),
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("TCP rows in the table")
    axes.set_ylabel("median µs per row (lower is better)")
    axes.set_title("tcptable poll cost per row")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return None


def header(command: str, limits: str, caveat: str) -> list[str]:
    return [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.",
        "",
        f"Command: `{command}`.  {limits}",
        "",
        caveat,
    ]


def replace_section(path: str, begin: str, end: str, text: str) -> None:
    """Put `text` between the `begin` and `end` marker lines of the file at `path`."""
    with open(path, encoding="utf-8") as source:
        content = source.read()
    first, last = content.index(begin) + len(begin), content.index(end)
    with open(path, "w", encoding="utf-8") as target:
        target.write(content[:first] + "\n" + text.rstrip() + "\n" + content[last:])
