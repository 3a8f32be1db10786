"""The METHODS registry: stage-2 methods applied to a finished stage-1 run, chosen by name.

Each builder is ``fn(ctx: MethodContext, **params) -> MethodOutput``; ``meta["label"]`` is the name
shown in leaderboards, ``meta["trains"]`` says whether it fits parameters (cRT, LWS) or is post-hoc.
The two training methods of the OLTR pipeline (``plain`` = the stage-1 model itself, ``oltr`` = the
meta-embedding stage 2 trained by ``oltr train``) are not in the registry but have labels in
:data:`METHOD_LABELS`, so every row of a leaderboard is named the same way.
"""

from __future__ import annotations

from oltr.registry import Registry

METHODS: Registry = Registry("method")

#: Training methods of the pipeline itself (run by ``oltr train``), by name -> leaderboard label.
PIPELINE_METHODS = {"plain": "Plain", "oltr": "OLTR"}


def method_label(name: str) -> str:
    """Leaderboard label of a method name (``crt`` -> ``cRT``); unknown names are shown as given."""
    if name in PIPELINE_METHODS:
        return PIPELINE_METHODS[name]
    return METHODS.get(name).meta.get("label", name) if name in METHODS else name


def all_method_names() -> list[str]:
    """Pipeline methods first, then the registry's."""
    return [*PIPELINE_METHODS, *METHODS.names()]
