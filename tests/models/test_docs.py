"""The examples in the models' docstrings run (they document the API, so they must stay true)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["resnet", "attention", "classifiers", "meta_embedding", "centroids", "weights", "freezing"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"oltr.models.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
