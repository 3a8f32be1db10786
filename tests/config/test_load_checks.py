"""Config checks a new user meets: scientific notation, required dataset keys, ranges, resolved loss defaults."""

from __future__ import annotations

import pytest

from oltr.config import ConfigError, config_hash, dump_config, load_config
from oltr.losses import build_loss

BASE = "data:\n  name: Test_LT\n  root: data/Test_LT\n"


def _cfg(tmp_path, text: str, name: str = "cfg.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [("1e-3", 0.001), ("5e-4", 0.0005), ("1e6", 1e6), ("2.5E-2", 0.025)])
def test_yaml_scientific_notation_is_a_float_in_files_and_in_set(tmp_path, text, expected):
    # YAML 1.1 (PyYAML) reads these as strings; float fields take them as the number they spell
    cfg = load_config(_cfg(tmp_path, BASE + f"open_threshold: 0.1\noptim:\n  weight_decay: {text}\n"), check_loss=False)
    assert cfg.optim.weight_decay == expected and isinstance(cfg.optim.weight_decay, float)
    cfg = load_config(_cfg(tmp_path, BASE), [f"optim.weight_decay={text}"], check_loss=False)
    assert cfg.optim.weight_decay == expected
    cfg = load_config(_cfg(tmp_path, BASE + f"loss:\n  name: focal\n  gamma: {text}\n"))
    assert cfg.loss.params["gamma"] == expected


def test_scientific_notation_is_not_accepted_for_strings_or_ints(tmp_path):
    with pytest.raises(ConfigError, match="epochs: expected int"):
        load_config(_cfg(tmp_path, BASE + "epochs: 1e3\n"), check_loss=False)
    cfg = load_config(_cfg(tmp_path, BASE + "name: 1e3\n"), check_loss=False)
    assert cfg.name == "1e3"


@pytest.mark.parametrize("key", ["data.name", "data.root"])
def test_dataset_keys_are_required(tmp_path, key):
    other = "root: data/X" if key == "data.name" else "name: X"
    path = _cfg(tmp_path, f"data:\n  {other}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, check_loss=False)
    assert str(err.value).startswith(f"{path}: {key}: required")
    load_config(path, [f"{key}=given_on_the_command_line"], check_loss=False)  # --set satisfies it


@pytest.mark.parametrize("key", ["optim.lr_features", "optim.lr_classifier", "centroids.lr", "optim.weight_decay"])
def test_negative_learning_rates_are_refused_at_load(tmp_path, key):
    with pytest.raises(ConfigError, match=rf"{key}: must be in \[0, .*got -0.1"):
        load_config(_cfg(tmp_path, BASE), [f"{key}=-0.1"], check_loss=False)


def test_loss_defaults_are_resolved_so_explicit_and_omitted_defaults_are_one_config(tmp_path):
    omitted = load_config(_cfg(tmp_path, BASE + "loss:\n  name: cfl\n", "a.yaml"))
    explicit = load_config(_cfg(tmp_path, BASE + "loss:\n  name: cfl\n  gamma_hc: 3\n  factor: 4\n", "b.yaml"))
    assert omitted.loss.params == explicit.loss.params and config_hash(omitted) == config_hash(explicit)
    # the resolved values are the builder's own defaults (an independent look at the built module)
    built = build_loss("cfl", epochs=10)
    assert omitted.loss.params["gamma_hc"] == built.gamma_hc and omitted.loss.params["factor"] == built.factor
    assert "gamma_hc: 3" in dump_config(omitted) and "epochs" not in omitted.loss.params
    other = load_config(_cfg(tmp_path, BASE + "loss:\n  name: cfl\n  gamma_hc: 2\n", "c.yaml"))
    assert config_hash(other) != config_hash(omitted)
