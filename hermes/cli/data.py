"""``hermes data synth``: write a synthetic data set in a real data set's file format.

The config's keys are the arguments of the writer the ``format`` key picks:

- ``format = "pcam"`` (default): :func:`hermes.data.make_synthetic_pcam` (``root``,
  ``n_train``, ``n_valid``, ``n_test``, ``seed``, ``label_noise``, ``compression``, ``reuse``);
- ``format = "medmnist"``: ``hermes.data.make_synthetic_medmnist``, where this hermes has it.

The resolved config is written to ``root/config.yaml``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import click

from hermes.cli._common import is_main_process, resolve_top, resolved_config, run_options
from hermes.cli._components import output_path
from hermes.cli._config import CONFIG_NAME, save_config
from hermes.cli._errors import ConfigError, library_errors, suggest
from hermes.cli._schema import check_value, instantiate, parameters

__all__ = ["FORMATS", "data_group", "resolve_synth", "synth_command"]

FORMATS = {"pcam": "make_synthetic_pcam", "medmnist": "make_synthetic_medmnist"}
"""``format`` -> the writer's name in :mod:`hermes.data`."""


def _writer(fmt: str) -> Any:
    import hermes.data

    writer = getattr(hermes.data, FORMATS[fmt], None)
    if writer is None:
        raise ConfigError(
            f"format {fmt!r} needs hermes.data.{FORMATS[fmt]}, which this version of hermes "
            "does not have"
        )
    return writer


def resolve_synth(raw: dict[str, Any], *, no_progress: bool = False) -> dict[str, Any]:
    """Check a ``data synth`` config and resolve it (``format`` first, then the writer's keys).

    ``no_progress`` sets ``progress = false`` where the writer takes ``progress``.
    """
    raw = dict(raw)
    fmt = check_value(raw.pop("format", "pcam"), str, "format")
    if fmt not in FORMATS:
        raise ConfigError(
            f"format must be one of {', '.join(map(repr, FORMATS))}; got {fmt!r}{suggest(fmt, FORMATS)}"
        )
    writer = _writer(fmt)
    if no_progress and "progress" in parameters(writer):
        raw["progress"] = False
    tree = resolve_top(raw, writer, {"root": output_path})
    return {"format": fmt, **tree}


@click.group("data")
def data_group() -> None:
    """Data sets: write synthetic sets in real data sets' file formats."""


@data_group.command("synth")
@run_options
def synth_command(
    config_path: Path | None, overrides: tuple[str, ...], print_config: bool, no_progress: bool
) -> None:
    """Write a synthetic data set (hermes.data.make_synthetic_pcam) from a config and/or --set.

    Keys: format ("pcam"; "medmnist" where hermes has it) and the writer's arguments (root,
    n_train, n_valid, n_test, seed, label_noise, compression, reuse). The resolved config is
    saved as ROOT/config.yaml.

    \b
    Example:
      hermes data synth --set root=data/synthetic-pcam --set n_train=512 --set n_test=128
    """
    resolve = partial(resolve_synth, no_progress=no_progress)
    resolved = resolved_config(resolve, config_path, overrides, False, print_config)
    if resolved is None:
        return
    tree, plain = resolved
    writer = _writer(tree["format"])
    kwargs = {k: instantiate(v) for k, v in tree.items() if k != "format"}
    if not is_main_process():
        return
    with library_errors(FORMATS[tree["format"]]):
        written = writer(**kwargs)
    root = Path(tree["root"]) if "root" in tree else Path.cwd()
    save_config(plain, root)
    files = written.values() if isinstance(written, dict) else [written]
    names = [p.name for item in files for p in (item if isinstance(item, tuple) else [item])]
    click.echo(f"wrote {', '.join(map(str, names))} and {CONFIG_NAME} to {root}")
