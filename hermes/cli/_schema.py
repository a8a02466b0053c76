"""Config tables checked against, and turned into, Python calls, from signatures and type hints.

Nothing here lists hermes' arguments by hand: the valid keys of a table are the keyword
parameters of the function or class it stands for, their types come from its type hints and
their defaults from its signature. A new keyword argument of ``fine_tune`` or
``evaluate_robustness`` is a new config key the day it is added.

- :func:`parameters`: the keyword parameters of a function or class.
- :func:`check_table`: check a table against them (unknown keys with the closest valid one
  suggested, wrong types naming the key, missing required keys), fill in the defaults, and
  return the resolved table, in which tables for a class parameter (a dataclass such as
  ``AdversarialTraining``, or a hermes class such as ``Augmentation``) become :class:`Call`.
- :func:`to_plain` (what the saved config holds) and :func:`instantiate` (the Python objects).

TOML has no null: for a key that accepts ``None``, the string ``"none"`` means ``None``.

Example:
    >>> def train(data, *, epochs: int = 10, lr: float = 1e-3, tag: str | None = None): ...
    >>> resolved = check_table({"epochs": 3, "tag": "none"}, parameters(train, skip={"data"}))
    >>> resolved
    {'epochs': 3, 'lr': 0.001, 'tag': None}
    >>> check_table({"epoch": 3}, parameters(train, skip={"data"}))
    Traceback (most recent call last):
    ...
    hermes.cli._errors.ConfigError: unknown key 'epoch'; did you mean 'epochs'? (valid keys: epochs, lr, tag)
    >>> check_table({"lr": "fast"}, parameters(train, skip={"data"}))
    Traceback (most recent call last):
    ...
    hermes.cli._errors.ConfigError: key 'lr' must be a number (float); got the string 'fast'
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, Literal, Union

from hermes._settings import SettingsModule
from hermes.cli._errors import ConfigError, suggest

__all__ = [
    "Call",
    "Param",
    "check_table",
    "check_value",
    "instantiate",
    "is_plain",
    "join",
    "parameters",
    "to_plain",
]

REQUIRED = inspect.Parameter.empty
_NONE_WORDS = ("none", "null")


@dataclasses.dataclass(frozen=True)
class Param:
    """One keyword parameter: its name, type hint (``Any`` when unknown) and default."""

    name: str
    hint: Any = Any
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclasses.dataclass
class Call:
    """A resolved table standing for ``target(**kwargs)``.

    Attributes:
        target: the function or class.
        kwargs: the resolved keyword arguments (may hold further :class:`Call` s).
        where: the table's key in the config, for error messages.
        type_name: the table's ``type`` entry (a registry name), kept in the plain form.
    """

    target: Callable[..., Any]
    kwargs: dict[str, Any]
    where: str = ""
    type_name: str | None = None

    def plain(self) -> dict[str, Any]:
        head = {} if self.type_name is None else {"type": self.type_name}
        return {**head, **{k: to_plain(v) for k, v in self.kwargs.items()}}

    def build(self) -> Any:
        """``target(**kwargs)``, a bad value reported as a :class:`ConfigError` naming the table."""
        kwargs = {k: instantiate(v) for k, v in self.kwargs.items()}
        try:
            return self.target(**kwargs)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{self.where or 'config'}: {error}") from error


def join(where: str, key: str | int) -> str:
    """The dotted (or indexed) name of ``key`` inside the table ``where``.

    Example:
        >>> join("", "seed"), join("adaptive", "eot_samples"), join("epsilons", 2)
        ('seed', 'adaptive.eot_samples', 'epsilons[2]')
    """
    if isinstance(key, int):
        return f"{where}[{key}]"
    part = key if key.replace("_", "").replace("-", "").isalnum() else repr(key)
    return f"{where}.{part}" if where else part


def _hints(target: Any) -> dict[str, Any]:
    """Resolved type hints of a function or class (``{}`` entries left out where they fail)."""
    holder = target
    declared = dataclasses.is_dataclass(target) or (
        isinstance(target, type) and issubclass(target, SettingsModule)
    )
    if isinstance(target, type) and not declared:  # else the class's annotations are its fields
        holder = target.__init__
    try:
        return typing.get_type_hints(holder)
    except Exception:  # an annotation that does not evaluate: resolve the others one by one
        pass
    raw = getattr(holder, "__annotations__", {}) or {}
    module = sys.modules.get(getattr(target, "__module__", ""), None)
    namespace = dict(vars(module)) if module is not None else {}
    out = {}
    for name, annotation in raw.items():
        try:
            out[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
        except Exception:
            out[name] = Any
    return out


def parameters(target: Callable[..., Any], skip: abc.Iterable[str] = ()) -> dict[str, Param]:
    """The parameters of ``target`` (a function or a class) that a config table can set.

    ``*args``/``**kwargs`` and the names in ``skip`` (what the command line supplies itself,
    such as the model) are left out.

    Example:
        >>> from hermes.evaluation import AdaptiveSettings
        >>> list(parameters(AdaptiveSettings))
        ['gradient_modes', 'transfer', 'eot_samples', 'selection_draws', 'apgd_steps']
    """
    skip = set(skip)
    hints = _hints(target)
    out = {}
    for p in inspect.signature(target).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in skip or p.name == "self":
            continue
        out[p.name] = Param(p.name, hints.get(p.name, Any), p.default)
    return out


def takes_any_keyword(target: Callable[..., Any]) -> bool:
    """Whether ``target`` takes ``**kwargs`` (then a table may hold keys of its own)."""
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())


def is_plain(value: Any) -> bool:
    """Whether ``value`` is made of what TOML/YAML hold: None, bool, numbers, str, lists, tables.

    Example:
        >>> is_plain({"a": [1, 2.0, None, "x"]}), is_plain(object())
        (True, False)
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False


