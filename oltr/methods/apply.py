"""Apply a registered method to a finished stage-1 run and write an ordinary run directory.

``apply_method(name, stage1_dir, output_dir, **params)``:

1. checks the stage-1 run (finished, stage 1, a dot-product classifier) -> :class:`MethodSourceError`;
2. exports (once, reused by every method) the stage-1 features of train / val / test / open;
3. runs the method (see :mod:`oltr.methods.library`) -> validation, test and open-set logits;
4. writes ``output_dir``: ``config.yaml`` (the stage-1 config, ``name`` = the method), ``method.json``
   (method, parameters, the stage-1 run and its config hash, chosen tau / training history),
   ``logits_val.npz`` / ``logits_test.npz`` (with ``open_logits``), ``eval_val.json`` /
   ``eval_test.json`` (scored by :func:`oltr.engine.evaluate_run` with ``from_logits=True``) and
   ``complete.json``, so ``oltr eval --from-logits`` and ``oltr leaderboard`` treat it like any run.

An existing output directory is reused only if it holds the same method, parameters and stage-1 run.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oltr.config import config_hash, dump_config, load_config
from oltr.data import class_counts, read_list, sha256_file
from oltr.engine import evaluate_run
from oltr.engine.build import list_path
from oltr.engine.checkpoint import COMPLETE, is_complete, load_checkpoint, write_json_atomic
from oltr.engine.logits import save_logits
from oltr.engine.run import holds_user_files
from oltr.methods.features import FEATURE_SPLITS, export_features, load_features
from oltr.methods.registry import METHODS, method_label

METHOD_FILE = "method.json"


class MethodSourceError(RuntimeError):
    """The stage-1 run a method starts from is missing, unfinished or not a stage-1 run."""


class MethodRunDirError(RuntimeError):
    """The output directory holds something else than this method's run."""


@dataclass
class MethodOutput:
    """What a method returns: logits per split (``val``, ``test``, ``open``) and what to record."""

    logits: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)
    state: dict[str, torch.Tensor] | None = None  # trained classifier, saved as classifier.pt


