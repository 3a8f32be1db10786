"""Suite sections that expand into loss presets when a suite loads, so the grid planner stays as it is.

- ``sweeps``: a grid over loss parameters. ``{cfl: {base: {name: cfl, gamma: 2}, grid: {gamma_hc: [1, 2],
  factor: [1, 4]}}}`` gives the presets ``cfl[gamma_hc=1,factor=1]``, ``cfl[gamma_hc=1,factor=4]``, ...
  (keys may be written ``loss.gamma_hc``). Every preset is the base loss section with those values.
- ``protocols``: the same losses on several datasets / recipes. ``{balanced: {set: {data.name: ...,
  optim.lr_features: 0.3}, losses: {cfl: {gamma_hc: 3}}}}`` gives ``<loss>@balanced`` for every loss
  preset, whose runs get the ``set`` overrides and the per-protocol loss parameters.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import yaml

__all__ = ["expand_protocols", "expand_sweeps", "override", "sweep_label"]


def override(key: str, value: Any) -> str:
    """``key=value`` with the value written as YAML (``5.0e-05``: json's ``5e-05`` reads back as a string)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def _fmt(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:g}"


def sweep_label(base: str, point: dict[str, Any]) -> str:
    """``cfl[gamma_hc=2,factor=4]``: the preset name of one sweep point."""
    return f"{base}[{','.join(f'{k}={_fmt(v)}' for k, v in point.items())}]"


def expand_sweeps(sweeps: Any, where: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Presets of every sweep point, and per preset ``{'sweep': name, 'params': point}``."""
    if not isinstance(sweeps, dict):
        raise ValueError(f"{where}: 'sweeps' must map a sweep name to {{base: <loss section>, grid: {{param: [values]}}}}")
    presets: dict[str, dict[str, Any]] = {}
    info: dict[str, dict[str, Any]] = {}
    for name, spec in sweeps.items():
        here = f"{where}: sweeps.{name}"
        if not isinstance(spec, dict) or set(spec) - {"base", "grid"} or "grid" not in spec:
            raise ValueError(f"{here}: expected keys 'base' (a loss section with a 'name') and 'grid'")
        base = spec.get("base") or {"name": name}
        if not isinstance(base, dict) or "name" not in base:
            raise ValueError(f"{here}.base: a loss section with a 'name', e.g. {{name: cfl, gamma: 2}}")
        grid = spec["grid"]
        if not isinstance(grid, dict) or not grid:
            raise ValueError(f"{here}.grid: map each loss parameter to a list of values")
        keys = []
        for key, values in grid.items():
            param = key.removeprefix("loss.")
            if "." in param or param == "name":
                raise ValueError(f"{here}.grid: {key!r} is not a loss parameter (sweeps vary loss.<param>)")
            if not isinstance(values, list) or not values:
                raise ValueError(f"{here}.grid.{key}: expected a non-empty list of values, got {values!r}")
            keys.append(param)
        for combo in itertools.product(*grid.values()):
            point = dict(zip(keys, combo))
            label = sweep_label(name, point)
            presets[label] = {**base, **point}
            info[label] = {"sweep": name, "params": point}
    return presets, info


def expand_protocols(protocols: Any, losses: dict[str, dict[str, Any]], where: str
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]], dict[str, dict[str, str]]]:
    """Presets ``<loss>@<protocol>``, their extra dotted overrides, and ``{preset: {loss, protocol}}``."""
    if not isinstance(protocols, dict) or not protocols:
        raise ValueError(f"{where}: 'protocols' must map a protocol name to {{set: {{key: value}}, losses: ...}}")
    presets: dict[str, dict[str, Any]] = {}
    overrides: dict[str, list[str]] = {}
    info: dict[str, dict[str, str]] = {}
    for proto, spec in protocols.items():
        here = f"{where}: protocols.{proto}"
        if not isinstance(proto, str):
            raise ValueError(f"{here}: the protocol name was read as a {type(proto).__name__} (YAML reads 5_3 as 53): "
                             "quote it, e.g. \"5_3\":")
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"set", "losses"}:
            raise ValueError(f"{here}: expected keys 'set' (dotted config overrides) and 'losses' (per-loss parameters)")
        sets = spec.get("set") or {}
        per_loss = spec.get("losses") or {}
        if not isinstance(sets, dict) or not isinstance(per_loss, dict):
            raise ValueError(f"{here}: 'set' and 'losses' must be mappings")
        unknown = set(per_loss) - set(losses)
        if unknown:
            raise ValueError(f"{here}.losses: no loss preset {sorted(unknown)}; presets: {sorted(losses)}")
        for loss, section in losses.items():
            label = f"{loss}@{proto}"
            extra = per_loss.get(loss) or {}
            if "name" in extra:
                raise ValueError(f"{here}.losses.{loss}: give parameters only (the loss is the preset's)")
            presets[label] = {**section, **extra}
            overrides[label] = [override(k, v) for k, v in sets.items()]
            info[label] = {"loss": loss, "protocol": str(proto)}
    return presets, overrides, info
