"""tcptable's benchmark suite: poll cost at several table sizes, side by side in one run, against
the bare C netlink floors and the peers (`ss`, psutil).

    python benchmarks/run.py [--quick] [--sizes 1000,5000,20000,50000] [--out docs]
                             [--summary docs/project/performance.md]
    python -m benchmarks ...                    (the same, from the repository root)

For each size N, child processes hold N loopback sockets (N/2 established pairs, a share of them
IPv6) and this process times every measurement (median and min), then the churn scenario (5% of
the pairs replaced between polls) and the fd-mix scenario (processes holding many non-socket
fds beside the sockets); then a UDP poll beside a TCP poll of the same size, per row
(bench_udp.py, --udp-sockets).  Writes benchmarks.md, benchmarks.png (cost per row) and
benchmarks-peers.png (one poll against `ss` and psutil) to --out, and with --summary the
targets and the plots between the benchmark markers of that page.  Exits 1 if a measurement
failed, never on a slow figure; a tool, keyword or OS feature missing here is reported as not
measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Run as a script (python benchmarks/run.py) or through __main__: the sibling modules are
# imported by name from this directory, and tcptable from wherever it is installed.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_cli
import bench_netns
import bench_udp
import holders
import measures
import psutil_peer
import report

import tcptable

# The psutil drop-in beside psutil, on the same tables.
measures.MEASURES += psutil_peer.MEASURES

SUMMARY_BEGIN = (
    "<!-- benchmarks: begin (python benchmarks/run.py --summary docs/project/performance.md) -->"
)
SUMMARY_END = "<!-- benchmarks: end -->"
PEERS_PNG = "benchmarks-peers.png"
CAVEAT = (
    "On a shared machine other work may run beside the suite, so single figures are noisy; "
    "the minimums show what the code costs on a quiet machine, the medians what a poller "
    "met in practice.  Timings under Wine say nothing about Windows."
)


def load_average() -> str:
    """The 1-minute load average, or why there is none (Windows has no getloadavg)."""
    getloadavg = getattr(os, "getloadavg", None)
    return f"{getloadavg()[0]:.2f}" if getloadavg is not None else "unknown"


def measure_size(
    sockets: int,
    iterations: int,
    budget: float,
    floor: measures.Floor | measures.NotMeasured,
    fdmix: tuple[int, int],
    cli: tuple[int, list[str] | None, list[bench_cli.SizeResult]],
) -> report.SizeRun:
    run = report.SizeRun(sockets)
    try:
        held = holders.PairHolders(sockets).__enter__()
    except (OSError, RuntimeError) as error:
        run.note = f"could not hold them ({error})"
        return run
    try:
        run.rows = len(tcptable.snapshot(pids=False))
        setting = measures.Setting(sockets, iterations, budget, held.replace, floor)
        print(f"{sockets:>6} sockets held, {run.rows} rows in the table", flush=True)
        tables = [m for m in measures.MEASURES if m.scenario == "table"]
        for measure in tables:
            run.results.append(show(measures.run_measure(measure, setting)))
        mixed = [m for m in measures.MEASURES if m.scenario == "fdmix"]
        try:
            with holders.FdMix(*fdmix):
                for measure in mixed:
                    run.results.append(show(measures.run_measure(measure, setting)))
        except NotImplementedError as reason:
            run.results += [
                measures.Result(m.key, m.label, note=f"not measured: {reason}") for m in mixed
            ]
        except RuntimeError as error:
            run.results += [
                measures.Result(m.key, m.label, note=f"failed: {error}", failed=True) for m in mixed
            ]
        closing = [m for m in measures.MEASURES if m.scenario == "closes"]
        if closing:
            try:
                with holders.CloseChurn(measures.CLOSE_RATE):
                    for measure in closing:
                        run.results.append(show(measures.run_measure(measure, setting)))
            except RuntimeError as error:
                run.results += [
                    measures.Result(m.key, m.label, note=f"failed: {error}", failed=True)
                    for m in closing
                ]
        rounds, baseline, commands = cli
        if rounds > 0:  # the command beside ss, whole processes (benchmarks/bench_cli.py)
            commands.append(bench_cli.measure_held(sockets, run.rows, rounds, baseline))
            bench_cli.show(commands[-1])
    finally:
        held.__exit__()
    return run


def show(result: measures.Result) -> measures.Result:
    def ratio(value: float | None) -> str:
        return f"{value:6.2f}x" if value else "      -"

    figures = (
        f"{result.median_ms:9.2f} {result.min_ms:9.2f} {result.cpu_ms or 0:9.2f} "
        f"{ratio(result.cpu_floor_ratio)} {ratio(result.floor_ratio)}"
        if result.median_ms is not None and result.min_ms is not None
        else result.note
    )
    print(f"   {result.label.replace('`', ''):<62} {figures}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small tables, few iterations")
    parser.add_argument("--sizes", help="comma-separated socket counts (default 1k,5k,20k,50k)")
    parser.add_argument("--iterations", type=int, help="timed calls per fast measurement")
    parser.add_argument("--out", default="docs", help="directory for benchmarks.md / .png")
    parser.add_argument(
        "--summary",
        metavar="FILE",
        help="a Markdown file whose section between the benchmark markers to rewrite",
    )
    parser.add_argument("--only", help="comma-separated measurement keys (default: all)")
    parser.add_argument(
        "--cli-rounds", type=int, help="rounds of the command beside ss (0: skip; default 11)"
    )
    parser.add_argument(
        "--cli-baseline", metavar="REF", help="also run the command of this commit (e.g. main)"
    )
    parser.add_argument(
        "--netns",
        action="store_true",
        help="also time every network namespace in one poll (Linux, root: bench_netns.py)",
    )
    parser.add_argument(
        "--netns-baseline",
        metavar="PYTHON",
        help="with --netns: a Python with the tcptable from before namespaces, for the "
        "namespaces=None comparison",
    )
    parser.add_argument(
        "--udp-sockets",
        type=int,
        help="UDP (and as many TCP) sockets for the UDP-beside-TCP poll (0: skip; default 10000)",
    )
    args = parser.parse_args(argv)

    sizes = [400] if args.quick else [1000, 5000, 20000, 50000]
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    iterations = args.iterations or (3 if args.quick else 20)
    budget = 1.0 if args.quick else 5.0
    fdmix = (10, 20) if args.quick else (200, 200)
    hard = holders.raise_fd_limit()[1]
    limits = (
        f"File limit: {hard} fds per process (soft limit raised to it); sockets held by "
        f"{holders.pairs_per_holder()} pairs per child process.  fd mix: {fdmix[0]} processes "
        f"x {fdmix[1]} non-socket fds."
    )
    if args.only:
        keys = set(args.only.split(","))
        unknown = keys - {m.key for m in measures.MEASURES}
        if unknown:
            parser.error(f"--only: unknown keys {sorted(unknown)}")
        measures.MEASURES[:] = [m for m in measures.MEASURES if m.key in keys]
    try:
        floor: measures.Floor | measures.NotMeasured = measures.Floor()
    except measures.NotMeasured as reason:
        floor = reason
    print(report.machine(), flush=True)
    print(
        f"   {'what':<62} {'median ms':>9} {'min ms':>9} {'CPU ms':>9} {'CPU/floor':>7} "
        f"{'wall/floor':>7}",
        flush=True,
    )
    cli_rounds = args.cli_rounds if args.cli_rounds is not None else (2 if args.quick else 11)
    cli_baseline = bench_cli.baseline_command(args.cli_baseline) if args.cli_baseline else None
    cli_results: list[bench_cli.SizeResult] = []
    cli = (cli_rounds, cli_baseline, cli_results)
    started, load_before = time.monotonic(), load_average()
    runs = [measure_size(size, iterations, budget, floor, fdmix, cli) for size in sizes]
    udp_sockets = (
        args.udp_sockets if args.udp_sockets is not None else (400 if args.quick else 10000)
    )
    udp_rounds = 5 if args.quick else 31
    udp_runs = []
    if udp_sockets > 0:  # benchmarks/bench_udp.py: a UDP poll beside a TCP poll, per row
        udp_runs.append(bench_udp.measure(udp_sockets, udp_rounds))
        bench_udp.show(udp_runs[-1])
    elapsed, load_after = time.monotonic() - started, load_average()

    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "benchmarks.png")
    plot_problem = report.plot(runs, png)
    peers_png = os.path.join(args.out, PEERS_PNG)
    peers_problem = report.peers_plot(runs, peers_png)
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    held = ", ".join(f"{run.sockets:,}" for run in runs if not run.note) or "none"
    header = report.header(
        command,
        f"{limits}  Sizes held: {held}.  Suite runtime {elapsed:.0f} s.",
        f"Load average (1 min): {load_before} at the start, {load_after} at the end.  {CAVEAT}",
    )
    if plot_problem:
        header += ["", f"No plot: {plot_problem}."]
    text = report.markdown(
        runs,
        header,
        None if plot_problem else "benchmarks.png",
        None if peers_problem else PEERS_PNG,
    )
    if cli_results:
        _, how = bench_cli.this_command()
        text += "\n\n" + "\n".join(bench_cli.report(cli_results, how, args.cli_baseline))
    if args.netns:
        netns = argparse.Namespace(
            namespaces=5 if args.quick else 50,
            sockets=50 if args.quick else 200,
            rounds=3 if args.quick else 20,
            baseline=args.netns_baseline,
            child_ehash=1024,
        )
        section = bench_netns.report(netns)
        print("\n".join(section), flush=True)
        text += "\n\n## Every network namespace in one poll (`benchmarks/bench_netns.py`)\n\n"
        text += "\n".join(section).rstrip()
    if udp_runs:
        text += "\n\n" + "\n".join(bench_udp.report(udp_runs, udp_rounds))
    markdown_path = os.path.join(args.out, "benchmarks.md")
    with open(markdown_path, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    drawn = [
        path for path, problem in ((png, plot_problem), (peers_png, peers_problem)) if not problem
    ]
    print(f"wrote {', '.join([markdown_path, *drawn])}")
    if args.summary:
        summary = [*header, ""]
        relative = os.path.relpath(args.out, os.path.dirname(os.path.abspath(args.summary)))
        if not peers_problem:
            summary += [f"![{report.PEERS_TITLE}]({relative}/{PEERS_PNG})", ""]
        summary += report.targets_table(runs)
        if not plot_problem:
            summary += ["", f"![cost per row against table size]({relative}/benchmarks.png)"]
        summary += ["", f"Every figure: [{relative}/benchmarks.md]({relative}/benchmarks.md)."]
        report.replace_section(args.summary, SUMMARY_BEGIN, SUMMARY_END, "\n".join(summary))

    failed = [r for run in runs for r in run.results if r.failed]
    for result in failed:
        print(f"FAILED: {result.label}: {result.note}", file=sys.stderr)
    failed_cli = [r for r in cli_results if r.note.startswith("failed")]
    for cli_result in failed_cli:
        print(
            f"FAILED: the command at {cli_result.sockets} sockets: {cli_result.note}",
            file=sys.stderr,
        )
    failed_udp = [run for run in udp_runs if run.note.startswith("could not")]
    for udp_run in failed_udp:
        print(f"FAILED: the UDP-beside-TCP poll: {udp_run.note}", file=sys.stderr)
    return 1 if failed or failed_cli or failed_udp else 0


if __name__ == "__main__":
    sys.exit(main())
