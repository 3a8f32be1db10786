"""Inputs of the golden ``eval`` section (reference OLTR code on synthetic logits)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

@pytest.fixture(scope="session")
def golden_eval(golden_oltr: dict) -> SimpleNamespace:
    g = golden_oltr["eval"]
    # Stored decimals cast to float32 reproduce the reference inputs exactly (see the file's _doc).
    return SimpleNamespace(
        raw=g,
        known_logits=np.asarray(g["known_logits"], dtype=np.float32),
        known_labels=np.asarray(g["known_labels"], dtype=np.int64),
        open_logits=np.asarray(g["open_logits"], dtype=np.float32),
        train_counts=np.asarray(g["train_class_counts"], dtype=np.int64),
        threshold=float(g["open_threshold"]),
    )
