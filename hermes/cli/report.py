"""``hermes report``: tables, CSV/JSON and plots from a saved report (``report.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hermes.cli._errors import ConfigError, library_errors
from hermes.evaluation import RobustnessReport
from hermes.evaluation.report import METRICS

__all__ = ["load_report", "report_command"]


def load_report(path: Path) -> RobustnessReport:
    """Read a report JSON written by ``hermes evaluate`` (or ``RobustnessReport.to_json``).

    Raises:
        ConfigError: the file is missing, not JSON, or not a hermes report.
    """
    if not path.is_file():
        raise ConfigError(f"report file {str(path)!r} does not exist")
    try:
        return RobustnessReport.from_json(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        detail = f"{type(error).__name__}: {error}" if isinstance(error, KeyError) else str(error)
        if isinstance(error, json.JSONDecodeError):
            detail = f"not valid JSON ({error})"
        raise ConfigError(f"report file {str(path)!r} cannot be read: {detail}") from error


@click.command("report")
@click.argument("report_path", metavar="REPORT", type=click.Path(path_type=Path))
@click.option(
    "--compare",
    "other_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Another report JSON: show REPORT minus it, cell by cell (same threat model and samples).",
)
@click.option(
    "--metric", type=click.Choice(METRICS), default="auroc", show_default=True, help="Metric shown."
)
@click.option(
    "--epsilon",
    "epsilons",
    type=float,
    multiple=True,
    help="An epsilon column of the table (repeatable; default: all).",
)
@click.option(
    "--attack", "attacks", multiple=True, help="An attack of the table (repeatable; default: all)."
)
@click.option("--ci", is_flag=True, help="Show bootstrap intervals next to AUROC, when stored.")
@click.option("--digits", type=click.IntRange(0, 12), default=3, show_default=True)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write the tidy CSV here.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the JSON here.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path),
    help="Draw AUROC against epsilon to this image file (needs matplotlib).",
)
def report_command(
    report_path: Path,
    other_path: Path | None,
    metric: str,
    epsilons: tuple[float, ...],
    attacks: tuple[str, ...],
    ci: bool,
    digits: int,
    csv_path: Path | None,
    json_path: Path | None,
    plot_path: Path | None,
) -> None:
    """Show a saved report (REPORT, the report.json of `hermes evaluate`) as a Markdown table.

    With --compare OTHER the table (and --csv/--json/--plot) is REPORT minus OTHER, cell by cell:
    the study's augmented-minus-plain comparison.

    \b
    Examples:
      hermes report outputs/study/augmented/report.json --epsilon 0.01 --epsilon 0.1 --attack PGD
      hermes report aug/report.json --compare plain/report.json --plot difference.png
    """
    report = load_report(report_path)
    if other_path is not None:
        other = load_report(other_path)
        with library_errors("--compare"):
            report = report.compare(other)
    try:
        table = report.table(
            epsilons=list(epsilons) or None,
            metric=metric,
            attacks=list(attacks) or None,
            digits=digits,
            show_ci=ci,
        )
    except KeyError as error:
        raise ConfigError(str(error.args[0]) if error.args else str(error)) from error
    click.echo(table)
    with library_errors("writing"):
        if csv_path is not None:
            report.to_csv(csv_path)
            click.echo(f"wrote {csv_path}", err=True)
        if json_path is not None:
            report.to_json(json_path)
            click.echo(f"wrote {json_path}", err=True)
        if plot_path is not None:
            from hermes.plotting import plot_auroc_curves

            plot_auroc_curves(report, attacks=list(attacks) or None, metric=metric, path=plot_path)
            click.echo(f"wrote {plot_path}", err=True)
