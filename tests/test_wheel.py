"""The wheel carries what the package reads at run time (configs, suites, the split-list manifest)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_package_data(tmp_path):
    # No build isolation: the test environment's setuptools builds it, nothing is downloaded.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("oltr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "oltr/py.typed",
        "oltr/reporting/published.yaml",
        "oltr/data_lists/manifest.json",
        *(f"oltr/configs/suites/{p.name}" for p in (REPO / "configs" / "suites").glob("*.yaml")),
        *(f"oltr/configs/{p.parent.name}/{p.name}" for p in (REPO / "configs").glob("*_LT/*.yaml")),
    }
    assert "oltr/configs/suites/fashion_mnist_lt.yaml" in expected and len(expected) >= 12
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith(("tests/", "benchmarks/", "tools/")) for n in names)
