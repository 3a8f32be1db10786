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
    p.add_argument("--save-features", action="store_true",
                   help="first write features_train.npz and features_<split>.npz (with open_features under "
                   "--open): the feature model's output with labels, read by the knn / mahalanobis scores and "
                   "by `oltr method`")
    p.add_argument("--score", default="msp", help="open-set score: msp (default), temp_msp, max_logit, energy, knn, "
                   "mahalanobis (knn/mahalanobis read features_<split>.npz and features_train.npz)")
    p.add_argument("--score-param", action="append", default=[], metavar="KEY=VALUE",
                   help="score parameter, e.g. temperature=2 or k=50 (repeatable)")
    p.add_argument("--threshold-from", choices=["val"], help="choose the threshold on the validation known "
                   "samples: the one accepting --tpr of them (the test open set is not used)")
    p.add_argument("--tpr", type=float, default=0.95, help="with --threshold-from: known acceptance rate (0.95)")
    p.add_argument("--sweep", action="store_true", help="write sweep_<split>_<score>.csv/.png (metrics against "
                   "the threshold) and reliability_<split>.png")
    p.add_argument("--device", choices=["cpu", "cuda"])
    add_progress_option(p)
    p.set_defaults(func=run)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _score_params(items: list[str]) -> dict:
    import yaml

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--score-param {item!r}: expected KEY=VALUE, e.g. temperature=2")
        params[key] = yaml.safe_load(value)
    return params


def run(args: argparse.Namespace) -> int:
    from oltr.engine import evaluate_run

    try:
        params = _score_params(args.score_param)
        if args.save_features:  # before evaluate_run: the feature-based scores read these files
            from oltr.methods import export_features

            saved = export_features(args.run, ["train", args.split, *(["open"] if args.open else [])],
                                    progress=progress_enabled(args.progress), device=args.device)
        result = evaluate_run(args.run, split=args.split, open_set=args.open, threshold=args.threshold,
                              rule=args.rule, from_logits=args.from_logits, fp_rule=args.fp_rule,
                              progress=progress_enabled(args.progress), device=args.device, score=args.score,
                              score_params=params, threshold_from=args.threshold_from, tpr=args.tpr,
                              sweep=args.sweep)
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
        print(f"  open-set (threshold {result['threshold']:.6g} on {result['threshold_selection']['score']}, "
              f"chosen: {result['threshold_selection']['method']}, fp_rule {result['fp_rule']}): "
              f"many {_fmt(o['many'])} medium {_fmt(o['medium'])} few {_fmt(o['few'])} F-measure {f_measure}")
        ood = [k for k in ("auroc", "aupr_in", "aupr_out", "fpr95", "oscr") if o.get(k) is not None]
        print(f"  score {result['score']['name']}: " + " ".join(f"{k} {o[k]:.4f}" for k in ood))
        if result.get("sweep"):
            print(f"  -> {args.run}/{result['sweep']}")
    print(f"  -> {args.run}/eval_{args.split}.json")
    if args.save_features:
        print("  features -> " + ", ".join(str(p) for p in saved.values()))
    return 0
