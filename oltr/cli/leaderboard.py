"""`oltr leaderboard`: evaluated runs -> one table (seeds aggregated) beside published rows, plus plots."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from oltr.evaluation.shots import RULES

FORMAT_BY_SUFFIX = {".md": "md", ".tex": "latex", ".csv": "csv", ".html": "html", ".htm": "html"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="aggregate evaluated runs into a table (Markdown, LaTeX, CSV, HTML) with published rows and plots",
        description=(
            "One row per (dataset, stage, loss) and config: seeds are aggregated (mean +- std) only over runs whose "
            "resolved configs are equal apart from the seed; other configs get rows labelled by the keys that "
            "differ. Unfinished runs are left out unless --include-unfinished. Reads eval_test.json of each run "
            "(run `oltr eval` first) and re-scores from logits_test.npz when --rule differs from the stored rule. "
            "With --out, PNG plots are written beside the table."
        ),
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories, or folders searched recursively")
    p.add_argument("--format", choices=("md", "latex", "csv", "html"), default=None,
                   help="output format (default: from the --out suffix, else md)")
    p.add_argument("--out", type=Path, default=None, help="write the table to this file (default: print it)")
    p.add_argument("--rule", choices=sorted(RULES), default="strict",
                   help="shot-group rule: strict (>100 / <20, default) or oltr (>=100 / <=20)")
    p.add_argument("--no-published", action="store_true", help="leave out the published rows")
    p.add_argument("--columns", default=None, help="comma-separated column keys or sets (default: the papers' "
                   "table; sets: default, ood, rejection, calibration, priors; keys e.g. open_fpr95,open_oscr)")
    p.add_argument("--no-significance", action="store_true", help="do not mark the best row and its significance")
    p.add_argument("--no-plots", action="store_true", help="with --out, do not write the PNG plots")
    p.add_argument("--include-unfinished", action="store_true",
                   help="also aggregate runs scored before their training finished (left out by default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from oltr.reporting import collect_runs, leaderboard_table, render, write_plots

    fmt = args.format or (FORMAT_BY_SUFFIX.get(args.out.suffix.lower(), "md") if args.out else "md")
    try:
        with warnings.catch_warnings(record=True) as caught:  # one line each, not Python's two-line format
            warnings.simplefilter("always")
            runs = collect_runs(args.run_dirs, rule=args.rule, include_unfinished=args.include_unfinished)
    except FileNotFoundError as err:
        print(f"oltr leaderboard: {err}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"oltr leaderboard: warning: {w.message}", file=sys.stderr)
    try:
        table = leaderboard_table(runs, published=not args.no_published, columns=args.columns,
                                  significance=not args.no_significance)
    except ValueError as err:
        print(f"oltr leaderboard: {err}", file=sys.stderr)
        return 2
    text = render(table, fmt)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    if not args.no_plots:
        try:
            plots = write_plots(runs, args.out.parent, prefix=f"{args.out.stem}_")
        except ImportError as err:
            print(f"oltr leaderboard: plots skipped ({err})", file=sys.stderr)
        else:
            for path in plots.values():
                print(f"wrote {path}", file=sys.stderr)
    return 0
