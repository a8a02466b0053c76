"""Config files (TOML or YAML), ``--set KEY=VALUE`` overrides, and the saved resolved config.

- :func:`load_config`: a ``.toml``, ``.yaml``/``.yml`` (or ``.json``) file as a dict.
- :func:`parse_override` / :func:`apply_overrides`: ``--set`` flags. The key is a TOML dotted key
  (``adaptive.eot_samples``, ``defenses."JPEG q50".quality``); the value is read as a TOML value
  (``[0, 0.01]``, ``1e-3``, ``true``, ``{eot_samples = 8}``), else as a YAML scalar (``null``),
  else kept as the text (``gray-box``). The key given is replaced whole.
- :func:`save_config`: the resolved config as YAML (which also holds ``null``), the file a run
  can be repeated from.

Example:
    >>> config = {"epsilons": [0.0, 0.1], "adaptive": {"eot_samples": 4}}
    >>> apply_overrides(config, ["epsilons=[0, 0.01]", "adaptive.eot_samples=8",
    ...                          "threat_model=adaptive"])
    {'epsilons': [0, 0.01], 'adaptive': {'eot_samples': 8}, 'threat_model': 'adaptive'}
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from hermes._files import write_atomic
from hermes.cli._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "CONFIG_NAME",
    "apply_overrides",
    "dump_config",
    "load_config",
    "parse_override",
    "save_config",
]

CONFIG_NAME = "config.yaml"
"""The name of the resolved config written next to a run's outputs."""

_YAML = (".yaml", ".yml")


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a config file: TOML (``.toml``) or YAML (``.yaml``, ``.yml``; ``.json`` is YAML too).

    Raises:
        ConfigError: the file is missing, unreadable, not valid TOML/YAML, or not a table.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json", *_YAML):
        raise ConfigError(
            f"config file {str(path)!r} must end in .toml, .yaml or .yml (or .json); got "
            f"{suffix or 'no suffix'!r}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {error}") from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        kind = "TOML" if suffix == ".toml" else "YAML"
        raise ConfigError(f"config file {str(path)!r} is not valid {kind}: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a table of key = value pairs; got a "
            f"{type(data).__name__}"
        )
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``KEY=VALUE`` into the key's path and the parsed value.

    Example:
        >>> parse_override('defenses."JPEG q50".quality=70')
        (['defenses', 'JPEG q50', 'quality'], 70)
        >>> parse_override("cache_dir=null"), parse_override("threat_model=gray-box")
        ((['cache_dir'], None), (['threat_model'], 'gray-box'))
    """
    if "=" not in text:
        raise ConfigError(f"--set takes KEY=VALUE (e.g. --set seed=1); got {text!r}")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        path = _key_path(tomllib.loads(f"{key} = 0"))
    except tomllib.TOMLDecodeError:
        raise ConfigError(
            f"--set {text!r}: {key!r} is not a key (use dotted keys, quoting parts with spaces: "
            'defenses."JPEG q50".quality=70)'
        ) from None
    return path, _parse_value(raw)


def _key_path(tree: dict[str, Any]) -> list[str]:
    path = []
    while isinstance(tree, dict):
        ((key, tree),) = tree.items()
        path.append(key)
    return path


def _parse_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if value is None and raw.lower() not in ("null", "~", "none"):
        return raw  # an empty value: keep ""
    if isinstance(value, bool) and raw.lower() not in ("true", "false"):
        return raw  # YAML 1.1 reads yes/no/on/off as booleans; keep them as words
    if isinstance(value, (int, float)):
        return raw  # a number TOML refused (e.g. 1_0.0): keep the text for a clear type error
    return value


def apply_overrides(config: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``config`` (a copy) with each ``KEY=VALUE`` override set, in order.

    Raises:
        ConfigError: an override is malformed, or sets a key inside a value that is not a table.
    """
    config = copy.deepcopy(config)
    for text in overrides:
        path, value = parse_override(text)
        table = config
        for depth, part in enumerate(path[:-1]):
            if part not in table or table[part] is None:
                table[part] = {}
            if not isinstance(table[part], dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(
                    f"--set {text!r}: key {where!r} holds {table[part]!r}, not a table"
                )
            table = table[part]
        table[path[-1]] = value
    return config


def dump_config(config: dict[str, Any]) -> str:
    """The resolved config as YAML text (keys in their order)."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def save_config(config: dict[str, Any], folder: str | os.PathLike) -> Path:
    """Write the resolved config to ``folder/config.yaml`` (atomically); return its path.

    Example:
        >>> import tempfile
        >>> path = save_config({"seed": 1, "cache_dir": None}, tempfile.mkdtemp())
        >>> load_config(path)
        {'seed': 1, 'cache_dir': None}
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = "# resolved by `hermes`; repeat this run with --config on this file\n"
    text = header + dump_config(json.loads(json.dumps(config)))
    return write_atomic(folder / CONFIG_NAME, text.encode("utf-8"))
