"""Config loading: typed sections, errors naming file + key + valid keys, overrides, env, hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from oltr.config import ConfigError, RunConfig, config_hash, dump_config, load_config, to_dict

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("[A-Z]*/*.yaml"))


def write(tmp_path: Path, text: str, name: str = "cfg.yaml", dataset: bool = True) -> Path:
    """``text`` as a config file; ``dataset`` adds the required ``data.name`` / ``data.root`` when absent."""
    if dataset and "data:\n" in text:
        text = text.replace("data:\n", "data:\n  name: Test_LT\n", 1)
    elif dataset:
        text = "data:\n  name: Test_LT\n  root: data/Test_LT\n" + text
    path = tmp_path / name
    path.write_text(text)
    return path


OLTR_CONFIGS = [p for p in CONFIGS if p.parent.name in ("ImageNet_LT", "Places_LT", "FashionMNIST_LT")]


def test_shipped_configs_load():
    assert len(OLTR_CONFIGS) == 8  # two stages x 3 datasets + the Decoupling joint recipes
    for path in OLTR_CONFIGS:
        cfg = load_config(path, check_loss=False)
        assert isinstance(cfg, RunConfig)
        assert cfg.optim.momentum == 0.9 and cfg.optim.weight_decay == 5e-4
        assert cfg.open_threshold == (0.5 if "FashionMNIST" in str(path) else 0.1)
        assert cfg.model.classifier == ("dot" if cfg.stage == 1 else "meta_embedding")
        if cfg.stage == 2:
            assert cfg.data.sampler == "class_aware" and cfg.data.num_samples_cls == 4


def test_new_dataset_configs_load():
    """CIFAR-LT, the 4k protocols and iNaturalist: every config loads; K = 10 uses the 0.5 open threshold
    (a max softmax below 0.1 = 1/K is impossible), stage 2 the class-aware sampler."""
    others = [p for p in sorted((REPO / "configs").glob("*/*.yaml"))
              if p.parent.name != "suites" and p not in OLTR_CONFIGS]
    assert {p.parent.name for p in others} >= {"CIFAR10_LT", "CIFAR100_LT", "CIFAR10_4k", "CIFAR100_4k",
                                               "FashionMNIST_4k", "iNaturalist18"}
    for path in others:
        cfg = load_config(path, check_loss=False)
        assert cfg.open_threshold == (0.5 if cfg.data.num_classes == 10 else 0.1), path
        assert cfg.model.classifier == ("dot" if cfg.stage == 1 else "meta_embedding")
        if cfg.stage == 2:
            assert cfg.data.sampler == "class_aware"


def test_reference_hyper_parameters():
    s1 = load_config(REPO / "configs/ImageNet_LT/stage_1.yaml", check_loss=False)
    s2 = load_config(REPO / "configs/ImageNet_LT/stage_2_meta_embedding.yaml", check_loss=False)
    assert (s1.epochs, s1.optim.step_size, s1.optim.lr_features, s1.data.batch_size) == (30, 10, 0.1, 128)
    assert (s2.epochs, s2.optim.step_size, s2.optim.lr_features, s2.optim.lr_classifier) == (60, 20, 0.01, 0.1)
    assert (s2.centroids.lr, s2.centroids.weight) == (0.01, 0.01)
    p2 = load_config(REPO / "configs/Places_LT/stage_2_meta_embedding.yaml", check_loss=False)
    assert p2.model.freeze == ["backbone"] and p2.optim.lr_features == 1e-4 and p2.model.name == "resnet152"


def test_unknown_key_names_file_key_and_valid_keys(tmp_path):
    path = write(tmp_path, "stage: 1\noptim:\n  lr_feature: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, check_loss=False)
    msg = str(err.value)
    assert str(path) in msg and "optim.lr_feature" in msg and "lr_features" in msg and "did you mean" in msg
    assert err.value.key == "optim.lr_feature"


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match=r"epoch.*valid keys in the top level: .*epochs"):
        load_config(write(tmp_path, "epoch: 3\n"), check_loss=False)


@pytest.mark.parametrize("text, key", [
    ("epochs: three\n", "epochs"),
    ("data:\n  batch_size: 1.5\n", "data.batch_size"),
    ("data:\n  cache: 'yes'\n", "data.cache"),
    ("data:\n  sampler: balanced\n", "data.sampler"),
    ("model:\n  freeze: backbone\n", "model.freeze"),
    ("stage: 3\n", "stage"),
    ("optim: 0.1\n", "optim"),
])
def test_wrong_type_names_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, check_loss=False)
    assert err.value.key == key and str(path) in str(err.value) and "expected" in str(err.value)


def test_int_accepted_for_float(tmp_path):
    cfg = load_config(write(tmp_path, "optim:\n  lr_features: 1\n"), check_loss=False)
    assert cfg.optim.lr_features == 1.0 and isinstance(cfg.optim.lr_features, float)


def test_overrides(tmp_path):
    path = write(tmp_path, "loss:\n  name: cfl\n  gamma_hc: 2\n")
    cfg = load_config(path, ["loss.gamma_hc=3", "optim.lr_features=0.05", "model.freeze=[backbone]", "amp=bf16"],
                      check_loss=False)
    assert cfg.loss.name == "cfl" and cfg.loss.params["gamma_hc"] == 3
    assert cfg.loss.params["factor"] == 4.0  # the loss's own default, resolved into the config
    assert cfg.optim.lr_features == 0.05 and cfg.model.freeze == ["backbone"] and cfg.amp == "bf16"


@pytest.mark.parametrize("override, key", [
    ("optim.lr=0.1", "optim.lr"),
    ("optimizer.lr_features=0.1", "optimizer"),
    ("epochs=many", "epochs"),
    ("loss.gamma.x=1", "loss.gamma.x"),
])
def test_bad_override_names_key(tmp_path, override, key):
    path = write(tmp_path, "stage: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, [override], check_loss=False)
    assert err.value.key == key and "--set" in str(err.value)


def test_override_without_equals(tmp_path):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(write(tmp_path, "stage: 1\n"), ["epochs"], check_loss=False)


def test_env_expansion_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("OLTR_TEST_ROOT", str(tmp_path / "imgs"))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, "data:\n  root: ${OLTR_TEST_ROOT}\n  lists: lists/${NOPE:-x}\n"), check_loss=False)
    assert cfg.data.root == str(tmp_path / "imgs")
    assert cfg.data.lists == str(tmp_path / "lists" / "x")  # relative -> current working directory
    with pytest.raises(ConfigError, match="NOPE_UNSET"):
        load_config(write(tmp_path, "data:\n  root: ${NOPE_UNSET}\n"), check_loss=False)


def test_env_default_applies_to_empty_variable_as_in_the_shell(tmp_path, monkeypatch):
    # `OLTR_DATA= oltr train ...` must not turn ${OLTR_DATA:-data}/FashionMNIST_LT into /FashionMNIST_LT
    monkeypatch.setenv("OLTR_TEST_EMPTY", "")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, "data:\n  root: ${OLTR_TEST_EMPTY:-data}/X\n  lists: a${OLTR_TEST_EMPTY}b\n"),
                      check_loss=False)
    assert cfg.data.root == str(tmp_path / "data" / "X")
    assert cfg.data.lists == str(tmp_path / "ab")  # no default: the empty value, as the shell does


def test_stage_classifier_consistency(tmp_path):
    with pytest.raises(ConfigError, match="model.classifier"):
        load_config(write(tmp_path, "stage: 2\n"), check_loss=False)


def test_unknown_classifier_is_one_line_naming_the_key_and_the_registry(tmp_path):
    from oltr.models import CLASSIFIERS

    path = write(tmp_path, "model:\n  classifier: cosine\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, check_loss=False)
    names = ", ".join(repr(n) for n in CLASSIFIERS.names())  # the registry, not a copy of its keys
    assert str(err.value) == f"{path}: `model.classifier` must be one of {names}, got 'cosine'"
    assert err.value.key == "model.classifier" and "\n" not in str(err.value)


def test_unknown_feature_model_fails_at_load(tmp_path):
    with pytest.raises(ConfigError, match=r"`model.name` must be one of .*'resnet10'.*, got 'resnet11'") as err:
        load_config(write(tmp_path, "model:\n  name: resnet11\n"), check_loss=False)
    assert err.value.key == "model.name"


def test_a_registered_classifier_is_a_valid_choice_for_its_stage(tmp_path, monkeypatch):
    """Registering a classifier is all it takes for a config to name it (no list of names in the schema);
    its ``stage`` metadata says which stage may use it."""
    from oltr.models import CLASSIFIERS
    from oltr.registry import Entry

    monkeypatch.setitem(CLASSIFIERS._entries, "cos_test", Entry("cos_test", object, {"stage": 1}))
    cfg = load_config(write(tmp_path, "model:\n  classifier: cos_test\n"), check_loss=False)
    assert cfg.model.classifier == "cos_test"
    with pytest.raises(ConfigError, match=r"stage 2 uses classifier 'meta_embedding', got 'cos_test'"):
        load_config(write(tmp_path, "stage: 2\nmodel:\n  classifier: cos_test\n"), check_loss=False)


def test_dump_roundtrip_and_hash(tmp_path, monkeypatch):
    cfg = load_config(REPO / "configs/FashionMNIST_LT/stage_2_meta_embedding.yaml", ["loss.name=cfl", "loss.gamma_hc=3"],
                      check_loss=False)
    path = tmp_path / "config.yaml"
    dump_config(cfg, path)
    again = load_config(path, check_loss=False)
    assert to_dict(again) == to_dict(cfg)
    assert config_hash(again) == config_hash(cfg)
    # machine-local paths do not change the hash; hyper-parameters do
    monkeypatch.chdir(tmp_path)
    elsewhere = load_config(REPO / "configs/FashionMNIST_LT/stage_2_meta_embedding.yaml",
                            ["loss.name=cfl", "loss.gamma_hc=3"], check_loss=False)
    assert elsewhere.data.root != cfg.data.root and config_hash(elsewhere) == config_hash(cfg)
    assert config_hash(load_config(path, ["loss.gamma_hc=2"], check_loss=False)) != config_hash(cfg)


def test_loss_validated_by_building(tmp_path):
    losses = pytest.importorskip("oltr.losses")
    if not hasattr(losses, "build_loss"):
        pytest.skip("loss registry not available")
    with pytest.raises(ConfigError, match="loss.name"):
        load_config(write(tmp_path, "loss:\n  name: no_such_loss\n"))
    with pytest.raises(ConfigError, match=r"loss.gamma_typo: unknown parameter of loss 'focal'"):
        load_config(write(tmp_path, "loss:\n  name: focal\n  gamma_typo: 2\n"))
    with pytest.raises(ConfigError, match=r"loss.*cannot build"):  # a known parameter out of range
        load_config(write(tmp_path, "loss:\n  name: focal\n  gamma: -1\n"))
