"""``logits_<split>.npz``: the saved logits of a run, stamped with where they came from.

Besides ``logits``, ``labels`` and (open set) ``open_logits``, the file holds ``config_hash`` (the
run's :func:`oltr.config.config_hash`) and ``list_sha256`` / ``open_list_sha256`` (checksums of the
split lists scored). Re-scoring (``oltr eval --from-logits``, the leaderboard under another rule)
refuses a file whose stamps do not match the run, so logits copied from another run, or left over
from lists that have since changed, never reach a table.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from oltr.atomic import atomic_path
from oltr.engine.checkpoint import writing

ARRAYS = ("logits", "labels", "open_logits")


class LogitsFileError(ValueError):
    """A logits file that cannot be read or does not belong to the run that asks for it."""


def save_logits(path: str | os.PathLike, arrays: dict[str, np.ndarray], *, config_hash: str, list_sha256: str,
                open_list_sha256: str | None = None) -> Path:
    """Write ``arrays`` plus the provenance stamps atomically (temp file + ``os.replace``)."""
    path = Path(path)
    stamps = {"config_hash": np.array(config_hash), "list_sha256": np.array(list_sha256)}
    if open_list_sha256 is not None:
        stamps["open_list_sha256"] = np.array(open_list_sha256)
    with writing(path), atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays, **stamps)
    return path


def load_logits(path: str | os.PathLike, *, config_hash: str | None = None, list_sha256: str | None = None,
                open_list_sha256: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of a logits file after checking its stamps against the given ones (``None``: not checked).

    Raises:
        FileNotFoundError: no such file.
        LogitsFileError: unreadable (truncated, garbage), missing arrays, or stamped for another run / list.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `oltr eval` without --from-logits first")
    redo = "run `oltr eval` without --from-logits to compute the logits again"
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise LogitsFileError(f"{path} is truncated or corrupt ({type(e).__name__}: {first}); {redo}") from None
    missing = [k for k in ("logits", "labels") if k not in data]
    if missing:
        raise LogitsFileError(f"{path} holds no {', '.join(missing)}; {redo}")
    expected = {"config_hash": config_hash, "list_sha256": list_sha256, "open_list_sha256": open_list_sha256}
    for key, want in expected.items():
        if want is None or (key == "open_list_sha256" and "open_logits" not in data):
            continue
        if key not in data:
            raise LogitsFileError(f"{path} carries no {key} (written by an older oltr), so it cannot be matched "
                                  f"to this run; {redo}")
        got = str(data[key])
        if got != want:
            what = "another run's config" if key == "config_hash" else "another version of the split list"
            raise LogitsFileError(f"{path} was computed from {what} ({key} {got[:12]} here vs {want[:12]} for "
                                  f"this run); {redo}")
    return {k: v for k, v in data.items() if k in ARRAYS}
