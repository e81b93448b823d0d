"""One typed registry for every pluggable thing: datasets, methods, models, optimizers, losses, ...

Duplicate names are an error, unknown names suggest close matches, and plug-in packages
(``methods``, ``baselines`` and third-party ones) are imported lazily through the
``ddbench.plugins`` entry-point group so that the harness never imports them by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from benchmarks.errors import UserError, suggest

T = TypeVar("T")

PLUGIN_GROUP = "ddbench.plugins"
_plugins_loaded = False


def load_plugins() -> None:
    """Import every module named in the ``ddbench.plugins`` entry-point group and, for a package, every
    module inside it (names starting with ``_`` excepted), once: a new method file needs no import list."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        module = importlib.import_module(ep.value)
        for info in sorted(pkgutil.iter_modules(getattr(module, "__path__", [])), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{module.__name__}.{info.name}")


def origin(obj: object) -> str:
    """The module that defines a registered function or class (what `ddbench list --long` shows)."""
    return getattr(obj, "__module__", "?")


class Registry(Generic[T]):
    """A name -> object map with decorator registration and helpful lookup errors."""

    def __init__(self, kind: str, needs_plugins: bool = False, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._items: dict[str, T] = {}
        self._needs_plugins = needs_plugins

    def register(self, name: str, obj: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj
        return obj

    def decorator(self, name: str | None = None) -> Callable[[T], T]:
        """``@REG.decorator()`` registers a function or class under its own (or a given) name."""

        def wrap(obj: T) -> T:
            return self.register(name or obj.__name__, obj)  # type: ignore[attr-defined]

        return wrap

    def _ensure(self) -> None:
        if self._needs_plugins:
            load_plugins()

    def get(self, name: str) -> T:
        self._ensure()
        if not isinstance(name, str):
            raise UserError(f"a {self.kind} must be named by a string, got {name!r}; see `ddbench list {self.plural}`")
        try:
            return self._items[name]
        except KeyError:
            raise UserError(
                f"unknown {self.kind} {name!r}{suggest(name, self._items)}; "
                f"see `ddbench list {self.plural}`"
            ) from None

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        self._ensure()
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure()
        return len(self._items)
