"""A small name -> builder registry with metadata, shared by losses, models and datasets.

Users pick components by name (``build_loss("cfl", ...)``), as timm does for models. Registering a
component is one decorator; metadata (``needs_class_counts``, ``cyclical``, ...) lives on the entry so
that no code elsewhere has to compare name strings.
"""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, TypeVar

T = TypeVar("T", bound=Callable[..., Any])
C = TypeVar("C")


def check_choice(name: str, value: C, choices: Iterable[Any]) -> C:
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming ``name`` and listing them."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


@dataclass(frozen=True)
class Entry:
    """One registered component: its name, builder and free-form metadata."""

    name: str
    builder: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)
    description: str = ""


class Registry(Generic[T]):
    """Maps names to builders.

    Example:
        >>> LOSSES = Registry("loss")
        >>> @LOSSES.register("ce", needs_class_counts=False)
        ... def make_ce(**kw): return "ce"
        >>> LOSSES.build("ce")
        'ce'
        >>> LOSSES.names()
        ['ce']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str | None = None, *, description: str = "", **meta: Any) -> Callable[[T], T]:
        """Decorator registering ``builder`` under ``name`` (default: its ``__name__``)."""

        def wrap(builder: T) -> T:
            key = name or builder.__name__
            if key in self._entries:
                warnings.warn(f"{self.kind} {key!r} registered twice; the later definition wins", stacklevel=2)
            doc = description or (builder.__doc__ or "").strip().splitlines()[0:1]
            self._entries[key] = Entry(key, builder, dict(meta), doc if isinstance(doc, str) else "".join(doc))
            return builder

        return wrap

    def get(self, name: str) -> Entry:
        """The entry for ``name``; an unknown name raises ``ValueError`` listing the valid ones."""
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(sorted(self._entries))}"
            ) from None

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Build ``name``; keyword arguments whose value is ``None`` are dropped so defaults live in one place."""
        return self.get(name).builder(**{k: v for k, v in kwargs.items() if v is not None})

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching an fnmatch ``pattern``."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