def to_plain(value: Any) -> Any:
    """The resolved config as plain values (tuples as lists, :class:`Call` as its table)."""
    return _map_calls(value, lambda call: call.plain(), (list, tuple))


def instantiate(value: Any) -> Any:
    """The Python objects of a resolved value (every :class:`Call` built)."""
    return _map_calls(value, lambda call: call.build(), (list,))


def _map_calls(value: Any, on_call: Callable[[Call], Any], sequences: tuple[type, ...]) -> Any:
    """``value`` with every :class:`Call` inside dicts and ``sequences`` (as lists) replaced by
    ``on_call(call)``."""
    if isinstance(value, Call):
        return on_call(value)
    if isinstance(value, dict):
        return {k: _map_calls(v, on_call, sequences) for k, v in value.items()}
    if isinstance(value, sequences):
        return [_map_calls(v, on_call, sequences) for v in value]
    return value


def check_table(
    table: Any,
    params: Mapping[str, Param],
    where: str = "",
    *,
    extra_keys: bool = False,
    fill_defaults: bool = True,
) -> dict[str, Any]:
    """Check ``table`` against ``params``; return it resolved, defaults filled in.

    Args:
        table: the config table (a dict).
        params: its valid keys (:func:`parameters`).
        where: the table's own key, for messages (``""`` for the top level).
        extra_keys: accept keys that are not parameters (for ``**kwargs``), unchecked.
        fill_defaults: add the defaults of the keys not given (those with plain values).

    Raises:
        ConfigError: a key is unknown (the closest valid one suggested) or missing, or a value
            has the wrong type.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{_key(where)} must be a table (key = value pairs); got {_kind(table)}")
    for key in table:
        if key not in params and not extra_keys:
            valid = ", ".join(params) or "none"
            raise ConfigError(
                f"unknown key {join(where, str(key))!r}{suggest(key, params, where)} (valid keys: {valid})"
            )
    out: dict[str, Any] = {}
    for name, param in params.items():
        if name in table:
            out[name] = check_value(table[name], param.hint, join(where, name))
        elif param.required:
            raise ConfigError(f"missing key {join(where, name)!r} (it has no default)")
        elif fill_defaults and is_plain(param.default):
            out[name] = to_plain(param.default)
    out.update({k: v for k, v in table.items() if k not in params})
    return out


class _Mismatch(Exception):
    """The value is not of the kind the hint asks for (tried the next member of a union)."""


def check_value(value: Any, hint: Any, where: str) -> Any:
    """Check one config value against a type hint; return it resolved.

    Example:
        >>> check_value([0, 0.01], list[float], "epsilons")
        [0, 0.01]
        >>> check_value([0, "a"], list[float], "epsilons")
        Traceback (most recent call last):
        ...
        hermes.cli._errors.ConfigError: key 'epsilons[1]' must be a number (float); got the string 'a'
    """
    try:
        return _check(value, hint, where)
    except _Mismatch:
        raise ConfigError(
            f"key {where!r} must be {_expected(hint)}; got {_kind(value)}{_did_you_mean(value, hint)}"
        ) from None


def _check(value: Any, hint: Any, where: str) -> Any:
    if hint is Any or hint is REQUIRED or hint is object or isinstance(hint, (typing.TypeVar, str)):
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union or origin is types.UnionType:
        if type(None) in args and _is_none(value):
            return None
        for member in args:
            if member is type(None):
                continue
            try:
                return _check(value, member, where)
            except _Mismatch:
                continue
        raise _Mismatch
    if hint is type(None):
        if _is_none(value):
            return None
        raise _Mismatch
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise _Mismatch
    if hint is bool:
        return _require(value, isinstance(value, bool))
    if hint is int:
        return _require(value, isinstance(value, int) and not isinstance(value, bool))
    if hint is float:
        return _require(value, isinstance(value, (int, float)) and not isinstance(value, bool))
    if hint is str:
        return _require(value, isinstance(value, str))
    if _is_path_hint(hint):
        return _require(value, isinstance(value, str))
    if origin in (list, tuple, set, frozenset, abc.Sequence, abc.Collection, abc.Iterable):
        if not isinstance(value, list):
            raise _Mismatch
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(
                    f"key {where!r} must be a list of {len(args)} values; got {len(value)}"
                )
            return [check_value(v, a, join(where, i)) for i, (v, a) in enumerate(zip(value, args))]
        item = args[0] if args else Any
        return [check_value(v, item, join(where, i)) for i, v in enumerate(value)]
    if origin in (dict, abc.Mapping, abc.MutableMapping) or hint in (dict, abc.Mapping):
        if not isinstance(value, dict):
            raise _Mismatch
        item = args[1] if len(args) == 2 else Any
        return {k: check_value(v, item, join(where, k)) for k, v in value.items()}
    if hint in (list, tuple):
        return _require(value, isinstance(value, list))
    if isinstance(hint, type):
        if isinstance(value, dict) and _constructible(hint):
            target: Callable[..., Any] = hint
            kwargs = check_table(
                value, parameters(target), where, extra_keys=takes_any_keyword(target)
            )
            return Call(target, kwargs, where)
        if isinstance(value, hint):
            return value
        raise _Mismatch
    return value  # a typing construct this checker does not know: hermes checks it


def _require(value: Any, ok: bool) -> Any:
    if not ok:
        raise _Mismatch
    return value


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.lower() in _NONE_WORDS)


def _is_path_hint(hint: Any) -> bool:
    return hint is os.PathLike or (isinstance(hint, type) and issubclass(hint, PurePath))


def _constructible(cls: type) -> bool:
    """A class a table can stand for: a dataclass, or a class of hermes' own."""
    return dataclasses.is_dataclass(cls) or cls.__module__.split(".")[0] == "hermes"