@dataclass
class MethodContext:
    """The stage-1 run a method works on: its config, classifier, training counts and cached features."""

    stage1_dir: Path
    cfg: Any  # RunConfig of the stage-1 run
    weight: torch.Tensor  # (K, D) stage-1 classifier weight
    bias: torch.Tensor | None  # (K,)
    train_counts: np.ndarray
    splits: tuple[str, ...]  # feature splits available (train, val, test[, open])

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    @property
    def seed(self) -> int:
        return int(self.cfg.seed) if self.cfg is not None else 0

    @classmethod
    def from_arrays(cls, weight: torch.Tensor, bias: torch.Tensor | None, train_counts: np.ndarray,
                    features: dict[str, tuple[np.ndarray, np.ndarray]], cfg: Any = None) -> "MethodContext":
        """A context over in-memory features (tests, benchmarks); ``cfg`` is needed by cRT / LWS only."""
        ctx = cls(Path("<memory>"), cfg, weight, bias, np.asarray(train_counts), tuple(features))
        ctx.__dict__["_features"] = dict(features)  # fills the cached property
        return ctx

    @cached_property
    def _features(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {s: load_features(self.stage1_dir, s) for s in self.splits}

    @cached_property
    def _raw(self) -> dict[str, torch.Tensor]:
        return {}

    def raw_logits(self, split: str) -> torch.Tensor:
        """``features @ W.T`` of the stage-1 classifier, without bias (computed once per split and shared
        by tau-norm and logit adjustment: re-scaling rows of ``W`` only re-scales columns of this)."""
        if split not in self._raw:
            x = torch.as_tensor(self.features(split)).to(self.weight.dtype)
            self._raw[split] = x @ self.weight.T
        return self._raw[split]

    def features(self, split: str) -> np.ndarray:
        return self._features[split][0]

    def labels(self, split: str) -> np.ndarray:
        return self._features[split][1]

    @property
    def eval_splits(self) -> tuple[str, ...]:
        """Splits a method must return logits for: val, test and open when the dataset has one."""
        return tuple(s for s in ("val", "test", "open") if s in self.splits)

    def linear_logits(self, split: str, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                      use_bias: bool = True) -> np.ndarray:
        """``features @ W.T + b`` of ``split`` (the stage-1 classifier unless ``weight`` / ``bias`` given)."""
        w = self.weight if weight is None else weight
        b = (self.bias if bias is None else bias) if use_bias else None
        x = torch.as_tensor(self.features(split)).to(w.dtype)
        return torch.nn.functional.linear(x, w, b).numpy().astype(np.float32)


def _load_stage1(stage1_dir: Path) -> tuple[Any, dict]:
    if not (stage1_dir / "config.yaml").is_file():
        raise MethodSourceError(f"stage-1 run not found: {stage1_dir} (no config.yaml); train it with `oltr train` first")
    if (stage1_dir / METHOD_FILE).is_file():
        raise MethodSourceError(f"{stage1_dir} is itself a method run; give the stage-1 run it came from")
    if not is_complete(stage1_dir):
        raise MethodSourceError(f"stage-1 run {stage1_dir} is not finished (no complete.json / best.pt); "
                                "resume it with `oltr train --resume` first")
    cfg = load_config(stage1_dir / "config.yaml", check_loss=False)
    if cfg.stage != 1 or cfg.model.classifier != "dot":
        raise MethodSourceError(f"{stage1_dir} is a stage-{cfg.stage} run with a {cfg.model.classifier!r} classifier; "
                                "methods start from a stage-1 run (dot-product classifier)")
    ckpt = load_checkpoint(stage1_dir / "best.pt")
    return cfg, ckpt


def _record(name: str, params: dict, stage1_dir: Path, cfg, ckpt: dict) -> dict:
    return {"method": name, "label": method_label(name), "stage": 2, "params": params,
            "stage1": str(stage1_dir.resolve()), "stage1_config_hash": config_hash(cfg),
            "stage1_epoch": ckpt.get("epoch")}


def _check_output(out: Path, record: dict) -> bool:
    """True when ``out`` already holds this exact finished method run; raises when it holds another."""
    if not out.exists():
        return False
    meta = out / METHOD_FILE
    if not meta.is_file():
        if holds_user_files(out):
            raise MethodRunDirError(f"{out} exists and is not a method run directory (no {METHOD_FILE}); "
                                    "choose another --output")
        return False
    old = json.loads(meta.read_text())
    keys = ("method", "params", "stage1", "stage1_config_hash", "stage1_epoch")
    diff = [f"{k}: {old.get(k)!r} -> {record[k]!r}" for k in keys if old.get(k) != record[k]]
    if diff:
        raise MethodRunDirError(f"{out} holds another method run ({'; '.join(diff)}); choose another --output "
                                "or remove it")
    return (out / "complete.json").is_file()


def default_method_dir(name: str, stage1_dir: str | os.PathLike) -> Path:
    """``<stage-1 run's folder>/<method>_<loss>_seed<seed>``, next to the stage-1 run."""
    stage1_dir = Path(stage1_dir)
    cfg = load_config(stage1_dir / "config.yaml", check_loss=False)
    return stage1_dir.resolve().parent / f"{name}_{cfg.loss.name}_seed{cfg.seed}"


def apply_method(name: str, stage1_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                 rule: str | None = None, progress: bool = False, device: str | None = None,
                 **params: Any) -> Path:
    """Run method ``name`` (a :data:`METHODS` entry) on the finished stage-1 run; return the run directory.

    Raises:
        ValueError: unknown method or parameter, empty tau grid.
        MethodSourceError: missing / unfinished / non-stage-1 source run.
        MethodRunDirError: ``output_dir`` holds another run.
        oltr.methods.FeaturesError: a features file is stale or missing after the export.
    """
    entry = METHODS.get(name)
    sig = inspect.signature(entry.builder)
    unknown = sorted(set(params) - set(list(sig.parameters)[1:]))
    if unknown:
        valid = ", ".join(list(sig.parameters)[1:]) or "none"
        raise ValueError(f"method {name!r} has no parameter(s) {unknown}; its parameters: {valid}")
    if "taus" in params and not list(params["taus"]):
        raise ValueError(f"method {name!r}: the tau grid is empty; give at least one value (e.g. taus=[0, 0.5, 1])")
    stage1_dir = Path(stage1_dir)
    cfg, ckpt = _load_stage1(stage1_dir)
    out = Path(output_dir) if output_dir is not None else default_method_dir(name, stage1_dir)
    resolved = {k: v.default for k, v in list(sig.parameters.items())[1:] if v.default is not inspect.Parameter.empty}
    resolved.update(params)
    resolved = json.loads(json.dumps(resolved, default=list))  # tuples -> lists, as method.json stores them
    record = _record(name, resolved, stage1_dir, cfg, ckpt)
    if _check_output(out, record):
        return out

    paths = export_features(stage1_dir, FEATURE_SPLITS, progress=progress, device=device)
    clf = ckpt["model"]["classifier"]
    ctx = MethodContext(stage1_dir, cfg, clf["fc.weight"].float(), clf.get("fc.bias"),
                        _train_counts(cfg), tuple(s for s in FEATURE_SPLITS if s in paths))
    result = entry.builder(ctx, **params)
    missing = set(ctx.eval_splits) - set(result.logits)
    if missing:  # a programming error in a method, not a user error
        raise RuntimeError(f"method {name!r} returned no logits for {sorted(missing)}")

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mcfg = _method_config(cfg, name)
    dump_config(mcfg, tmp / "config.yaml")

    open_sha = sha256_file(list_path(cfg, "open")) if "open" in result.logits else None
    for split in ("val", "test"):  # stamped like `oltr eval`'s, so --from-logits accepts them
        arrays = {"logits": result.logits[split], "labels": ctx.labels(split)}
        if "open" in result.logits:
            arrays["open_logits"] = result.logits["open"]
        save_logits(tmp / f"logits_{split}.npz", arrays, config_hash=config_hash(mcfg),
                    list_sha256=sha256_file(list_path(cfg, split)), open_list_sha256=open_sha)
    if result.state is not None:
        torch.save(result.state, tmp / "classifier.pt")
    (tmp / METHOD_FILE).write_text(json.dumps({**record, **result.info}, indent=2, default=_jsonable) + "\n")
    if out.exists():
        shutil.rmtree(out)  # an unfinished earlier attempt of this same method run (checked above)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    has_open = "open" in result.logits and list_path(cfg, "open").is_file()
    for split in ("val", "test"):
        evaluate_run(out, split=split, open_set=has_open, rule=rule, from_logits=True, progress=False)
    write_json_atomic({"method": name, "config_hash": record["stage1_config_hash"]}, out / COMPLETE)
    return out


def _train_counts(cfg) -> np.ndarray:
    _, labels = read_list(list_path(cfg, "train"), cfg.data.num_classes)
    return class_counts(labels, cfg.data.num_classes or int(labels.max()) + 1)


def _method_config(cfg, name: str):
    mcfg = copy.deepcopy(cfg)
    mcfg.name = name
    return mcfg


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    return str(value)
