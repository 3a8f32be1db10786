"""Split lists in the OLTR format: one ``relative/path label`` per line.

Labels are ``0..K-1`` for known classes and ``-1`` for open-set samples. Paths are relative to a
dataset root. Parsing is vectorised with pandas (the ImageNet-LT train list has 115,846 lines); every
error names the file and the 1-based line number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from oltr.atomic import write_text_atomic

__all__ = ["ListFormatError", "read_list", "write_list", "sha256_file", "OPEN_LABEL"]

OPEN_LABEL = -1
"""Label of open-set samples (images of classes never seen in training)."""


class ListFormatError(ValueError):
    """A split list that does not follow the ``path label`` format; names file and line."""

    def __init__(self, path: str | os.PathLike, line: int, reason: str, text: str | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        shown = f": {text[:120]!r}" if text is not None else ""
        super().__init__(f"{self.path}:{line}: {reason}{shown}")


def read_list(path: str | os.PathLike, num_classes: int | None = None) -> tuple[list[str], np.ndarray]:
    """Reads a split list.

    Each line is ``<relative path><whitespace><integer label>`` (two fields, so paths cannot contain
    spaces, as in the reference). A missing final newline and CRLF endings are accepted; blank lines
    are not.

    Args:
        path: list file.
        num_classes: declared number of known classes ``K``; labels must then lie in ``-1..K-1``.
            Without it only labels below ``-1`` are rejected.

    Returns:
        ``(paths, labels)``: relative paths in file order and an ``int64`` array of labels.

    Raises:
        FileNotFoundError: the list does not exist.
        ListFormatError: a malformed line, a non-integer label, a duplicate path or a label outside
            the declared range; the message names the file and the line.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "l.txt"
        >>> _ = f.write_text("a/1.jpg 0\\nb/2.jpg 1\\nx.jpg -1\\n")
        >>> read_list(f, num_classes=2)
        (['a/1.jpg', 'b/2.jpg', 'x.jpg'], array([ 0,  1, -1]))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split list not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ListFormatError(path, line, "not valid UTF-8") from None
    if not text:
        return [], np.zeros(0, dtype=np.int64)
    rel, label_text, lines = _split_fields(path, text)
    line_no = np.arange(1, len(rel) + 1)

    is_int = label_text.str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool)
    if not is_int.all():
        i = int(np.flatnonzero(~is_int)[0])
        raise ListFormatError(path, int(line_no[i]), f"label {label_text.iloc[i]!r} is not an integer", lines(i))
    labels = label_text.to_numpy().astype(np.int64)

    low = OPEN_LABEL
    high = (num_classes - 1) if num_classes is not None else np.iinfo(np.int64).max
    out = (labels < low) | (labels > high)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        allowed = f"-1..{num_classes - 1}" if num_classes is not None else ">= -1"
        raise ListFormatError(path, int(line_no[i]), f"label {labels[i]} outside {allowed}", lines(i))

    dup = rel.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((rel == rel.iloc[i]).to_numpy())[0])
        raise ListFormatError(
            path, int(line_no[i]), f"duplicate path (first seen on line {line_no[first]})", lines(i)
        )
    return rel.tolist(), labels


def _split_fields(path: Path, text: str) -> tuple[pd.Series, pd.Series, Callable[[int], str]]:
    """(paths, label strings, line getter).

    The C parser reads the canonical single-space format; anything else (tabs, several spaces,
    malformed lines) goes through a whitespace split that finds the precise error.
    """
    lines = text.split("\n")
    if lines[-1] == "":  # the trailing newline
        lines.pop()

    def line(i: int) -> str:
        return lines[i].rstrip("\r")

    try:
        df = pd.read_csv(
            io.StringIO(text), sep=" ", header=None, names=["path", "label"], dtype=str, na_filter=False,
            quoting=csv.QUOTE_NONE, skip_blank_lines=False, engine="c",
        )  # fmt: skip
        # Lines of 3+ fields make pandas take the first one as the index (paths -> index, labels ->
        # paths, third field -> labels): only a default RangeIndex means every line had two fields.
        if (isinstance(df.index, pd.RangeIndex) and len(df) == len(lines)
                and not ((df["path"] == "") | (df["label"] == "")).any()):
            return df["path"], df["label"].str.rstrip("\r"), line
    except pd.errors.ParserError:
        pass
    parts = pd.Series(lines, dtype=object).str.split()
    n_fields = parts.str.len().to_numpy()
    bad = n_fields != 2
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ListFormatError(path, i + 1, f"expected '<path> <label>', got {n_fields[i]} fields", line(i))
    return parts.str[0], parts.str[1], line


def write_list(path: str | os.PathLike, paths: Sequence[str], labels: Sequence[int] | np.ndarray) -> Path:
    """Writes ``paths`` and ``labels`` as a split list (single space, LF, trailing newline).

    Args:
        path: output file; parent folders are created.
        paths: relative image paths (forward slashes).
        labels: one integer label per path.

    Returns:
        The written path.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    return write_text_atomic(path, "".join(f"{p} {int(y)}\n" for p, y in zip(paths, labels.tolist())))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
