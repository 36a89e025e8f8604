"""The suite's outputs: the machine's description, a markdown report (targets, then one table
per table size), a plot of the cost per row against the table size, and a simpler plot of one
poll against `ss` and psutil at each size."""

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


# (description, numerator, denominator, limit): a ratio of medians with the project's target.
TARGETS = [
    ("one walk: `poll()` pids=False ÷ two-dump floor", "poll", FLOOR, 0.7),
    ("sort=True ÷ unsorted `poll()`", "sort", "poll", 1.15),
    ("pids=True, 10 polls a second ÷ two-dump floor", "pids", FLOOR, 1.3),
    ("churn 5%, pids=True ÷ two-dump floor", "churn", FLOOR, 2.0),
    ("pid_max_age=0 ÷ two-dump floor", "pids_age0", FLOOR, 2.5),
    ("states={'LISTEN'} ÷ unfiltered `poll()`", "states", "poll", 0.1),
]


PAIRING = [
    "Each timed call is paired with a bare two-dump floor dump made just before it, and a "
    "ratio is the median over those pairs, so that the load of a shared machine, which moves "
    "between measurements, weighs on both sides of each ratio alike.  CPU time is the "
    "process's own (user + system, the kernel's dump included; `ss` as a waited-for child): "
    "unlike wall time it leaves out the time a loaded machine kept the call waiting for a CPU."
    "  The plot shows CPU µs per row.",
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


def _paired(run: SizeRun, top: str, bottom: str, cpu: bool) -> float | None:
    """top ÷ bottom, through each one's paired ratio to the floor, so that load that moved
    between the two measurements cancels; a plain ratio of medians where there is no floor."""
    a, b = run.get(top), run.get(bottom)
    if a is None or b is None:
        return None
    ratio_a = a.cpu_floor_ratio if cpu else a.floor_ratio
    ratio_b = b.cpu_floor_ratio if cpu else b.floor_ratio
    if bottom == FLOOR and ratio_a:
        return ratio_a
    if ratio_a and ratio_b:
        return ratio_a / ratio_b
    top_ms, bottom_ms = (a.cpu_ms, b.cpu_ms) if cpu else (a.median_ms, b.median_ms)
    return top_ms / bottom_ms if top_ms and bottom_ms else None


def _cell(run: SizeRun, top: str, bottom: str, unit: str = "") -> str:
    cpu, wall = _paired(run, top, bottom, True), _paired(run, top, bottom, False)
    if cpu is None or wall is None:
        return "not measured"
    return f"{cpu:.2f}{unit} (wall {wall:.2f}{unit})"


def targets_table(runs: list[SizeRun]) -> list[str]:
    measured = [run for run in runs if run.results]
    lines = [
        "| target: CPU time, median of paired ratios (wall time) | limit | "
        + " | ".join(f"{run.sockets:,} sockets" for run in measured)
        + " |",
        "|---|---:|" + "---:|" * len(measured),
    ]
    for description, top, bottom, limit in TARGETS:
        cells = [_cell(run, top, bottom) for run in measured]
        lines.append(f"| {description} | ≤ {limit} | " + " | ".join(cells) + " |")
    cells = [_cell(run, "fdmix_age0", "fdmix", "x") for run in measured]
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
        "| what | median ms | min ms | CPU ms | CPU µs per row | x floor, CPU | x floor, wall |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in run.results:
        if result.median_ms is None or result.cpu_ms is None:
            lines.append(f"| {result.label} | {result.note} | | | | | |")
            continue
        per_row = f"{result.cpu_ms * 1e3 / run.rows:.2f}" if run.rows else ""
        cpu_ratio = f"{result.cpu_floor_ratio:.2f}" if result.cpu_floor_ratio else ""
        ratio = f"{result.floor_ratio:.2f}" if result.floor_ratio else ""
        lines.append(
            f"| {result.label} | {_ms(result.median_ms)} | {_ms(result.min_ms)} | "
            f"{_ms(result.cpu_ms)} | {per_row} | {cpu_ratio} | {ratio} |"
        )
    return lines


def markdown(
    runs: list[SizeRun], header: list[str], plot_name: str | None, peers_name: str | None = None
) -> str:
    lines = ["# tcptable benchmarks", "", *header, ""]
    if peers_name:
        lines += [f"![{PEERS_TITLE}]({peers_name})", ""]
    if plot_name:
        lines += [f"![cost per row against table size]({plot_name})", ""]
    lines += ["## Targets", "", *targets_table(runs), "", *PAIRING, ""]
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
            (run.rows, result.cpu_ms * 1e3 / run.rows)
            for run in measured
            for result in [run.get(key)]
            if result is not None and result.cpu_ms is not None
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
    axes.set_ylabel("median CPU µs per row (lower is better)")
    axes.set_title("tcptable poll cost per row")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return None


# (key, legend, colour) of the peers plot: tcptable beside the tools people use today, without
# owners and then with them, so each pair of neighbouring bars compares like with like.
PEERS = [
    ("poll", "tcptable poll(), no owners", "#1f5fa8"),
    ("ss", "ss -tan, no owners", "#a0a0a0"),
    ("pids", "tcptable poll(), owners (pids=True)", "#5b9bd5"),
    ("ss_pids", "ss -tanp, owners", "#606060"),
    ("psutil", "psutil.net_connections('tcp'), owners", "#e07b28"),
]
PEERS_TITLE = "one poll of the whole table: tcptable against ss and psutil"


def peers_plot(runs: list[SizeRun], path: str) -> str | None:
    """Write a grouped bar chart of median wall ms per poll, one group per table size; returns
    why not when matplotlib is missing or nothing was measured."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        return "matplotlib is not installed (pip install 'tcptable[bench]')"
    measured = [run for run in runs if run.results and run.rows]
    if not measured:
        return "no table size was measured"
    from matplotlib.ticker import FuncFormatter, NullFormatter

    figure, axes = pyplot.subplots(figsize=(10, 5))
    width = 0.8 / len(PEERS)
    values = []
    for index, (key, legend, colour) in enumerate(PEERS):
        for group, run in enumerate(measured):
            result = run.get(key)
            if result is None or result.median_ms is None:
                continue
            x = group + (index - (len(PEERS) - 1) / 2) * width
            bar = axes.bar(x, result.median_ms, width, color=colour, label=legend)
            axes.bar_label(bar, [f"{result.median_ms:.3g}"], fontsize=7, padding=2)
            values.append(result.median_ms)
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # one legend entry per peer, not per size
    axes.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left")
    axes.set_xticks(range(len(measured)))
    axes.set_xticklabels([f"{run.rows:,} rows" for run in measured])
    axes.set_yscale("log")
    if values:  # space below the smallest bar, so every bar shows its height, and above for labels
        axes.set_ylim(min(values) / 4, max(values) * 2)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_ylabel("median ms per poll (lower is better)")
    axes.set_title(PEERS_TITLE)
    axes.grid(True, axis="y", which="both", alpha=0.3)
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
