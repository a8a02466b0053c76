"""Settings of hermes' modules (defenses, attacks): declared once, checked when set, shown in repr.

A module class declares its hyperparameters as a tuple of :class:`Setting`; its base class checks
each value whenever it is set (in the constructor or by a later assignment), never again on a
call, and builds ``extra_repr`` from them. The functional twin checks the same declarations with
:func:`check_settings`, so a setting's rule is written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["Setting", "check_settings", "settings_repr"]


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its name, its check, and how ``repr`` shows it.

    Attributes:
        name: the constructor argument, the instance attribute and the operation's keyword.
        check: ``check(value, name)`` returns the value to keep or raises an error naming
            ``name``; ``None`` keeps the value as given (or leaves the check to the base class).
        fmt: how ``repr`` writes the value (``"{:g}"`` for floats).
        shown: whether ``repr`` shows the setting.

    Example:
        >>> from hermes._validation import check_odd_int
        >>> Setting("window_size", check_odd_int).check(4, "window_size")
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: window_size must be a positive odd integer; got 4
    """

    name: str
    check: Callable[[Any, str], Any] | None = None
    fmt: str = "{!r}"
    shown: bool = True

    def checked(self, value: Any) -> Any:
        """``value`` after this setting's check (unchanged without one)."""
        return value if self.check is None else self.check(value, self.name)


def check_settings(settings: Iterable[Setting], values: Mapping[str, Any]) -> dict[str, Any]:
    """Check every declared setting's value; return them checked, in declaration order.

    Example:
        >>> from hermes._validation import check_positive_int
        >>> check_settings([Setting("steps", check_positive_int)], {"steps": 3})
        {'steps': 3}
    """
    return {s.name: s.checked(values[s.name]) for s in settings}


def settings_repr(owner: object, settings: Iterable[Setting]) -> str:
    """``name=value`` for every shown setting of ``owner``, comma-separated (for ``extra_repr``)."""
    return ", ".join(
        f"{s.name}={s.fmt.format(getattr(owner, s.name))}" for s in settings if s.shown
    )
