"""The benchmark grid sequential vs parallel local workers, on the demo suite (reduced by default).

Runs ``oltr benchmark`` twice on the same grid in fresh run directories: sequential (``--jobs 1``, one
process with ``--threads-per-run 2``, what ``make demo`` used to do) and ``--jobs 2`` (two worker
processes, one thread each, the new ``make demo`` default); prints the wall-time ratio and whether
the leaderboard tables (md, csv, tex) are byte-identical. When they differ it runs the sequential
grid once more with one thread, to tell a thread-count effect from a scheduler bug. The machine's
load average is printed beside the figures: on a shared machine they are noisy.

    python benchmarks/grid.py [--losses ce,cfl] [--seeds 0] [--jobs 2] [--set epochs=2 ...]
                              [--out results/benchmarks/grid.md]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402

TABLES = ("leaderboard.md", "leaderboard.csv", "leaderboard.tex")


def run_grid(work: Path, label: str, args: argparse.Namespace, grid_flags: list[str]) -> float:
    cmd = [sys.executable, "-m", "oltr", "benchmark", "--suite", args.suite, "--losses", args.losses,
           "--seeds", args.seeds, "--out", str(work / label / "results"), "--runs-dir", str(work / label / "runs"),
           "--no-plots", *grid_flags]
    for item in args.overrides:
        cmd += ["--set", item]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    print(f"[{label}] {shlex.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    with (work / f"{label}.log").open("w") as log:
        subprocess.run(cmd, check=True, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    print(f"[{label}] {seconds:.1f} s", flush=True)
    return seconds


def same_tables(work: Path, a: str, b: str) -> bool:
    return all((work / a / "results" / t).read_bytes() == (work / b / "results" / t).read_bytes() for t in TABLES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="fashion_mnist_lt")
    parser.add_argument("--losses", default="ce,cfl")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default=str(REPO / "results/benchmarks/grid.md"))
    parser.add_argument("--keep", action="store_true", help="keep the run directories (printed)")
    parser.add_argument("--no-thread-check", action="store_true",
                        help="when the tables differ, do not run the sequential grid a third time at one thread per "
                             "run (the check that the difference is the thread count's, not the scheduler's)")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    # The data set is prepared once, before any timing (the demo configs prepare it on first use).
    subprocess.run([sys.executable, "-m", "oltr", "data", "prepare", "fashion_mnist_lt"], check=True, cwd=REPO,
                   env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.DEVNULL)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="oltr-grid-bench-"))
    seq = run_grid(work, "sequential", args, ["--jobs", "1", "--threads-per-run", str(cores)])
    par = run_grid(work, f"jobs{args.jobs}", args, ["--jobs", str(args.jobs)])
    identical = same_tables(work, "sequential", f"jobs{args.jobs}")
    rows = [(f"sequential (1 process, {cores} threads)", seq), (f"--jobs {args.jobs} ({max(1, cores // args.jobs)} "
                                                               f"thread(s) per run)", par)]
    like = None
    if not identical and not args.no_thread_check:
        seq1 = run_grid(work, "sequential_1thread", args, ["--jobs", "1", "--threads-per-run",
                                                            str(max(1, cores // args.jobs))])
        like = same_tables(work, "sequential_1thread", f"jobs{args.jobs}")
        rows.append((f"sequential (1 process, {max(1, cores // args.jobs)} thread(s))", seq1))
    load_after = os.getloadavg()[0]

    from oltr.benchmark import load_suite

    n_runs = len(load_suite(args.suite).methods) * len(args.losses.split(",")) * len(args.seeds.split(","))
    lines = [
        "# Benchmark grid: sequential vs parallel local workers",
        "",
        f"`python benchmarks/grid.py {shlex.join(sys.argv[1:])}`".replace("`python benchmarks/grid.py `",
                                                                         "`python benchmarks/grid.py`"),
        "",
        f"Suite `{args.suite}`, losses {args.losses}, seeds {args.seeds}, both stages and every method of the "
        f"suite ({n_runs} runs + their test evaluations){', overrides ' + ' '.join(args.overrides) if args.overrides else ''}; `oltr benchmark "
        "--no-plots`, wall time of the whole command, data prepared beforehand.",
        "",
        f"- machine: {cpu_name()}, {cores} cores; load average {load_before:.2f} before, {load_after:.2f} after"
        + (" (others were using the machine: figures are noisy)" if load_before > 0.5 * cores else ""),
        "",
        "| setting | wall s | speed-up vs sequential |",
        "|---|---|---|",
        *[f"| {name} | {s:.1f} | {seq / s:.2f}x |" for name, s in rows],
        "",
        f"Leaderboard tables (md, csv, tex) of `--jobs {args.jobs}` and the sequential grid: "
        + ("**byte-identical**." if identical else "**differ**."),
    ]
    if not identical and like is None:
        lines.append("The thread-count check (a third, sequential grid at one thread per run) was skipped "
                     "(`--no-thread-check`).")
    if like is not None:
        lines.append(f"With the same threads per run ({max(1, cores // args.jobs)}) sequentially: "
                     + ("byte-identical, so the difference comes from the thread count (CPU kernels reduce in "
                        "another order with another number of threads), not from the scheduler."
                        if like else "**still different**: a scheduler bug."))
        lines.append(f"`--jobs {args.jobs}` against that sequential grid (same settings per run"
                     + (", identical tables" if like else "") + f"): **{rows[-1][1] / par:.2f}x**; "
                     f"against the sequential grid at {cores} threads: **{seq / par:.2f}x**.")
    lines.append("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    if args.keep:
        print(f"run directories kept in {work}")
    else:
        import shutil

        shutil.rmtree(work)
    return 0 if identical or like or args.no_thread_check else 1


if __name__ == "__main__":
    sys.exit(main())
