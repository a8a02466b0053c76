"""Several models in one table: the same grid column, one row per model.

Robust training is judged by putting its model beside the standard one on the same samples,
attacks and budgets. Each model gets its own :func:`~hermes.evaluation.evaluate_robustness` call
(its own cache, its own diagnostics); :func:`models_table` then lines up their reports, refusing
reports of different threat models or samples, whose rows would not compare the models alone.

Example:
    >>> from hermes.evaluation import MetricGrid, RobustnessReport
    >>> def report(clean, attacked):
    ...     cells = {("None", "PGD", 0.0): clean, ("None", "PGD", 0.03): attacked}
    ...     return RobustnessReport(auroc=MetricGrid("auroc", cells), n_samples=100)
    >>> print(models_table({"standard": report(0.95, 0.10), "PGD-AT": report(0.90, 0.62)},
    ...                    attack="PGD"))
    | Model | Clean | PGD ε=0.03 |
    |---|---|---|
    | standard | 0.950 | 0.100 |
    | PGD-AT | 0.900 | 0.620 |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hermes.evaluation.metric_grid import eps_key
from hermes.evaluation.report import RobustnessReport, check_comparable

__all__ = ["models_table"]


def models_table(
    reports: Mapping[str, RobustnessReport],
    *,
    attack: str,
    epsilons: Sequence[float] | None = None,
    defense: str = "None",
    metric: str = "auroc",
    digits: int = 3,
) -> str:
    """A Markdown table with one row per model: the clean value, then ``attack`` at each epsilon.

    Args:
        reports: model name -> its report (same threat model, same samples).
        attack: the attack column to show (e.g. ``"PGD"`` or ``"PGD [adaptive]"``).
        epsilons: non-zero epsilons to show (default: every one the first report has).
        defense: the defense row to read (default the undefended ``"None"``).
        metric: ``"auroc"``, ``"accuracy"`` or ``"success_rate"``.
        digits: decimals.

    Raises:
        ValueError: no reports, or reports of other threat models or samples than the first.
        KeyError: an attack, defense or epsilon a report lacks.
    """
    if not isinstance(reports, Mapping) or not reports:
        raise ValueError(
            f"reports must be a non-empty mapping name -> RobustnessReport; got {reports!r}"
        )
    first_name, first = next(iter(reports.items()))
    for name, report in reports.items():
        if not isinstance(report, RobustnessReport):
            raise TypeError(
                f"reports[{name!r}] must be a RobustnessReport; got {type(report).__name__}"
            )
        check_comparable(first, report, f"reports[{name!r}] (compared with {first_name!r})")
    chosen = [eps_key(e) for e in (epsilons if epsilons is not None else first.epsilons) if e != 0]
    header = ["Model", "Clean", *[f"{attack} ε={e:g}" for e in chosen]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, report in reports.items():
        grid = report.metric(metric)
        values = []
        for e in [0.0, *chosen]:
            if (defense, attack, e) not in grid:
                raise KeyError(
                    f"reports[{name!r}] has no cell ({defense!r}, {attack!r}, {e:g}); its attacks "
                    f"are {report.attacks}, defenses {report.defenses}, epsilons {report.epsilons}"
                )
            values.append(f"{grid[defense, attack, e]:.{digits}f}")
        lines.append("| " + " | ".join([name, *values]) + " |")
    return "\n".join(lines)
