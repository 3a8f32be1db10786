"""YAML -> :class:`RunConfig`: strict typing, dotted overrides, env expansion, a stable hash.

Rules (documented in ``configs/README.md``):

- every key must be a field of its section; unknown keys and wrong types raise :class:`ConfigError`
  naming the file (or the ``--set`` override), the dotted key and the valid keys;
- ``${VAR}`` / ``${VAR:-default}`` in string values expand from the environment;
- relative paths (``data.root``, ``data.lists``, ``data.open_root``, ``model.weights``,
  ``init_from``) resolve against the **current working directory** when the config is loaded, so the
  resolved ``config.yaml`` written into a run directory holds absolute paths;
- ``config_hash`` is the sha256 of the canonical resolved config without those machine-local paths
  (and without ``data.num_workers``), so the same experiment hashes the same on every machine.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import inspect
import json
import os
import re
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Union

import numpy as np
import yaml

from oltr import losses
from oltr.config.checks import check_schedule, check_values
from oltr.config.resolve import as_float_if_scientific, resolved_loss_params
from oltr.config.schema import REQUIRED_KEYS, LossConfig, RunConfig
from oltr.data.registry import DATASETS
from oltr.models import CLASSIFIERS, FEATURE_MODELS
from oltr.registry import Registry, check_choice

PATH_KEYS = ("data.root", "data.lists", "data.open_root", "model.weights", "init_from")
# fields that describe the machine, not the experiment: left out of the hash
HASH_EXCLUDE = PATH_KEYS + ("data.num_workers",)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: string keys whose value is a registry's key: checked when the config loads, listed in the reference
#: (``data.prepare`` and ``loss.name`` are checked with their parameters: validate_prepare, validate_loss)
REGISTRY_KEYS: dict[str, Registry] = {"model.name": FEATURE_MODELS, "model.classifier": CLASSIFIERS,
                                      "data.prepare": DATASETS}


class ConfigError(ValueError):
    """A config problem; the message names the source (file or ``--set``) and the dotted key."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source, self.key = source, key
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")


# ------------------------------------------------------------------------------------------ typing


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is Union:
        return " | ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    bad = ConfigError(source, key, f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if origin is Union:
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key, source)
            except ConfigError:
                pass
        raise bad
    if origin is Literal:
        for allowed in typing.get_args(tp):
            if value == allowed and type(value) is type(allowed):
                return value
        raise bad
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, key, source)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        value = as_float_if_scientific(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return _expand_env(value, key, source)
        raise bad
    if origin is list:
        if not isinstance(value, list):
            raise bad
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a schema bug, not a user error


def _expand_env(text: str, key: str, source: str) -> str:
    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        value = os.environ.get(name)
        # as in the shell: ${VAR:-default} also takes the default when VAR is set but empty
        if value is not None and (value or default is None):
            return value
        if default is not None:
            return default
        raise ConfigError(source, key, f"environment variable {name} is not set (write ${{{name}:-default}})")

    return _ENV.sub(sub, text)


def _unknown(source: str, prefix: str, key: str, valid: Iterable[str]) -> ConfigError:
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    dotted = f"{prefix}.{key}" if prefix else key
    where = f"section {prefix!r}" if prefix else "the top level"
    return ConfigError(source, dotted, f"unknown key{hint}; valid keys in {where}: {', '.join(valid)}")


def _build(cls: type, raw: dict, prefix: str, source: str) -> Any:
    if cls is LossConfig:  # ``name`` plus the loss's own free-form parameters
        params = {k: v for k, v in raw.items() if k != "name"}
        for k in params:
            if not isinstance(k, str):
                raise ConfigError(source, f"{prefix}.{k}", "loss parameter names must be strings")
        name = _coerce(raw.get("name", LossConfig.name), str, f"{prefix}.name", source)
        # the loss's own defaults are filled in: equal losses hash, hand off and aggregate as equal
        return LossConfig(name=name, params=resolved_loss_params(name, copy.deepcopy(params)))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in raw.items():
        if k not in fields:
            raise _unknown(source, prefix, str(k), fields)
        kwargs[k] = _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k, source)
    return cls(**kwargs)


# ------------------------------------------------------------------------------------- public API


def to_dict(cfg: RunConfig) -> dict:
    """Plain nested dict of ``cfg`` with the loss section flattened (the YAML layout)."""
    out = dataclasses.asdict(cfg)
    loss = out.pop("loss")
    out["loss"] = {"name": loss["name"], **loss["params"]}
    return out


