"""Run configuration: YAML files mapped onto typed dataclasses, with dotted overrides.

>>> from oltr.config import load_config
>>> cfg = load_config("configs/FashionMNIST_LT/stage_1.yaml", ["optim.lr_features=0.05"])  # doctest: +SKIP
"""

from oltr.config.load import (
    ConfigError as ConfigError,
    apply_override as apply_override,
    config_hash as config_hash,
    dump_config as dump_config,
    from_dict as from_dict,
    load_config as load_config,
    loss_kwargs as loss_kwargs,
    resolve_paths as resolve_paths,
    to_dict as to_dict,
)
from oltr.config.schema import (
    CentroidConfig as CentroidConfig,
    DataConfig as DataConfig,
    LossConfig as LossConfig,
    ModelConfig as ModelConfig,
    OptimConfig as OptimConfig,
    RunConfig as RunConfig,
)

__all__ = [
    "CentroidConfig", "ConfigError", "DataConfig", "LossConfig", "ModelConfig", "OptimConfig", "RunConfig",
    "apply_override", "config_hash", "dump_config", "from_dict", "load_config", "loss_kwargs",
    "resolve_paths", "to_dict",
]
