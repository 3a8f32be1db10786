"""The configuration reference, generated from the dataclasses so that it cannot drift.

``python -m oltr.config.reference`` writes ``docs/configuration.md``; ``--check`` exits 1 when the
committed file differs (a test runs the check). Types and defaults come from
:func:`dataclasses.fields`, the meaning of each key from the one-line comment above it in
``oltr/config/schema.py``, the loss parameters and their defaults from the loss registry.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
import typing
from pathlib import Path

from oltr.config.load import PATH_KEYS, REGISTRY_KEYS, _type_name
from oltr.config.resolve import ENGINE_FILLED, loss_defaults
from oltr.config.schema import REQUIRED_KEYS, RunConfig
from oltr.losses import available, loss_info, loss_params

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

SUITE_FORMAT = """\
## Suite files (`oltr benchmark --suite NAME|PATH`)

A suite is a YAML file, `configs/suites/<name>.yaml` or any path, naming one benchmark grid. Unknown
keys are an error naming the file.

| key | type | required | meaning |
|---|---|---|---|
| `dataset` | str | yes | dataset name shown in the leaderboard |
| `stage_1` | path | yes | stage-1 config (relative paths: to the repository root) |
| `stage_2` | path | yes | stage-2 config |
| `losses` | mapping label -> loss section | yes | one preset per label, each a `loss:` section with a `name` (e.g. `cfl: {name: cfl, gamma_hc: 3}`) |
| `seeds` | list[int] | no (`[0]`) | seeds of every preset |
| `data_root` | path | no | overrides `data.root` of both stages (`--data-root` wins) |
| `lists` | path | no | overrides `data.lists` of both stages (`--lists` wins) |

Each (preset, seed) runs stage 1, then stage 2 from that stage 1 (`init_from` set to it), then the
test evaluation with the open set; `--set KEY=VALUE` applies to every run.
"""


def _comments(cls: type) -> dict[str, str]:
    """``{field: the comment lines right above it}`` from the class source."""
    out, pending = {}, []
    for line in inspect.getsource(cls).splitlines():
        text = line.strip()
        if text.startswith("#"):
            pending.append(text.lstrip("# ").rstrip())
        elif ":" in text and not text.startswith(("class ", "def ", '"', "@")) and pending:
            out[text.split(":", 1)[0].strip()] = " ".join(pending)
            pending = []
        else:
            pending = []
    return out


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    else:
        return "(required)"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value!r}`" if not isinstance(value, str) else (f"`{value}`" if value else '`""`')


def _rows(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    notes = _comments(cls)
    rows, sections = [], []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            sections.append((key, tp))
            continue
        default = "**required**" if key in REQUIRED_KEYS else _default(f)
        meaning = notes.get(f.name, "")
        if key in PATH_KEYS:
            meaning += " (`${VAR}` expands; relative paths resolve against the working directory)"
        kind = _type_name(tp)
        if key in REGISTRY_KEYS:  # the registry is the list of valid values
            kind += f" (one of: {', '.join(REGISTRY_KEYS[key].names())})"
        cells = (f"`{key}`", kind, default, meaning)
        rows.append("| " + " | ".join(c.replace("|", "&#124;") for c in cells) + " |")
    return rows + [r for key, tp in sections for r in _section(key, tp)]


def _section(key: str, cls: type) -> list[str]:
    if key == "loss":
        return []  # the loss section is free-form; see the table of losses below
    doc = (inspect.getdoc(cls) or "").splitlines()[0]
    return ["", f"### `{key}`: {doc}", "", "| key | type | default | meaning |", "|---|---|---|---|",
            *_rows(cls, f"{key}.")]


def _loss_rows() -> list[str]:
    rows = []
    for name in available():
        defaults = loss_defaults(name)
        params = []
        for p in loss_params(name):
            if p in ENGINE_FILLED:
                params.append(f"`{p}` (engine)")
            else:
                params.append(f"`{p}` = `{defaults[p]!r}`" if p in defaults else f"`{p}`")
        doc = (inspect.getdoc(loss_info(name).builder) or "").splitlines()
        what = (doc[0] if doc else "").replace("|", "&#124;")
        rows.append(f"| `{name}` | {what} | {', '.join(params)} |")
    return rows


def render() -> str:
    """The whole reference as Markdown."""
    top = [
        "# Configuration reference",
        "",
        "<!-- generated by `python -m oltr.config.reference` from oltr/config/schema.py and the loss registry; "
        "do not edit by hand -->",
        "",
        "A run config is a YAML file (`oltr train --config FILE`) whose sections map onto the dataclasses of "
        "`oltr/config/schema.py`. Every key below can also be set with `--set KEY=VALUE` (the value is parsed as "
        "YAML; `1e-3` style numbers are accepted for floats). Unknown keys and wrong types are errors naming "
        "the file and the key. The run's `config.yaml` stores the fully resolved config: every key, the loss's "
        "defaults, absolute paths, and for stage 2 the stage-1 run it loaded (`init_from`).",
        "",
        f"Required keys: {', '.join(f'`{k}`' for k in REQUIRED_KEYS)} (no dataset is assumed).",
        "",
        "## Top level",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
        *_rows(RunConfig),
        "",
        "### `loss`: a registered loss and its parameters",
        "",
        "`loss: {name: NAME, PARAM: VALUE, ...}` (flat). Parameters left out take the loss's default, which is "
        "written into the run's `config.yaml`; two configs that differ only by writing a default out are the "
        "same experiment (same config hash, same leaderboard row). `(engine)` parameters are filled in per "
        "run: `epochs` = the stage's epochs, `class_counts` = the training counts.",
        "",
        "| `loss.name` | what it is | parameters (default) |",
        "|---|---|---|",
        *_loss_rows(),
        "",
        SUITE_FORMAT,
    ]
    return "\n".join(top).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oltr.config.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --out is not current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale: run `python -m oltr.config.reference`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
