"""Which runs may be averaged: equal resolved configs apart from the seed.

A leaderboard row is "loss X, mean over seeds". Runs whose configs differ in anything else (a loss
parameter, the epochs, the learning rate, the model) are different experiments: they get rows of
their own, labelled by the keys that differ. Keys that do not change what is trained are ignored:
the seed, the run name, machine-local paths, worker count, caching, logging cadence and the
evaluation settings (the evaluation protocol is shown per row from ``eval_test.json``).
"""

from __future__ import annotations

import json
from typing import Any

from oltr.config.resolve import resolved_loss_params

IGNORED = frozenset({
    "seed", "name", "init_from", "data.root", "data.lists", "data.open_root", "model.weights", "data.num_workers",
    "data.cache", "log_every", "eval_rule", "fp_rule", "open_threshold",
})


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr_features": 0.1}}`` -> ``{"optim.lr_features": 0.1}`` (lists kept as values)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def experiment_key(config: dict[str, Any]) -> str:
    """Canonical JSON of a run's ``config.yaml`` (YAML layout) minus :data:`IGNORED`, loss defaults resolved."""
    config = dict(config)
    loss = config.get("loss")
    if isinstance(loss, dict) and isinstance(loss.get("name"), str):
        params = {k: v for k, v in loss.items() if k != "name"}
        config["loss"] = {"name": loss["name"], **resolved_loss_params(loss["name"], params)}
    flat = {k: v for k, v in flatten(config).items() if k not in IGNORED}
    return json.dumps(flat, sort_keys=True, default=str)


def differing_keys(keys: list[str]) -> list[str]:
    """Dotted config keys whose values differ between the experiment keys given."""
    flats = [json.loads(k) for k in keys]
    names = sorted(set().union(*flats))
    return [n for n in names if len({json.dumps(f.get(n), sort_keys=True) for f in flats}) > 1]


def label(key: str, differing: list[str]) -> str:
    """``"loss.gamma=2, epochs=30"``: the differing keys' values in one experiment."""
    flat = json.loads(key)

    def show(v: Any) -> str:
        return f"{v:g}" if isinstance(v, float) else (repr(v) if isinstance(v, str) else str(v))

    return ", ".join(f"{n}={show(flat.get(n))}" for n in differing)
