"""The `tcptable` command beside `ss`, as whole processes: wall time from start to exit, output
to /dev/null, every command once per round in a rotating order (interleaved, so that a
machine's changing load weighs on all of them alike), medians over the rounds.

    python benchmarks/bench_cli.py [--sizes 1000,5000,20000,50000] [--rounds 11]
                                   [--baseline REF] [--out FILE]

`tcptable` (with pids and process names) and `tcptable --json` are set beside `ss -tanp`, and
`tcptable --counts` beside `ss -tan`; with --baseline REF (a git commit, e.g. main) the same
commands of that commit run in the same rounds, from a virtual environment built once from
`git archive REF` and cached under ~/.cache/tcptable-bench/.  benchmarks/run.py runs this at
every size it holds and puts the section in its report.  Linux only (`ss`, and the holders'
loopback addresses).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import holders

import tcptable

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "tcptable-bench")

# (the figure, the reference, the limit): ratios of medians the command is held to.
TARGETS = [
    ("tcptable", "ss -tanp", 1.0),
    ("tcptable --json", "ss -tanp", 1.5),
    ("tcptable --counts", "ss -tan", 1.0),
]
OPTIONS = {"tcptable": [], "tcptable --json": ["--json"], "tcptable --counts": ["--counts"]}


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def this_command() -> tuple[list[str], str]:
    """How this environment runs the command (its console script, else ``-m``), and a note
    on how tcptable is installed here (an editable install costs start-up time)."""
    script = shutil.which("tcptable", path=os.path.dirname(sys.executable))
    command = [script] if script else [sys.executable, "-m", "tcptable"]
    location = os.path.dirname(os.path.abspath(tcptable.__file__))
    kind = "installed" if "site-packages" in location else f"from the source tree ({location})"
    return command, f"`{' '.join(command)}`, tcptable {kind}"


def baseline_command(ref: str) -> list[str]:
    """The console script of commit ``ref``, installed (once) in a cached virtual
    environment; RuntimeError with the reason when it cannot be built."""
    found = subprocess.run(
        ["git", "-C", REPOSITORY, "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise RuntimeError(f"{ref} is not a commit here: {found.stderr.strip()}")
    commit = found.stdout.strip()
    venv = os.path.join(CACHE, f"cli-baseline-{commit[:12]}")
    script = os.path.join(venv, "bin", "tcptable")
    if os.path.exists(script):
        return [script]
    with tempfile.TemporaryDirectory(prefix="tcptable-baseline-") as source:
        archive = subprocess.run(
            ["git", "-C", REPOSITORY, "archive", commit], capture_output=True, check=False
        )
        if archive.returncode != 0:
            raise RuntimeError(f"git archive {ref} failed: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", source], input=archive.stdout, check=True)
        for step in (
            [sys.executable, "-m", "venv", venv],
            [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", source],
        ):
            built = subprocess.run(step, capture_output=True, text=True, check=False)
            if built.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise RuntimeError(f"{' '.join(step[:4])}... failed: {built.stderr[-300:]}")
    return [script]


def commands(baseline: list[str] | None) -> dict[str, list[str]]:
    """Every command of a round, by name."""
    command, _ = this_command()
    chosen = {name: command + options for name, options in OPTIONS.items()}
    chosen["ss -tanp"] = ["ss", "-tanp"]
    chosen["ss -tan"] = ["ss", "-tan"]
    if baseline is not None:
        for name, options in OPTIONS.items():
            chosen[f"{name} (before)"] = baseline + options
    return chosen


@dataclass
class SizeResult:
    sockets: int
    rows: int = 0
    rounds: int = 0
    walls: dict[str, list[float]] = field(default_factory=dict)  # ms, one per round
    cpus: dict[str, list[float]] = field(default_factory=dict)  # CPU ms (user + system)
    load_before: str = ""
    load_after: str = ""
    note: str = ""

    def median(self, name: str) -> float | None:
        walls = self.walls.get(name)
        return statistics.median(walls) if walls else None

    def paired(self, top: str, bottom: str, cpu: bool = False) -> float | None:
        """Median over the rounds of top ÷ bottom in the same round (wall, or CPU time)."""
        figures = self.cpus if cpu else self.walls
        a, b = figures.get(top), figures.get(bottom)
        if not a or not b:
            return None
        return statistics.median(x / y for x, y in zip(a, b))


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run of the command, output to /dev/null; the CPU time (user +
    system, from wait4) leaves out the time a loaded machine kept it waiting for a CPU."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        wall = (time.perf_counter() - started) * 1e3
        child.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            text = errors.read()[-200:].decode(errors="replace")
            raise RuntimeError(f"{' '.join(command)} exited {code}: {text}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def measure(chosen: dict[str, list[str]], rounds: int, sockets: int, rows: int) -> SizeResult:
    """Each command once per round (after one untimed round), the order rotated every round;
    a command that fails fails the measurement (RuntimeError)."""
    result = SizeResult(sockets, rows, rounds)
    result.walls = {name: [] for name in chosen}
    result.cpus = {name: [] for name in chosen}
    result.load_before = load_average()
    names = list(chosen)
    for round_number in range(rounds + 1):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = run_once(chosen[name])
            if round_number > 0:  # the first round warms the page cache
                result.walls[name].append(wall)
                result.cpus[name].append(cpu)
    result.load_after = load_average()
    return result


def show(result: SizeResult) -> None:
    """One line per command, as benchmarks/run.py prints its measurements."""
    if result.note:
        print(f"   the command beside ss: {result.note}", flush=True)
    for name, walls in result.walls.items():
        if walls:
            label = f"`{name}` (whole process, {len(walls)} interleaved rounds)"
            figures = f"{statistics.median(walls):9.2f} {min(walls):9.2f}"
            print(f"   {label:<62} {figures} {statistics.median(result.cpus[name]):9.2f}")


def _ratio_cell(result: SizeResult, top: str, bottom: str) -> str:
    wall, cpu = result.paired(top, bottom), result.paired(top, bottom, cpu=True)
    if wall is None or cpu is None:
        return "not measured"
    return f"{wall:.2f}x ({cpu:.2f}x)"


def report(results: list[SizeResult], how: str, baseline: str | None) -> list[str]:
    """The markdown section: targets, then every median, per size."""
    measured = [r for r in results if not r.note]
    lines = [
        "## The command beside `ss` (whole process, wall time)",
        "",
        f"Command: `python benchmarks/bench_cli.py` (or `run.py`); this tcptable: {how}; "
        + (f"before: `{baseline}`, the same commands." if baseline else "no earlier commit run.")
        + "  Every command runs once per round, in a rotating order; figures are medians over "
        "the rounds, ratios the median over rounds of the two commands' walls in that round.",
        "",
        "| target: wall time, median of per-round ratios (CPU time) | limit | "
        + " | ".join(f"{r.sockets:,} sockets" for r in measured)
        + " |",
        "|---|---:|" + "---:|" * len(measured),
    ]
    for top, bottom, limit in TARGETS:
        cells = []
        for result in measured:
            cells.append(_ratio_cell(result, top, bottom))
        lines.append(f"| `{top}` ÷ `{bottom}` | ≤ {limit}x | " + " | ".join(cells) + " |")
    if baseline:
        for top, _, _ in TARGETS:
            cells = []
            for result in measured:
                cells.append(_ratio_cell(result, top, f"{top} (before)"))
            lines.append(f"| `{top}` ÷ the same before | | " + " | ".join(cells) + " |")
    lines.append("")
    for result in results:
        if result.note:
            lines += [f"### {result.sockets:,} sockets: {result.note}", ""]
            continue
        lines += [
            f"### {result.sockets:,} sockets held ({result.rows:,} TCP rows), "
            f"{result.rounds} rounds; load average {result.load_before} at the start, "
            f"{result.load_after} at the end",
            "",
            "| command | median ms | min ms | median CPU ms |",
            "|---|---:|---:|---:|",
        ]
        for name, walls in result.walls.items():
            if walls:
                cpu = statistics.median(result.cpus[name])
                lines.append(
                    f"| `{name}` | {statistics.median(walls):.1f} | {min(walls):.1f} | {cpu:.1f} |"
                )
        lines.append("")
    return lines


def measure_held(sockets: int, rows: int, rounds: int, baseline: list[str] | None) -> SizeResult:
    """Measure with the sockets already held (benchmarks/run.py holds them)."""
    if shutil.which("ss") is None:
        return SizeResult(sockets, rows, note="not measured: ss is not installed")
    try:
        return measure(commands(baseline), rounds, sockets, rows)
    except RuntimeError as error:
        return SizeResult(sockets, rows, note=f"failed: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000,50000")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--baseline", metavar="REF", help="also run the command of this commit")
    parser.add_argument("--out", help="write the markdown section to this file")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("this benchmark runs on Linux", file=sys.stderr)
        return 2
    holders.raise_fd_limit()
    baseline = baseline_command(args.baseline) if args.baseline else None
    _, how = this_command()
    results = []
    for sockets in (int(size) for size in args.sizes.split(",")):
        with holders.PairHolders(sockets) as held:
            rows = len(tcptable.snapshot(pids=False))
            print(f"{sockets} sockets held ({held.pairs} pairs), {rows} rows", flush=True)
            results.append(measure_held(sockets, rows, args.rounds, baseline))
    text = "\n".join(report(results, how, args.baseline)) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    return 1 if any(r.note.startswith("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
