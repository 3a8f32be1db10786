"""Files that ship inside the package, found through ``importlib.resources`` so that an installed wheel works
outside a source checkout: the run configs and suites (``configs/``) and the split-list manifest
(``data_lists/manifest.json``). In a checkout ``oltr/configs`` and ``oltr/data_lists`` link to the top-level
folders, so there is one copy of each file.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The package's own folder (a plain directory for wheels and editable installs alike).
PACKAGE_DIR = Path(str(files("oltr")))
#: ``configs/``: dataset recipes (``<dataset>/stage_*.yaml``) and benchmark suites (``suites/*.yaml``).
CONFIGS_DIR = PACKAGE_DIR / "configs"
#: ``data_lists/manifest.json``: facts about the official split lists.
MANIFEST_PATH = PACKAGE_DIR / "data_lists" / "manifest.json"


def config_path(path: str | Path) -> Path:
    """A config named as in a suite (``configs/FashionMNIST_LT/stage_1.yaml``): relative paths are the package's
    files, absolute ones are returned unchanged."""
    path = Path(path)
    return path if path.is_absolute() else PACKAGE_DIR / path
