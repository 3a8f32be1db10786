"""The golden fixtures ship with the repository and are the files PROVENANCE.md describes (sha256)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("name", ["losses.json", "oltr_eval.json"])
def test_golden_fixture_is_in_the_repository_and_unchanged(name):
    provenance = (GOLDEN / "PROVENANCE.md").read_text()
    row = next(line for line in provenance.splitlines() if line.startswith(f"| `{name}`"))
    (expected,) = re.findall(r"`([0-9a-f]{64})`", row)
    assert hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest() == expected
