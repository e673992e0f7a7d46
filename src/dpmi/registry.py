"""One registry type for every extension point, and third-party plugins.

Every kind of thing a user may add to dpmi (models, accountants, attacks, judges, defenses, data formats,
executors, report sections) lives in a `Registry[T]`: one registration line adds it, and everything that
lists, validates or builds that kind goes through the registry, so no list of names is written twice.

    from dpmi.registry import Registry
    JUDGES: Registry[JudgeSpec] = Registry("judge")
    JUDGES.register("my-judge", spec, summary="one line for --help")
    JUDGES.get("my-judge"); JUDGES.names(); JUDGES.describe()

Plugins: a module outside dpmi that registers things when imported. `load_plugins(["pkg.module"])` imports
the named modules (the CLI's repeated `--plugin pkg.module`), and `load_entry_point_plugins()` imports every
module published under the `dpmi.plugins` entry-point group of installed distributions
(`[project.entry-points."dpmi.plugins"] name = "pkg.module"`). This module imports nothing heavy: listing
names never pulls in torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

ENTRY_POINT_GROUP = "dpmi.plugins"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered item: its name, the item, a one-line summary, and the module that registered it."""

    name: str
    item: T
    summary: str
    origin: str


class Registry(Generic[T]):
    """Named items of one kind, in registration order.

    Args:
        kind: what the items are, for messages ("attack", "judge", "defense", ...).
        loader: called once before the first lookup; imports the modules that register the built-ins
            (kept lazy so that importing the registry is cheap and has no import circle).
    """

    def __init__(self, kind: str, loader: Callable[[], None] | None = None) -> None:
        if not kind or kind != kind.strip():
            raise ValueError(f"a registry kind must be a non-empty word, got {kind!r}")
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._loader = loader
        self._loaded = loader is None

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first: a built-in module that looks itself up while loading must not recurse
            assert self._loader is not None
            self._loader()

    def register(self, name: str, item: T, *, summary: str = "", replace: bool = False) -> T:
        """Add `item` under `name` (a non-empty word without spaces); returns `item`.

        ValueError when the name is taken by another item, unless `replace` is true (a plugin overriding a
        built-in says so explicitly). Registering the very same item twice is a no-op (a module imported
        twice under two names).
        """
        self._load()  # built-ins first, so a plugin registered early still comes after them (and can replace one)
        key = str(name)
        if not key or key != key.strip() or any(ch.isspace() for ch in key):
            raise ValueError(f"a {self.kind} name must be a non-empty word without spaces, got {name!r}")
        old = self._entries.get(key)
        if old is not None and old.item is not item and not replace:
            raise ValueError(
                f"a {self.kind} named {key!r} is already registered (by {old.origin}); "
                "pick another name or pass replace=True"
            )
        origin = _caller_module()
        self._entries[key] = Entry(key, item, summary or _first_doc_line(item), origin)
        return item

    def decorator(self, name: str, *, summary: str = "", replace: bool = False) -> Callable[[T], T]:
        """`@REGISTRY.decorator("name")` above a class or function registers it."""

        def decorate(item: T) -> T:
            return self.register(name, item, summary=summary, replace=replace)

        return decorate

    def unregister(self, name: str) -> None:
        """Remove `name` (tests and plugins that clean up); KeyError-free: absent names are ignored."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The item registered as `name`; ValueError listing the registered names when there is none."""
        self._load()
        entry = self._entries.get(name)
        if entry is None:
            raise ValueError(f"unknown {self.kind} {name!r}: choose one of {', '.join(self._entries) or '(none)'}")
        return entry.item

    def entry(self, name: str) -> Entry[T]:
        """The whole entry (summary, origin) of `name`; ValueError as `get`."""
        self.get(name)
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order (built-ins first, then plugins)."""
        self._load()
        return tuple(self._entries)

    def describe(self) -> dict[str, str]:
        """name -> one-line summary, for `--help`, listings and the report."""
        self._load()
        return {name: entry.summary for name, entry in self._entries.items()}

    def check(self, names: Iterable[str], what: str | None = None) -> tuple[str, ...]:
        """`names` as a tuple after checking every one is registered; ValueError naming the first unknown one
        (and `what`, e.g. "--attacks", where the names came from)."""
        names = tuple(names)
        known = self.names()
        for name in names:
            if name not in self._entries:
                where = f" in {what}" if what else ""
                raise ValueError(f"unknown {self.kind} {name!r}{where}: choose from {', '.join(known) or '(none)'}")
        return names

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        """(name, item) pairs in registration order."""
        self._load()
        return [(name, entry.item) for name, entry in self._entries.items()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


def load_plugins(modules: Iterable[str]) -> list[str]:
    """Import each plugin module by its dotted name (`--plugin pkg.module`), once; returns the names imported.

    A module not found, or one that raises while importing, is a ValueError that names it and says what to do.
    """
    loaded: list[str] = []
    for name in modules:
        name = str(name).strip()
        if not name or any(not part.isidentifier() for part in name.split(".")):
            raise ValueError(f"--plugin takes an importable module name such as mypkg.dpmi_plugin, got {name!r}")
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            raise ValueError(
                f"plugin module {name!r} cannot be imported ({error}): install it, or put its folder on "
                "PYTHONPATH (e.g. PYTHONPATH=. dpmi ...)"
            ) from error
        except Exception as error:  # the plugin's own bug: say whose
            raise ValueError(
                f"plugin module {name!r} failed while importing: {type(error).__name__}: {error}"
            ) from error
        loaded.append(name)
    return loaded


def load_entry_point_plugins() -> list[str]:
    """Import every module published under the `dpmi.plugins` entry-point group; returns their names."""
    from importlib.metadata import entry_points

    names = [point.value.split(":")[0] for point in entry_points(group=ENTRY_POINT_GROUP)]
    return load_plugins(names)


def _caller_module() -> str:
    """The module that called `register` (skipping this file), for "already registered by ..." messages."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    return str(frame.f_globals.get("__name__", "?")) if frame is not None else "?"


def _first_doc_line(item: object) -> str:
    lines = (getattr(item, "__doc__", None) or "").strip().splitlines()
    return lines[0].strip() if lines else ""
