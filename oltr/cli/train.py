"""`oltr train`: one training stage from a YAML config (see configs/README.md).

Examples:
    oltr train --config configs/FashionMNIST_LT/stage_1.yaml --set loss.name=focal loss.gamma=2 --seed 1
    torchrun --nproc_per_node 2 -m oltr train --config configs/ImageNet_LT/stage_1.yaml --amp bf16
"""

from __future__ import annotations

import argparse

from oltr.cli._progress import add_progress_option, progress_enabled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one stage (stage 1 or stage 2) from a config",
                       description="Train one stage from a YAML config; writes a run directory "
                       "(config.yaml, metrics.jsonl, last.pt, best.pt, train.log).")
    p.add_argument("--config", required=True, help="YAML config (configs/<Dataset>/stage_*.yaml)")
    # extend (not store): `--set a=1 --set b=2` keeps both, as the benchmark runner passes them.
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="dotted overrides, e.g. loss.gamma_hc=3 optim.lr_features=0.05 (repeatable)")
    p.add_argument("--seed", type=int, help="shortcut for --set seed=N")
    p.add_argument("--output", help="run directory (default runs/<dataset>/<name>_<loss>_seed<seed>)")
    p.add_argument("--resume", action="store_true",
                   help="continue a partial run from last.pt (a finished run returns at once)")
    p.add_argument("--amp", choices=["bf16", "fp16"], help="mixed precision (fp16: CUDA + GradScaler)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the training task")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    add_progress_option(p)
    p.set_defaults(func=run)


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    """``--set`` plus the shortcut flags, as KEY=VALUE strings (flags win)."""
    out = list(args.overrides)
    if args.seed is not None:
        out.append(f"seed={args.seed}")
    if getattr(args, "amp", None):
        out.append(f"amp={args.amp}")
    if getattr(args, "channels_last", False):
        out.append("channels_last=true")
    if getattr(args, "compile", False):
        out.append("compile=true")
    return out


def run(args: argparse.Namespace) -> int:
    from oltr.config import ConfigError, load_config
    from oltr.data import ImageLoadError, ListFormatError
    from oltr.engine import NonFiniteLossError, RunDirError, StageHandoffError, train
    from oltr.models import WeightLoadError

    try:
        cfg = load_config(args.config, overrides_from_args(args))
        run_dir = train(cfg, args.output, resume=args.resume, progress=progress_enabled(args.progress), device=args.device)
    # bad input data (missing list or image, malformed list line, weights that do not fit): the message
    # names the file, line or keys; a traceback would only hide it
    except (ConfigError, RunDirError, StageHandoffError, NonFiniteLossError, FileNotFoundError, ListFormatError,
            ImageLoadError, WeightLoadError) as e:
        raise SystemExit(f"oltr train: {e}") from None
    print(run_dir)
    return 0