def from_dict(raw: dict, source: str = "<dict>") -> RunConfig:
    """Build and validate a :class:`RunConfig` from a nested dict (YAML layout)."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "", f"expected a mapping at the top level, got {type(raw).__name__}")
    cfg = _build(RunConfig, raw, "", source)
    _check(cfg, source)
    return cfg


def _check_choice(source: str, key: str, value: Any, choices: Iterable[Any]) -> Any:
    """:func:`oltr.registry.check_choice` as a :class:`ConfigError`: one line naming the source, the key and
    the valid values."""
    try:
        return check_choice(key, value, list(choices))
    except ValueError as e:
        err = ConfigError(source, "", str(e))  # check_choice's message names the key already
        err.key = key
        raise err from None


def _check(cfg: RunConfig, source: str) -> None:
    for key in ("model.name", "model.classifier"):
        _check_choice(source, key, _get(cfg, key), REGISTRY_KEYS[key].names())
    # a classifier serves one stage (registry metadata ``stage``): stage 2 needs the centroid memory
    fits = [n for n in CLASSIFIERS.names() if CLASSIFIERS.get(n).meta.get("stage") in (None, cfg.stage)]
    if cfg.model.classifier not in fits:
        raise ConfigError(source, "model.classifier", f"stage {cfg.stage} uses classifier "
                          f"{' or '.join(map(repr, fits))}, got {cfg.model.classifier!r}")
    for key in ("epochs", "data.batch_size", "optim.step_size", "log_every", "data.num_samples_cls"):
        value = _get(cfg, key)
        if value < 1:
            raise ConfigError(source, key, f"must be >= 1, got {value}")
    if cfg.data.num_workers < 0:
        raise ConfigError(source, "data.num_workers", f"must be >= 0, got {cfg.data.num_workers}")
    if not 0 <= cfg.optim.warmup_epochs < cfg.epochs:
        raise ConfigError(source, "optim.warmup_epochs", f"must be in [0, epochs={cfg.epochs}), got {cfg.optim.warmup_epochs}")
    if not 0 < cfg.optim.warmup_factor <= 1:
        raise ConfigError(source, "optim.warmup_factor", f"must be in (0, 1], got {cfg.optim.warmup_factor}")
    if cfg.optim.base_batch_size is not None and cfg.optim.base_batch_size < 1:
        raise ConfigError(source, "optim.base_batch_size", f"must be >= 1 or null, got {cfg.optim.base_batch_size}")
    check_values(cfg, lambda key, message: ConfigError(source, key, message))


def _check_required(raw: dict, source: str) -> None:
    for dotted in REQUIRED_KEYS:
        node: Any = raw
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node in (None, ""):
            raise ConfigError(source, dotted, "required key is missing (there is no default dataset): "
                              f"set it in the config or with --set {dotted}=...")


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr_features=0.05"`` -> ``("optim.lr_features", 0.05)`` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError("--set", text, "overrides are KEY=VALUE with a dotted key, e.g. optim.lr_features=0.05")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError("--set", text, "empty key")
    try:
        return key, yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text}", key, f"value is not valid YAML: {e}") from None


def apply_override(raw: dict, text: str) -> dict:
    """A copy of the raw dict with one ``KEY=VALUE`` override applied; unknown keys are errors."""
    key, value = parse_override(text)
    source = f"--set {text}"
    out = copy.deepcopy(raw)
    parts = key.split(".")
    node, cls, prefix = out, RunConfig, ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if cls is LossConfig:
            if not last:
                raise ConfigError(source, key, "loss parameters are not nested: use loss.<param>=VALUE")
            node[part] = value
            break
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            raise _unknown(source, prefix, part, fields)
        sub = typing.get_type_hints(cls)[part]
        if last:
            node[part] = value
        else:
            if not dataclasses.is_dataclass(sub):
                raise ConfigError(source, key, f"{part!r} is not a section")
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(source, key, f"{part!r} is not a mapping in the config")
            cls = sub
        prefix = f"{prefix}.{part}" if prefix else part
    from_dict(out, source)  # report type errors against this override
    return out


def load_config(path: str | os.PathLike, overrides: Iterable[str] = (), *, check_loss: bool = True) -> RunConfig:
    """Read a YAML config, apply ``KEY=VALUE`` overrides, resolve paths and validate the loss.

    Example:
        >>> cfg = load_config("configs/FashionMNIST_LT/stage_1.yaml", ["loss.name=focal", "loss.gamma=2"])  # doctest: +SKIP
    """
    path = Path(path)
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(source, "", "config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(source, "", f"not valid YAML: {e}") from None
    cfg = from_dict(raw, source)
    for text in overrides:
        raw = apply_override(raw, text)
        source_last = f"--set {text}"
        cfg = from_dict(raw, source_last)
    _check_required(raw, source)
    cfg = resolve_paths(scale_learning_rates(cfg))
    if check_loss:
        validate_loss(cfg, source if not overrides else f"{source} (with --set overrides)")
    validate_prepare(cfg, source if not overrides else f"{source} (with --set overrides)")
    return cfg


def validate_prepare(cfg: RunConfig, source: str) -> None:
    """``data.prepare`` names a registered dataset that writes lists called ``data.name``, and
    ``data.prepare_args`` are parameters of it: checked when the config loads, not at training time."""
    if not cfg.data.prepare:
        if cfg.data.prepare_args:
            raise ConfigError(source, "data.prepare_args", "given without data.prepare")
        return

    try:
        entry = DATASETS.get(cfg.data.prepare)
    except ValueError as e:
        raise ConfigError(source, "data.prepare", str(e)) from None
    names = entry.meta.get("data_names")
    if names is not None and cfg.data.name not in names:
        raise ConfigError(source, "data.name", f"{cfg.data.name!r} is not written by data.prepare={entry.name!r}; "
                          f"it writes {', '.join(names)}")
    target = entry.builder
    params = inspect.signature(target).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = set(cfg.data.prepare_args) - set(params) - {"name"}
        if unknown:
            raise ConfigError(source, "data.prepare_args", f"unknown argument(s) {sorted(unknown)} of {entry.name!r}; "
                              f"valid: {', '.join(p for p in params if p not in ('out_dir', 'name'))}")
    else:
        valid = entry.meta.get("args")
        unknown = set(cfg.data.prepare_args) - set(valid or ())
        if valid is not None and unknown:
            raise ConfigError(source, "data.prepare_args", f"unknown argument(s) {sorted(unknown)} of {entry.name!r}; "
                              f"valid: {', '.join(valid)}")


def scale_learning_rates(cfg: RunConfig) -> RunConfig:
    """The linear scaling rule (Goyal et al. 2017): with ``optim.base_batch_size`` set, the feature and
    classifier lrs become ``lr * data.batch_size / base_batch_size`` and ``base_batch_size`` null, so the
    stored ``config.yaml`` holds the effective values and loading it again changes nothing."""
    if cfg.optim.base_batch_size is None:
        return cfg
    cfg = copy.deepcopy(cfg)
    factor = cfg.data.batch_size / cfg.optim.base_batch_size
    cfg.optim.lr_features *= factor
    cfg.optim.lr_classifier *= factor
    cfg.optim.base_batch_size = None
    return cfg


def resolve_paths(cfg: RunConfig, base: str | os.PathLike | None = None) -> RunConfig:
    """Copy of ``cfg`` with relative paths made absolute against ``base`` (default: the CWD)."""
    cfg = copy.deepcopy(cfg)
    base = Path(base or os.getcwd())
    for dotted in PATH_KEYS:
        *parents, leaf = dotted.split(".")
        owner = _get(cfg, ".".join(parents)) if parents else cfg
        value = getattr(owner, leaf)
        if value:
            setattr(owner, leaf, str((base / os.path.expanduser(value)).resolve()))
    return cfg


def loss_kwargs(cfg: RunConfig, class_counts: Any = None) -> dict:
    """Keyword arguments for ``oltr.losses.build_loss``: the params, ``epochs`` defaulting to the
    stage's epoch count for scheduled losses, and ``class_counts`` for losses that need them."""
    meta = losses.loss_info(cfg.loss.name).meta
    kw = dict(cfg.loss.params)
    if meta.get("has_schedule") and "epochs" not in kw:
        kw["epochs"] = cfg.epochs
    if meta.get("needs_class_counts") and "class_counts" not in kw:
        kw["class_counts"] = class_counts
    return kw


