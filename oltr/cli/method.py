"""`oltr method`: apply a stage-2 method (cRT, tau-norm, LWS, NCM, logit adjustment) to a finished stage-1 run."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from oltr.methods import METHODS

    p = sub.add_parser("method", help="apply cRT / tau-norm / LWS / NCM / logit adjustment to a stage-1 run",
                       description="Reads the stage-1 run's cached features (exported once: features_<split>.npz), "
                       "writes an ordinary run directory (config.yaml, method.json, logits_<split>.npz, "
                       "eval_<split>.json) that `oltr eval --from-logits` and `oltr leaderboard` read.")
    p.add_argument("--name", required=True, choices=METHODS.names(), help="method")
    p.add_argument("--from", dest="source", required=True, help="finished stage-1 run directory")
    p.add_argument("--output", help="run directory to write (default: <stage-1 folder>/<method>_<loss>_seed<seed>)")
    p.add_argument("--set", dest="params", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="method parameters, values parsed as YAML (e.g. taus=[0,0.5,1] epochs=10 norm=l2)")
    p.add_argument("--rule", choices=["strict", "oltr"], help="shot-group rule (default: the run's eval_rule)")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.set_defaults(func=run)


def parse_params(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    from oltr.methods import FeaturesError, MethodRunDirError, MethodSourceError, apply_method

    try:
        out = apply_method(args.name, args.source, args.output, rule=args.rule, device=args.device,
                           **parse_params(args.params))
    except (FeaturesError, MethodRunDirError, MethodSourceError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f"oltr method: {e}") from None
    import json

    result = json.loads((out / "eval_test.json").read_text())
    info = json.loads((out / "method.json").read_text())
    chosen = f" (chosen on val: {info['selected']})" if "selected" in info else ""
    overall = result["closed_set"]["overall"]
    print(f"{args.name} on {args.source}{chosen}: test overall {100 * overall:.2f} -> {out}")
    return 0
