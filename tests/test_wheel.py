"""The wheel carries what the package reads at run time (configs, suites, the split-list manifest)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _outputs(folder: str, names: list[str]) -> list[str]:
    """What a checkout holds besides the sources: outputs at the top, caches and build folders anywhere."""
    top = {".git", ".venv", "build", "data", "runs", "results"} if Path(folder) == REPO else set()
    return [n for n in names if n in top or n in {"__pycache__", ".pytest_cache"} or n.endswith(".egg-info")]


@pytest.mark.slow
def test_wheel_contains_package_data(tmp_path):
    # Built from a clean copy (a checkout's build/ folder could carry stale files into the wheel), without
    # build isolation: the test environment's setuptools builds it, nothing is downloaded.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_outputs)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("oltr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "oltr/py.typed",
        "oltr/reporting/published.yaml",
        "oltr/data_lists/manifest.json",
        "oltr/data/cfl_samplers/README.md",
        *(f"oltr/data/cfl_samplers/{p.name}" for p in (REPO / "oltr" / "data" / "cfl_samplers").glob("*.csv")),
        *(f"oltr/configs/suites/{p.name}" for p in (REPO / "configs" / "suites").glob("*.yaml")),
        *(f"oltr/configs/{p.parent.name}/{p.name}" for p in (REPO / "configs").glob("*/*.yaml")),
    }
    assert "oltr/configs/suites/fashion_mnist_lt.yaml" in expected and len(expected) >= 20
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith(("tests/", "benchmarks/", "tools/")) for n in names)
