"""Settings of hermes' modules (defenses, attacks): declared once, checked when set, shown in repr.

A module class declares each hyperparameter once, as an annotated class attribute whose value is
:func:`setting` (its default, its check, how ``repr`` shows it), the way a dataclass declares
its fields. :class:`SettingsModule` turns the declarations into the constructor (with a real
signature for ``help()``, IPython and, through ``dataclass_transform``, static type checkers),
checks each value whenever it is set (in the constructor or by a later assignment), never again
on a call, and builds ``extra_repr`` from them.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from torch import nn

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover - Python 3.10
    from typing_extensions import dataclass_transform

__all__ = ["Setting", "SettingsModule", "setting", "settings_repr"]

REQUIRED: Any = inspect.Parameter.empty
"""The default of a setting that has none (a required constructor argument)."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its name, its check, how ``repr`` shows it, and its constructor default.

    Attributes:
        name: the constructor argument, the instance attribute and the operation's keyword.
        check: ``check(value, name)`` returns the value to keep or raises an error naming
            ``name``; ``None`` keeps the value as given (or leaves the check to the base class).
        fmt: how ``repr`` writes the value (``"{:g}"`` for floats).
        shown: whether ``repr`` shows the setting.
        default: the constructor's default; :data:`REQUIRED` makes the argument required.
        kw_only: whether the constructor takes it by keyword only.

    Example:
        >>> from hermes._validation import check_odd_int
        >>> Setting("window_size", check_odd_int).checked(4)
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: window_size must be a positive odd integer; got 4
    """

    name: str
    check: Callable[[Any, str], Any] | None = None
    fmt: str = "{!r}"
    shown: bool = True
    default: Any = REQUIRED
    kw_only: bool = False

    def checked(self, value: Any) -> Any:
        """``value`` after this setting's check (unchanged without one)."""
        return value if self.check is None else self.check(value, self.name)

    def parameter(self) -> inspect.Parameter:
        """The constructor parameter this setting declares."""
        kind = (
            inspect.Parameter.KEYWORD_ONLY
            if self.kw_only
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        return inspect.Parameter(self.name, kind, default=self.default)


def setting(
    check: Callable[[Any, str], Any] | None = None,
    fmt: str = "{!r}",
    *,
    default: Any = REQUIRED,
    shown: bool = True,
    kw_only: bool = False,
) -> Any:
    """Declare a setting of a :class:`SettingsModule` subclass as an annotated class attribute.

    Args:
        check: ``check(value, name)``, run on every value the setting is given.
        fmt: how ``repr`` writes the value.
        default: the constructor's default (none: the argument is required). By keyword, as
            ``dataclass_transform`` asks of a field specifier, so type checkers see it.
        shown: whether ``repr`` shows it.
        kw_only: whether the constructor takes it by keyword only.

    Example:
        >>> from hermes._validation import check_positive_int
        >>> class _Repeat(SettingsModule):
        ...     times: int = setting(check_positive_int, default=2)
        ...     def forward(self, x):
        ...         return x.repeat(self.times)
        >>> _Repeat(3), _Repeat()
        (_Repeat(times=3), _Repeat(times=2))
        >>> _Repeat(0)
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: times must be an integer >= 1; got 0
    """
    return Setting("", check, fmt, shown, default, kw_only)


class _ClassOnly:
    """A class attribute that instances do not see (``inspect.signature(module)`` is the
    signature of its ``forward``, not of its constructor)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __get__(self, instance: object, owner: type) -> Any:
        if instance is not None:
            raise AttributeError("__signature__")
        return self.value


@dataclass_transform(field_specifiers=(setting,))
class SettingsModule(nn.Module):
    """An ``nn.Module`` whose constructor is made from the settings its class declares.

    Each annotated class attribute set to :func:`setting` is a setting, inherited settings
    first (as in a dataclass). The constructor takes them in that order (keyword-only ones
    last) and sets each one; every assignment, then or later, runs the setting's check;
    ``extra_repr`` shows them. A subclass may define ``__post_init__`` to finish the
    construction (fill a default that depends on other settings, say).

    Attributes:
        settings: the class's settings, in declaration order.
    """

    settings: ClassVar[tuple[Setting, ...]] = ()
    _checks: ClassVar[dict[str, Setting]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(vars(cls).get("settings"), tuple):
            raise TypeError(
                f"{cls.__name__} declares settings as a tuple; declare each one as an annotated "
                "class attribute instead, e.g. steps: int = setting(check_positive_int, default=10)"
            )
        declared = {name: value for name, value in vars(cls).items() if isinstance(value, Setting)}
        merged = {s.name: s for s in cls.settings}  # inherited, first, in their order
        for name, value in declared.items():
            delattr(cls, name)  # the instance attribute (or nn.Module's registry) holds the value
            merged[name] = dataclasses.replace(value, name=name)
        cls.settings = tuple(merged.values())
        cls._checks = merged
        annotations: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            annotations.update(vars(klass).get("__annotations__", {}))
        parameters = [
            s.parameter().replace(annotation=annotations.get(s.name, inspect.Parameter.empty))
            for s in cls.settings
        ]
        ordered = [p for p in parameters if p.kind is not p.KEYWORD_ONLY]
        ordered += [p for p in parameters if p.kind is p.KEYWORD_ONLY]
        try:
            signature = inspect.Signature(ordered, return_annotation=None)
        except ValueError as error:
            raise TypeError(f"{cls.__name__}'s settings: {error}") from None
        cls.__signature__ = _ClassOnly(signature)  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        try:
            bound = cls.__signature__.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{cls.__name__}(): {error}") from None
        bound.apply_defaults()
        super().__init__()
        for name, value in bound.arguments.items():
            setattr(self, name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        """Finish the construction once every setting is set (nothing, unless overridden)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._checks:
            value = self._checks[name].checked(value)
        super().__setattr__(name, value)

    def extra_repr(self) -> str:
        return settings_repr(self, self.settings)


SettingsModule.__signature__ = _ClassOnly(inspect.Signature(return_annotation=None))  # type: ignore[assignment]


def settings_repr(owner: object, settings: Iterable[Setting]) -> str:
    """``name=value`` for every shown setting of ``owner``, comma-separated (for ``extra_repr``)."""
    return ", ".join(
        f"{s.name}={s.fmt.format(getattr(owner, s.name))}" for s in settings if s.shown
    )
