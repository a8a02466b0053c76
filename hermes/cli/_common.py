"""What every run subcommand shares: the ``--config``/``--set`` options and the top-level table.

A run's config is the keyword arguments of one hermes function (``fine_tune``,
``evaluate_robustness``, ``make_synthetic_pcam``) plus a few keys of the command line's own
(``output``). :func:`resolve_top` checks it against the function's signature; a key whose
value needs more than a type check (the model, data sets, attacks) has a handler.

Example:
    >>> def run(model, data, *, seed: int = 0, progress: bool = True): ...
    >>> resolve_top({"model": "m.pt", "seed": 3}, run, {"model": lambda v, k: v.upper()},
    ...             skip={"data"})
    {'model': 'M.PT', 'seed': 3, 'progress': True}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hermes.cli._config import apply_overrides, dump_config, load_config
from hermes.cli._errors import ConfigError, suggest
from hermes.cli._schema import Param, check_value, is_plain, parameters, to_plain

__all__ = [
    "is_main_process",
    "process_group",
    "raw_config",
    "resolve_top",
    "resolved_config",
    "run_options",
]

Handler = Callable[[Any, str], Any]


def run_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config``, ``--set``, ``--print-config`` and ``--no-progress`` to a command."""
    options = [
        click.option(
            "--config",
            "-c",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="TOML (.toml) or YAML (.yaml/.yml) file with the run's settings.",
        ),
        click.option(
            "--set",
            "-s",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override one key (repeatable): --set seed=1 --set adaptive.eot_samples=8 "
            "--set 'epsilons=[0, 0.01]'. VALUE is read as TOML, else YAML, else as text.",
        ),
        click.option(
            "--print-config",
            is_flag=True,
            help="Print the resolved config (YAML) and exit without running.",
        ),
        click.option(
            "--no-progress",
            is_flag=True,
            help="Hide progress bars (the same as --set progress=false).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def raw_config(
    config_path: Path | None, overrides: tuple[str, ...], no_progress: bool
) -> dict[str, Any]:
    """The config file (or ``{}``) with the ``--set`` overrides and ``--no-progress`` applied."""
    config = load_config(config_path) if config_path is not None else {}
    extra = ["progress=false"] if no_progress else []
    return apply_overrides(config, [*overrides, *extra])


def resolved_config(
    resolve: Callable[[dict[str, Any]], dict[str, Any]],
    config_path: Path | None,
    overrides: tuple[str, ...],
    no_progress: bool,
    print_config: bool,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The command's config (the file, ``--set`` and ``--no-progress``) resolved by ``resolve``,
    and its plain values (what ``config.yaml`` holds); with ``--print-config``, print those
    instead and return ``None`` (the command stops there)."""
    tree = resolve(raw_config(config_path, overrides, no_progress))
    plain = to_plain(tree)
    if print_config:
        click.echo(dump_config(plain), nl=False)
        return None
    return tree, plain


def resolve_top(
    raw: Mapping[str, Any],
    function: Callable[..., Any],
    handlers: Mapping[str, Handler],
    *,
    skip: frozenset[str] | set[str] = frozenset(),
    extra: Mapping[str, Param] | None = None,
) -> dict[str, Any]:
    """Check a run's top-level table against ``function``'s keyword parameters.

    Args:
        raw: the config table.
        function: the hermes function the run calls.
        handlers: key -> ``handler(value, key)`` resolving that key (model, data, attacks...).
        skip: parameters of ``function`` a config cannot set.
        extra: keys of the command line's own (a :class:`Param` each); handled by ``handlers``
            when named there.

    Returns:
        The resolved table, in signature order then ``extra``'s, defaults filled in.
    """
    params = {**parameters(function, skip=skip), **(extra or {})}
    for key in raw:
        if key not in params:
            raise ConfigError(
                f"unknown key {key!r}{suggest(key, params)} (valid keys: {', '.join(params)})"
            )
    out: dict[str, Any] = {}
    for name, param in params.items():
        if name in raw:
            value = raw[name]
            out[name] = (
                handlers[name](value, name)
                if name in handlers
                else check_value(value, param.hint, name)
            )
        elif param.required:
            raise ConfigError(f"missing key {name!r} (it has no default)")
        elif name in handlers and param.default is not None:
            out[name] = handlers[name](param.default, name)
        elif is_plain(param.default):
            out[name] = to_plain(param.default)
    return out


@contextmanager
def process_group(device: Any = None) -> Iterator[None]:
    """Join the ``torch.distributed`` process group ``torchrun`` prepared, for the block.

    ``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE`` and the rendezvous
    variables, but (like hermes' functions) leaves the process group to the script. Under
    ``torchrun`` (``WORLD_SIZE`` above 1) and without a group yet, this initialises one, NCCL
    when CUDA is available and ``device`` is not a CPU, gloo otherwise (``HERMES_DIST_BACKEND``
    overrides), and destroys it after the block. Otherwise it does nothing.
    """
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1 or not dist.is_available() or dist.is_initialized():
        yield
        return
    on_cpu = device is not None and str(device).startswith("cpu")
    backend = os.environ.get("HERMES_DIST_BACKEND") or (
        "nccl" if torch.cuda.is_available() and not on_cpu else "gloo"
    )
    dist.init_process_group(backend)
    try:
        yield
    finally:
        dist.destroy_process_group()


def is_main_process() -> bool:
    """False on the ranks other than 0 of a ``torchrun`` job (they write no files)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0
