"""``hermes evaluate``: :func:`hermes.evaluate_robustness` from a config file.

The config's top-level keys are ``evaluate_robustness``'s arguments, one to one:

- ``model``: the path of a checkpoint (:func:`hermes.models.save_checkpoint`, ``hermes train``);
- ``data``: a data table (``type = "PCam"`` by default, ``root``, ``split``, ``limit``,
  ``stratify``, ``seed``: :class:`hermes.data.PCam`'s arguments);
- ``attacks`` and ``defenses``: tables ``name -> {type = "<class>", ...constructor arguments}``;
- ``adaptive``: a table of :class:`hermes.evaluation.AdaptiveSettings`;
- ``epsilons``, ``threat_model``, ``batch_size``, ``device``, ``seed``, ``progress``,
  ``bootstrap``, ``ci_level``, ``cache_dir``, ``sanity_eps``: as in Python;

plus the command line's own ``output`` (the folder for the results) and ``report`` (a table of
:func:`write_outputs`' options). The folder receives ``config.yaml`` (the resolved config, written
before the run starts), ``report.json``, ``grid.csv``, ``table.md`` and, with
``report.plot = true``, ``curves.png``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
from hermes.cli._components import (
    attack_tables,
    dataset_table,
    defense_tables,
    existing_path,
    output_path,
)
from hermes.cli._config import save_config
from hermes.cli._errors import library_errors
from hermes.cli._schema import Param, check_table, instantiate, parameters
from hermes.evaluation import RobustnessReport, evaluate_robustness

__all__ = ["build_evaluation", "evaluate_command", "resolve_evaluation", "write_outputs"]


def write_outputs(
    report: RobustnessReport,
    folder: str | os.PathLike,
    *,
    name: str | None = None,
    include_scores: bool = False,
    table_epsilons: Sequence[float] | None = None,
    plot: bool = False,
) -> list[Path]:
    """Write a report's files to ``folder``; the keyword arguments are the ``[report]`` table.

    Args:
        report: the evaluation's result.
        folder: where to write (created if needed).
        name: recorded as ``report.metadata["name"]`` (``hermes report --compare`` shows it).
        include_scores: also store every positive-class score in ``report.json``.
        table_epsilons: the epsilons of ``table.md`` (default: all).
        plot: also draw ``curves.png`` (AUROC against epsilon; needs matplotlib).

    Returns:
        The paths written: ``report.json``, ``grid.csv``, ``table.md`` (and ``curves.png``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if name is not None:
        report.metadata["name"] = name
    paths = [folder / "report.json", folder / "grid.csv", folder / "table.md"]
    report.to_json(paths[0], include_scores=include_scores)
    report.to_csv(paths[1])
    table = report.table(epsilons=table_epsilons, show_ci=report.ci is not None)
    paths[2].write_text(f"# {report.threat_model} AUROC (n={report.n_samples})\n\n{table}\n")
    if plot:
        paths.append(folder / "curves.png")
        report.plot(path=paths[-1])
    return paths


def _report_table(value: Any, key: str) -> dict[str, Any]:
    return check_table(value, parameters(write_outputs, skip={"report", "folder"}), key)


def _cache_dir(value: Any, key: str) -> str | None:
    return None if value is None else output_path(value, key)


def resolve_evaluation(raw: dict[str, Any]) -> dict[str, Any]:
    """Check an evaluate config and resolve it (defaults filled, paths absolute).

    Raises:
        ConfigError: an unknown key, a wrong type, a missing key, a missing file or folder.
    """
    handlers = {
        "model": lambda value, key: existing_path(value, key, kind="file"),
        "data": dataset_table,
        "attacks": attack_tables,
        "defenses": defense_tables,
        "cache_dir": _cache_dir,
        "output": output_path,
        "report": _report_table,
    }
    extra = {"output": Param("output", str), "report": Param("report", dict, default={})}
    return resolve_top(raw, evaluate_robustness, handlers, extra=extra)


def build_evaluation(tree: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """The model, the data and the other keyword arguments of ``evaluate_robustness``.

    Every attack is also built once at the largest epsilon, so a bad attack argument stops the
    command before any work.

    Raises:
        ConfigError: the checkpoint or data files cannot be read, or hermes refuses an argument.
    """
    from hermes.models import load_checkpoint

    with library_errors("model", setup=True):
        model = load_checkpoint(tree["model"])
    with library_errors("data", setup=True):
        data = tree["data"].build()
    cli_keys = {"model", "data", "output", "report"}
    kwargs = {k: instantiate(v) for k, v in tree.items() if k not in cli_keys}
    numbers = [e for e in kwargs.get("epsilons") or () if isinstance(e, (int, float))]
    probe = max(numbers, default=0.0)
    if probe > 0:
        for name, factory in kwargs["attacks"].items():
            with library_errors(f"attacks.{name}", setup=True):
                factory(model, probe)
    return model, data, kwargs


@click.command("evaluate")
@run_options
def evaluate_command(
    config_path: Path | None, overrides: tuple[str, ...], print_config: bool, no_progress: bool
) -> None:
    """Run the robustness grid (hermes.evaluate_robustness) from a config file.

    Top-level keys are evaluate_robustness's arguments (model = a checkpoint path, data = a
    table of hermes.data.PCam's arguments, attacks/defenses = tables of name -> {type = "<class>",
    ...arguments}, adaptive = a table of AdaptiveSettings), plus output (the results folder) and
    report (a table: name, include_scores, table_epsilons, plot). The resolved config is saved as
    OUTPUT/config.yaml; `hermes evaluate --config OUTPUT/config.yaml` repeats the run.

    \b
    Example:
      hermes evaluate --config examples/configs/quick.toml --set threat_model=adaptive
    """
    resolved = resolved_config(
        resolve_evaluation, config_path, overrides, no_progress, print_config
    )
    if resolved is None:
        return
    tree, plain = resolved
    with process_group(tree["device"]):
        report = _run(tree, plain)
    if report is None:
        return
    click.echo(report.table(epsilons=tree["report"]["table_epsilons"]))
    click.echo(f"\nwrote report.json, grid.csv, table.md and config.yaml to {tree['output']}")


def _run(tree: dict[str, Any], plain: dict[str, Any]) -> RobustnessReport | None:
    """Build, save the config, evaluate, write the outputs (on rank 0; ``None`` elsewhere)."""
    model, data, kwargs = build_evaluation(tree)
    main = is_main_process()
    if main:
        save_config(plain, tree["output"])
    with library_errors("evaluate_robustness"):
        report = evaluate_robustness(model, data, **kwargs)
    if not main or report is None:
        return None
    with library_errors("writing the report"):
        write_outputs(report, tree["output"], **tree["report"])
    return report
