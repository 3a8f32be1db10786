"""Every docstring example in the package runs and prints what it shows (they document the API)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import oltr

MODULES = sorted(m.name for m in pkgutil.walk_packages(oltr.__path__, "oltr.") if not m.name.endswith("__main__"))


def test_modules_are_found():
    assert {"oltr.losses.focal", "oltr.models.resnet", "oltr.data.manifest", "oltr.evaluation.shots"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
