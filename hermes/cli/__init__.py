"""The ``hermes`` command line: every run is a config file that mirrors the Python API.

``hermes data synth`` (synthetic data sets), ``hermes train`` (:func:`hermes.models.fine_tune`),
``hermes evaluate`` (:func:`hermes.evaluate_robustness`), ``hermes report`` (tables, CSV/JSON and
plots of a saved report) and ``hermes info`` (versions, devices, a cache's contents). Run
subcommands take ``--config FILE`` (TOML or YAML) and ``--set KEY=VALUE`` overrides, and save
the resolved config next to their outputs. See ``docs/cli.md``.

Exit codes: ``0`` success, ``2`` a wrong command line, config or input file (click's usage-error
code), ``1`` a run that failed after it started.

``import hermes`` does not import this package (nor click).

Example:
    >>> from click.testing import CliRunner
    >>> result = CliRunner().invoke(cli, ["evaluate", "--set", "seeed=1"])
    >>> result.exit_code
    2
    >>> "did you mean 'seed'?" in result.output
    True
"""

from __future__ import annotations

import click

from hermes.cli._errors import EXIT_CONFIG, EXIT_RUN, ConfigError, RunError
from hermes.cli.data import data_group
from hermes.cli.evaluate import evaluate_command
from hermes.cli.info import info_command
from hermes.cli.report import report_command
from hermes.cli.train import train_command
from hermes.version import __version__

__all__ = ["EXIT_CONFIG", "EXIT_RUN", "ConfigError", "RunError", "cli", "main"]


@click.group("hermes", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hermes")
@click.option("--debug", is_flag=True, help="Show the full traceback of a failure.")
@click.pass_context
def cli(context: click.Context, debug: bool) -> None:
    """hermes: adversarial robustness of medical image classifiers.

    Run subcommands (data synth, train, evaluate) read a TOML or YAML config whose keys are the
    arguments of the hermes function they call; --set KEY=VALUE overrides one key. The resolved
    config is saved next to the outputs as config.yaml, so `--config config.yaml` repeats a run.

    Exit codes: 0 success, 2 bad command line/config/input file, 1 the run failed.
    """
    context.ensure_object(dict)
    context.obj["debug"] = debug


cli.add_command(data_group)
cli.add_command(train_command)
cli.add_command(evaluate_command)
cli.add_command(report_command)
cli.add_command(info_command)


def main(argv: list[str] | None = None) -> None:
    """The ``hermes`` console script (and ``python -m hermes``)."""
    cli.main(args=argv, prog_name="hermes")
