"""``hermes train``: :func:`hermes.models.fine_tune` from a config file, saved as a checkpoint.

The config's top-level keys are ``fine_tune``'s arguments, one to one: ``model`` (a table of
:func:`hermes.models.resnet18`'s arguments), ``train_data`` and ``val_data`` (data tables, as in
``hermes evaluate``), ``protocol``, ``lp_epochs``, ``ft_epochs``, ..., ``augment`` (a boolean or
a table of :class:`hermes.models.Augmentation`'s arguments), ``adversarial`` (a table of
:class:`hermes.models.AdversarialTraining`'s arguments), and any argument ``fine_tune`` gains
later; plus ``output``, the folder that receives ``config.yaml`` (the resolved config),
``model.pt`` (the checkpoint, with the history and the config in its metadata) and
``history.json``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from hermes.cli._common import (
    is_main_process,
    process_group,
    resolve_top,
    resolved_config,
    run_options,
)
from hermes.cli._components import dataset_table, model_table, output_path
from hermes.cli._config import save_config
from hermes.cli._errors import library_errors
from hermes.cli._schema import Param, instantiate

__all__ = ["CHECKPOINT_NAME", "build_training", "resolve_training", "train_command"]

CHECKPOINT_NAME = "model.pt"


def resolve_training(raw: dict[str, Any]) -> dict[str, Any]:
    """Check a train config and resolve it (defaults filled, paths absolute).

    Raises:
        ConfigError: an unknown key, a wrong type, a missing key, a missing data folder.
    """
    from hermes.models import fine_tune

    handlers = {
        "model": model_table,
        "train_data": dataset_table,
        "val_data": dataset_table,
        "output": output_path,
    }
    return resolve_top(raw, fine_tune, handlers, extra={"output": Param("output", str)})


def build_training(tree: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The model, the training and validation data and ``fine_tune``'s other arguments.

    Raises:
        ConfigError: a data file cannot be read, or hermes refuses an argument.
    """
    with library_errors("model", setup=True):
        model = tree["model"].build()
    with library_errors("train_data", setup=True):
        train_data = tree["train_data"].build()
    with library_errors("val_data", setup=True):
        val_data = tree["val_data"].build()
    own = {"model", "train_data", "val_data", "output"}
    kwargs = {k: instantiate(v) for k, v in tree.items() if k not in own}
    return model, train_data, val_data, kwargs


@click.command("train")
@run_options
def train_command(
    config_path: Path | None, overrides: tuple[str, ...], print_config: bool, no_progress: bool
) -> None:
    """Train a classifier (hermes.models.fine_tune) from a config file; save a checkpoint.

    Top-level keys are fine_tune's arguments (model = a table of hermes.models.resnet18's
    arguments, train_data/val_data = tables of hermes.data.PCam's arguments, adversarial = a
    table of AdversarialTraining's, augment = true/false or a table of Augmentation's), plus
    output (the folder for model.pt, history.json and the resolved config.yaml).

    \b
    Example:
      hermes train --config train.toml --set lp_epochs=2 --set output=runs/lp2
    """
    from hermes.models import fine_tune, save_checkpoint

    resolved = resolved_config(resolve_training, config_path, overrides, no_progress, print_config)
    if resolved is None:
        return
    tree, plain = resolved
    with process_group(tree["device"]):
        model, train_data, val_data, kwargs = build_training(tree)
        main = is_main_process()
        output = Path(tree["output"])
        if main:
            save_config(plain, output)
        with library_errors("fine_tune"):
            model, history = fine_tune(model, train_data, val_data, **kwargs)
        if not main:
            return
        with library_errors("saving the checkpoint"):
            path = save_checkpoint(
                model,
                output / CHECKPOINT_NAME,
                history=history,
                protocol=tree["protocol"],
                seed=tree["seed"],
                config=plain,
            )
            (output / "history.json").write_text(json.dumps(dataclasses.asdict(history), indent=1))
    best = history.best
    summary = (
        ""
        if best is None
        else f" (best: {best.phase} epoch {best.epoch}, val AUROC {best.val_auroc:.4f})"
    )
    click.echo(f"wrote {path}{summary}, history.json and config.yaml to {output}")
