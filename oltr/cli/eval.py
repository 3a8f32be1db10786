"""`oltr eval`: score a run's best checkpoint on val/test (closed- and open-set), keep the logits."""

from __future__ import annotations

import argparse

from oltr.cli._progress import add_progress_option, progress_enabled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run's best.pt on a split",
                       description="Compute logits once (saved as logits_<split>.npz), then the metrics "
                       "(eval_<split>.json). --from-logits re-scores the saved logits without the model.")
    # --run-dir: the same option under torchrun, whose own parser would take --run for its --run-path
    p.add_argument("--run", "--run-dir", dest="run", required=True, help="run directory written by `oltr train`")
    p.add_argument("--split", choices=["val", "test"], default="test")
    p.add_argument("--open", action="store_true", help="open-set evaluation (needs the open list)")
    p.add_argument("--threshold", type=float, help="open-set threshold (default: the run's open_threshold)")
    p.add_argument("--rule", choices=["strict", "oltr"], help="shot-group rule (default: the run's eval_rule)")
    p.add_argument("--fp-rule", choices=["oltr", "oltr2019"],
                   help="open-set false-positive rule (default: the run's fp_rule)")
    p.add_argument("--from-logits", action="store_true", help="re-score logits_<split>.npz")
    p.add_argument("--device", choices=["cpu", "cuda"])
    add_progress_option(p)
    p.set_defaults(func=run)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def run(args: argparse.Namespace) -> int:
    from oltr.engine import evaluate_run

    try:
        result = evaluate_run(args.run, split=args.split, open_set=args.open, threshold=args.threshold,
                              rule=args.rule, from_logits=args.from_logits, fp_rule=args.fp_rule,
                              progress=progress_enabled(args.progress), device=args.device)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"oltr eval: {e}") from None
    c = result["closed_set"]
    if not result.get("complete", True):
        print(f"{args.run}: UNFINISHED run ({result['epochs_done']} of {result['epochs']} epochs): best.pt so far "
              "is scored; leaderboards leave it out unless --include-unfinished")
    print(f"{args.run} [{args.split}, rule {result['rule']}] closed-set: overall {_fmt(c['overall'])} "
          f"many {_fmt(c['many'])} medium {_fmt(c['medium'])} few {_fmt(c['few'])}")
    o = result["open_set"]
    if o is not None:  # as the leaderboard shows them: accuracies in %, F-measure in [0, 1]
        f_measure = "n/a" if o.get("f_measure") is None else f"{o['f_measure']:.3f}"
        print(f"  open-set (threshold {result['threshold']}, fp_rule {result['fp_rule']}): many {_fmt(o['many'])} "
              f"medium {_fmt(o['medium'])} few {_fmt(o['few'])} F-measure {f_measure}")
    print(f"  -> {args.run}/eval_{args.split}.json")
    return 0