def _expected(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union or origin is types.UnionType:
        return " or ".join(dict.fromkeys(_expected(a) for a in args))
    if hint is type(None):
        return 'none (null in YAML, "none" in TOML)'
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    names = {bool: "a boolean", int: "an integer", float: "a number (float)", str: "a string"}
    if hint in names:
        return names[hint]
    if _is_path_hint(hint):
        return "a path (string)"
    if origin in (list, tuple, set, frozenset, abc.Sequence, abc.Collection, abc.Iterable):
        item = args[0] if args else Any
        return "a list" + ("" if item is Any else f" of {_expected(item).removeprefix('a ')}")
    if origin in (dict, abc.Mapping, abc.MutableMapping) or hint in (dict, abc.Mapping):
        return "a table"
    if isinstance(hint, type):
        if _constructible(hint):
            return f"a table of {hint.__name__} arguments"
        return f"a {hint.__name__} (which a config cannot hold)"
    return str(hint)


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return f"a table with keys {', '.join(map(str, value)) or '(none)'}"
    for kind, word in ((int, "integer"), (float, "number"), (str, "string"), (list, "list")):
        if isinstance(value, kind):
            return f"the {word} {value!r}"
    return f"a {type(value).__name__}"


def _did_you_mean(value: Any, hint: Any) -> str:
    choices: list[str] = []
    stack = [hint]
    while stack:
        h = stack.pop()
        if typing.get_origin(h) is Literal:
            choices += [a for a in typing.get_args(h) if isinstance(a, str)]
        elif typing.get_origin(h) in (Union, types.UnionType):
            stack += list(typing.get_args(h))
    return suggest(value, choices) if isinstance(value, str) and choices else ""


def _key(where: str) -> str:
    return f"key {where!r}" if where else "the config"
