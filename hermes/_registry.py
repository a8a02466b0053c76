"""A registry of hermes' own classes of one kind (attacks, defenses), filled by their base class.

A base class calls :meth:`Registry.add` from ``__init_subclass__``; every public class defined in
a ``hermes.*`` module is then listed (a class whose name starts with ``_``, or one defined outside
hermes, is not). The invariant suites loop over the registry, so a new class is tested the day it
is added.

Example:
    >>> registry = Registry("widget")
    >>> class Widget:
    ...     def __init_subclass__(cls, **kwargs):
    ...         super().__init_subclass__(**kwargs)
    ...         registry.add(cls)
    >>> class Gear(Widget): ...
    >>> class _Draft(Widget): ...
    >>> registry.names()
    ['Gear']
    >>> registry.get("Cog")
    Traceback (most recent call last):
    ...
    ValueError: name must be one of 'Gear' (hermes' widgets); got 'Cog'
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes of one kind by name.

    Args:
        kind: what the classes are, for error messages (``"defense"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, T] = {}

    def add(self, cls: T) -> None:
        """Register ``cls`` under its name if it is public and defined in hermes."""
        if cls.__module__.startswith("hermes.") and not cls.__name__.startswith("_"):
            self._classes[cls.__name__] = cls

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._classes)

    def get(self, name: str) -> T:
        """The class registered under ``name``; a ValueError naming the known ones otherwise."""
        if name not in self._classes:
            known = ", ".join(map(repr, self.names()))
            raise ValueError(f"name must be one of {known} (hermes' {self.kind}s); got {name!r}")
        return self._classes[name]