def validate_loss(cfg: RunConfig, source: str) -> None:
    """Build the loss once (with placeholder class counts) and walk it through the stage's epochs, so bad
    names, parameters and schedules fail at load time."""
    try:
        losses.loss_info(cfg.loss.name)
    except ValueError as e:
        raise ConfigError(source, "loss.name", str(e)) from None
    valid = losses.loss_params(cfg.loss.name)
    for param in cfg.loss.params:
        if param not in valid:
            close = difflib.get_close_matches(param, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(source, f"loss.{param}", f"unknown parameter of loss {cfg.loss.name!r}{hint}; "
                              f"valid: {', '.join(valid)}")
    k = cfg.data.num_classes or 10
    counts = np.linspace(100, 5, k).round().astype(np.int64)
    try:
        criterion = losses.build_loss(cfg.loss.name, **loss_kwargs(cfg, counts))
    except (TypeError, ValueError) as e:
        params = losses.loss_params(cfg.loss.name)
        valid = f"; parameters of {cfg.loss.name!r}: {', '.join(params)}" if params else ""
        raise ConfigError(source, "loss", f"cannot build loss {cfg.loss.name!r} with {cfg.loss.params}: {e}{valid}") from None
    check_schedule(cfg, criterion, lambda key, message: ConfigError(source, key, message))


def config_hash(cfg: RunConfig) -> str:
    """sha256 of the canonical config (sorted JSON) without machine-local fields."""
    d = to_dict(cfg)
    for dotted in HASH_EXCLUDE:
        *parents, leaf = dotted.split(".")
        node = d
        for p in parents:
            node = node[p]
        node.pop(leaf, None)
    if not d["data"].get("prepare_args"):  # added later: an empty one keeps the hashes of earlier runs
        d["data"].pop("prepare_args", None)
    for section, key, off in (("data", "mixup_alpha", 0.0), ("data", "cutmix_alpha", 0.0), ("optim", "ema_decay", None)):
        if d[section].get(key) == off:  # added later: off keeps the hashes of earlier runs
            d[section].pop(key, None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def dump_config(cfg: RunConfig, path: str | os.PathLike | None = None) -> str:
    """The resolved config as YAML (written to ``path`` when given)."""
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False)
    if path is not None:
        Path(path).write_text(text)
    return text
