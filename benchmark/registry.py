"""Name → class registries for defenses and threat models (cf. lm-evaluation-harness ``api/registry.py``).

Plug-ins register themselves with a decorator::

    @register_defense("cutout")
    class Cutout(Defense): ...

A registry fills itself on first use by importing the package that holds the built-in entries
(``defenses`` or ``attacks``) and the installed plug-ins of its entry-point group, so the harness never
lists modules by hand.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any


class RegistryError(ValueError):
    """A registry lookup or registration failed; the message is one line naming the problem."""


class Registry:
    """A name → class mapping that rejects duplicates and wrong base classes.

    Args:
        kind: what the entries are, for messages ("defense").
        base: ``"module:Class"`` that every entry must subclass, resolved on first registration.
        package: module imported on first lookup so its entries register themselves.
        entry_point_group: installed plug-ins found through this ``importlib.metadata`` group.
    """

    def __init__(self, kind: str, base: str, package: str, entry_point_group: str | None = None):
        self.kind = kind
        self._base_path = base
        self._package = package
        self._group = entry_point_group
        self._entries: dict[str, type] = {}
        self._loaded = False

    def _base(self) -> type:
        module, _, name = self._base_path.partition(":")
        return getattr(importlib.import_module(module), name)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        importlib.import_module(self._package)
        if self._group:
            for ep in entry_points(group=self._group):
                if ep.name not in self._entries:
                    ep.load()  # a plug-in the user installed; its import registers it

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator filing ``cls`` under ``name`` (also stored as ``cls.name``)."""

        def wrap(cls: type) -> type:
            base = self._base()
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise RegistryError(f"{self.kind} {name!r}: {cls!r} is not a subclass of {base.__name__}")
            if name in self._entries and self._entries[name] is not cls:
                raise RegistryError(f"{self.kind} {name!r} is already registered by {self._entries[name]!r}")
            cls.name = name
            self._entries[name] = cls
            return cls

        return wrap

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plug-in reloads)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> type:
        """The class registered as ``name``; an unknown name raises with the list of valid ones."""
        self._load()
        if name not in self._entries:
            raise RegistryError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return self._entries[name]

    def create(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        self._load()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


DEFENSES = Registry("defense", "defenses.base:Defense", "defenses", "defense_bench.defenses")
THREAT_MODELS = Registry("threat model", "attacks.base:ThreatModel", "attacks", "defense_bench.threats")
register_defense = DEFENSES.register
register_threat = THREAT_MODELS.register
