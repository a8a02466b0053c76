"""Config tables for the objects a run is made of: data sets, attacks, defenses, models, paths.

- A data table names a ``torch`` ``Dataset`` class of :mod:`hermes.data` in ``type`` (default
  ``"PCam"``); its other keys are that class's arguments (``root``, ``split``, ``limit``,
  ``stratify``, ``seed``, ...).
- An attack or defense table names a class of the registry (:func:`hermes.attacks.list_attacks`,
  :func:`hermes.defenses.list_defenses`) in ``type`` (default: the table's own name, when that
  is a class name); its other keys are the constructor's arguments. An attack becomes the
  factory ``evaluate_robustness`` takes: the class itself, or ``functools.partial(cls, **keys)``.
  Attack tables keep only the keys given (an attack factory is known in the cache by the
  arguments it is given), others get their defaults filled in.
- A model table holds the arguments of :func:`hermes.models.resnet18` (the study's builder) or,
  with a ``name`` key, those of :func:`hermes.models.build_model` (``name = "densenet121"``).

Relative paths are read from the current folder and written to the resolved config as absolute
paths, so the saved config repeats the run from anywhere.

Example:
    >>> attacks = attack_tables({"FGSM": {}, "PGD": {"steps": 30, "random_start": False}})
    >>> attacks["PGD"].plain()
    {'type': 'PGD', 'steps': 30, 'random_start': False}
    >>> attacks["PGD"].build()
    functools.partial(<class 'hermes.attacks.pgd.PGD'>, steps=30, random_start=False)
    >>> defense_tables({"JPEG q50": {"type": "JPEG", "quality": 50}})["JPEG q50"].build()
    JPEG(quality=50, gradient='surrogate', differentiable=False)
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from hermes.cli._errors import ConfigError, suggest
from hermes.cli._schema import (
    Call,
    _is_path_hint,
    check_table,
    check_value,
    join,
    parameters,
    takes_any_keyword,
)

__all__ = [
    "FactoryCall",
    "attack_tables",
    "dataset_classes",
    "dataset_table",
    "defense_tables",
    "existing_path",
    "model_table",
]

DEFAULT_DATASET = "PCam"


def existing_path(value: Any, where: str, *, kind: str = "file") -> str:
    """``value`` as an absolute path that exists (``kind`` ``"file"`` or ``"folder"``)."""
    text = check_value(value, str, where)
    path = Path(os.path.abspath(os.path.expanduser(text)))
    if not path.exists():
        raise ConfigError(f"{where}: {kind} {text!r} does not exist (looked for {str(path)!r})")
    if kind == "folder" and not path.is_dir():
        raise ConfigError(f"{where}: {text!r} is a file, not a folder")
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{where}: {text!r} is a folder, not a file")
    return str(path)


def output_path(value: Any, where: str) -> str:
    """``value`` as an absolute path (that need not exist yet)."""
    return os.path.abspath(os.path.expanduser(check_value(value, str, where)))


class FactoryCall(Call):
    """An attack table: builds the factory ``(model, eps) -> attack``, not an attack."""

    def build(self) -> Any:
        if not self.kwargs:
            return self.target
        return functools.partial(self.target, **self.kwargs)


def dataset_classes() -> dict[str, type]:
    """The ``Dataset`` classes a data table can name: those :mod:`hermes.data` exports."""
    import hermes.data

    found = {}
    for name in getattr(hermes.data, "__all__", ()):
        obj = getattr(hermes.data, name, None)
        if isinstance(obj, type) and issubclass(obj, Dataset):
            found[name] = obj
    return found


def dataset_table(value: Any, where: str) -> Call:
    """A data table (``type`` and the class's arguments), path arguments checked to exist."""
    classes = dataset_classes()
    table = _table(value, where, f"type = {DEFAULT_DATASET!r} and root = the data folder")
    name = table.pop("type", DEFAULT_DATASET)
    if name not in classes:
        raise ConfigError(
            f"{join(where, 'type')}: unknown data set {name!r}{suggest(name, classes)} "
            f"(known: {', '.join(classes)})"
        )
    cls = classes[name]
    kwargs = check_table(table, parameters(cls, skip={"transform"}), where)
    for key, param in parameters(cls).items():
        if kwargs.get(key) is not None and _accepts_path(param.hint):
            kind = "folder" if key == "root" else "file"
            kwargs[key] = existing_path(kwargs[key], join(where, key), kind=kind)
    return Call(cls, kwargs, where, type_name=name)


def attack_tables(value: Any, where: str = "attacks") -> dict[str, FactoryCall]:
    """Attack tables ``name -> {type, constructor arguments}`` (no model, no eps)."""
    from hermes.attacks import get_attack, list_attacks

    return _registry_tables(
        value, where, "attack", list_attacks(), get_attack, skip={"model", "eps"}, factory=True
    )


def defense_tables(value: Any, where: str = "defenses") -> dict[str, Call]:
    """Defense tables ``name -> {type, constructor arguments}``."""
    from hermes.defenses import get_defense, list_defenses

    return _registry_tables(value, where, "defense", list_defenses(), get_defense)


def model_table(value: Any, where: str = "model") -> Call:
    """A model table: :func:`hermes.models.resnet18`'s arguments (the study's builder), or, with
    a ``name`` key, :func:`hermes.models.build_model`'s (any torchvision or timm architecture).
    """
    import hermes.models

    table = _table(value, where, "the model builder's arguments (num_outputs, weights, ...)")
    if "name" not in table:
        kwargs = check_table(table, parameters(hermes.models.resnet18), where)
        return Call(hermes.models.resnet18, kwargs, where)
    build_model = hermes.models.build_model
    name = check_value(table.pop("name"), str, join(where, "name"))
    kwargs = check_table(table, parameters(build_model, skip={"name"}), where)
    return _NamedCall(build_model, kwargs, where, name)


class _NamedCall(Call):
    """``build_model(name, **kwargs)``, written back as ``name = ...`` and the arguments."""

    def __init__(self, target: Callable[..., Any], kwargs: dict[str, Any], where: str, name: str):
        super().__init__(target, kwargs, where)
        self.name = name

    def plain(self) -> dict[str, Any]:
        return {"name": self.name, **super().plain()}

    def build(self) -> Any:
        return Call(functools.partial(self.target, self.name), self.kwargs, self.where).build()


def _table(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"key {where!r} must be a table ({what}); got {value!r}")
    return dict(value)


def _accepts_path(hint: Any) -> bool:
    return _is_path_hint(hint) or any(_is_path_hint(a) for a in typing.get_args(hint))


def _registry_tables(
    value: Any,
    where: str,
    kind: str,
    names: list[str],
    get: Callable[[str], type],
    *,
    skip: set[str] | frozenset[str] = frozenset(),
    factory: bool = False,
) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"key {where!r} must be a table of name -> {{type = <{kind} class>, ...}}; got {value!r}"
        )
    out = {}
    for label, table in value.items():
        key = join(where, label)
        table = _table(table, key, f"type = one of {', '.join(names)}, and its arguments")
        name = table.pop("type", label if label in names else None)
        if name is None:
            raise ConfigError(
                f"{key} needs type = the {kind} class{suggest(label, names)} (known: "
                f"{', '.join(names)})"
            )
        if name not in names:
            raise ConfigError(
                f"{join(key, 'type')}: unknown {kind} {name!r}{suggest(name, names)} (known: "
                f"{', '.join(names)})"
            )
        cls = get(name)
        kwargs = check_table(
            table,
            parameters(cls, skip=skip),
            key,
            extra_keys=takes_any_keyword(cls),
            fill_defaults=not factory,
        )
        out[label] = (FactoryCall if factory else Call)(cls, kwargs, key, type_name=name)
    return out
