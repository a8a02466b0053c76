"""The result of :func:`~hermes.evaluation.evaluate_robustness`: metric grids, tables, exports."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hermes.evaluation.diagnostics import Diagnostic
from hermes.evaluation.metric_grid import MetricGrid, eps_key

__all__ = ["RobustnessReport"]

METRICS = ("auroc", "accuracy", "success_rate")
_FORMAT = "hermes.RobustnessReport"


def _nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _none_to_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _eps_keyed(cells: dict | None) -> dict | None:
    return None if cells is None else {(d, a, eps_key(e)): v for (d, a, e), v in cells.items()}


def check_comparable(report: RobustnessReport, other: RobustnessReport, name: str) -> None:
    """Raise a ValueError naming ``name`` when ``other`` is not of the same threat model on the
    same samples as ``report`` (count, positives, labels, wherever both record them): numbers
    of the two would not measure the models alone."""
    differences = [
        f"{what} {mine!r} vs {theirs!r}"
        for what, mine, theirs in (
            ("threat_model", report.threat_model, other.threat_model),
            ("task", report.task, other.task),
            ("n_samples", report.n_samples, other.n_samples),
            ("n_positive", report.n_positive, other.n_positive),
        )
        if mine != theirs and mine is not None and theirs is not None  # None: not recorded
    ]
    if (
        not differences
        and report.labels is not None
        and other.labels is not None
        and not np.array_equal(report.labels, other.labels)
    ):
        differences.append("labels differ (another sample or order)")
    if differences:
        raise ValueError(
            f"{name} must be a report of the same threat model on the same samples; "
            + "; ".join(differences)
        )


class RobustnessReport:
    """AUROC (and accuracy, attack success rate) over defense x attack x epsilon.

    Epsilon ``0`` holds the clean score of each defense (repeated under every attack, so each
    attack's curve starts at its clean point). ``ci`` holds percentile-bootstrap intervals of the
    AUROC when the evaluation asked for them.

    Attributes:
        auroc, accuracy, success_rate: :class:`MetricGrid` of floats. For a multi-class or
            multi-label model the AUROC is the macro mean over classes (labels), the accuracy
            the top-class (multi-class) or per-label (multi-label) accuracy, and an attack
            succeeds on a sample the model got right (every label right) and no longer does.
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"`` (see :mod:`hermes.tasks`).
        per_class_auroc: ``{(defense, attack, eps): [AUROC of class 0, 1, ...]}`` for
            multi-class and multi-label reports (one-vs-rest, per label), ``None`` for binary;
            :meth:`class_table` shows it, :meth:`to_records` and the CSV carry one
            ``auroc_class_k`` column per class.
        ci: :class:`MetricGrid` of ``(low, high)`` or ``None``.
        timing: ``{"defense": {name: seconds per image}, "attack": {name: {eps: seconds per image}}}``.
        labels, scores: the labels and, per cell, the positive-class scores (kept in memory for
            further analysis; not written by :meth:`to_json` unless asked).
        selection: for adaptive cells, ``{(defense, attack, eps): {candidate: examples won}}``:
            which candidate of the worst case (``"transfer"``, ``"PGD/identity"``,
            ``"APGD/unrolled"``, ...) hurt each example most; ``None`` without adaptive cells.
        candidate_auroc: for adaptive cells, each candidate's own AUROC under the same scoring
            draw, ``{(defense, attack, eps): {candidate: auroc}}``.
        sanity: ``{"epsilon": sanity_eps, "auroc": {(defense, attack): auroc}}`` for the
            large-budget probe, or ``None``.
        diagnostics: the failed sanity checks (:class:`~hermes.evaluation.Diagnostic`), each
            naming its cell; listed under :meth:`table`.

    Example:
        >>> cells = {("None", "PGD", 0.0): 0.94, ("None", "PGD", 0.01): 0.13,
        ...          ("JPEG", "PGD", 0.0): 0.92, ("JPEG", "PGD", 0.01): 0.73}
        >>> report = RobustnessReport(auroc=MetricGrid("auroc", cells))
        >>> print(report.table(epsilons=[0.01]))
        | Defense | Clean | PGD ε=0.01 |
        |---|---|---|
        | None | 0.940 | 0.130 |
        | JPEG | 0.920 | 0.730 |
    """

    def __init__(
        self,
        *,
        auroc: MetricGrid,
        accuracy: MetricGrid | None = None,
        success_rate: MetricGrid | None = None,
        ci: MetricGrid | None = None,
        threat_model: str = "gray-box",
        n_samples: int | None = None,
        n_positive: int | None = None,
        timing: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        labels: np.ndarray | None = None,
        scores: dict[tuple[str, str, float], np.ndarray] | None = None,
        selection: dict[tuple[str, str, float], dict[str, int]] | None = None,
        candidate_auroc: dict[tuple[str, str, float], dict[str, float]] | None = None,
        sanity: dict[str, Any] | None = None,
        diagnostics: Sequence[Diagnostic] = (),
        task: str = "binary",
        per_class_auroc: dict[tuple[str, str, float], list[float]] | None = None,
    ) -> None:
        self.auroc = auroc
        self.accuracy = accuracy or MetricGrid("accuracy", {})
        self.success_rate = success_rate or MetricGrid("success_rate", {})
        self.ci = ci
        self.threat_model = threat_model
        self.n_samples = n_samples
        self.n_positive = n_positive
        self.timing = timing or {}
        self.metadata = metadata or {}
        self.labels = labels
        self.scores = scores
        self.selection = _eps_keyed(selection)
        self.candidate_auroc = _eps_keyed(candidate_auroc)
        self.sanity = sanity
        self.diagnostics = list(diagnostics)
        self.task = task
        self.per_class_auroc = _eps_keyed(per_class_auroc)

    # ---- shape of the grid -------------------------------------------------------------------
    @property
    def defenses(self) -> list[str]:
        return self.auroc.defenses

    @property
    def attacks(self) -> list[str]:
        return self.auroc.attacks

    @property
    def epsilons(self) -> list[float]:
        return self.auroc.epsilons

    @property
    def n_classes(self) -> int:
        """Classes (labels) of the per-class AUROC: 0 for a binary report."""
        if not self.per_class_auroc:
            return 0
        return max(len(v) for v in self.per_class_auroc.values())

    def metric(self, name: str) -> MetricGrid:
        """The grid of metric ``name`` (``"auroc"``, ``"accuracy"`` or ``"success_rate"``)."""
        if name not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(map(repr, METRICS))}; got {name!r}")
        return getattr(self, name)

    # ---- tables ------------------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        """One dict per cell: defense, attack, epsilon, each metric, and the AUROC interval."""
        records = []
        for d, a, e in self.auroc:
            row: dict[str, Any] = {
                "threat_model": self.threat_model,
                "defense": d,
                "attack": a,
                "epsilon": e,
            }
            for name in METRICS:
                row[name] = self.metric(name).get((d, a, e), float("nan"))
            low, high = self.ci[d, a, e] if self.ci is not None else (float("nan"), float("nan"))
            row["auroc_low"], row["auroc_high"] = low, high
            if self.per_class_auroc is not None:
                per = self.per_class_auroc.get((d, a, eps_key(e)), [])
                for k in range(self.n_classes):
                    row[f"auroc_class_{k}"] = per[k] if k < len(per) else float("nan")
            records.append(row)
        return records

    def to_pandas(self):
        """The records as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install pandas") from error
        return pd.DataFrame.from_records(self.to_records())

    def table(
        self,
        epsilons: Sequence[float] | None = None,
        metric: str = "auroc",
        attacks: Sequence[str] | None = None,
        *,
        digits: int = 3,
        show_ci: bool = False,
    ) -> str:
        """The study's Table 1 layout as Markdown: rows are defenses, columns clean and each
        chosen attack/epsilon.

        Args:
            epsilons: non-zero epsilons to show (default: all).
            metric: ``"auroc"``, ``"accuracy"`` or ``"success_rate"``.
            attacks: attacks to show (default: all).
            digits: decimals.
            show_ci: append the bootstrap interval to AUROC cells, when available.
        """
        grid = self.metric(metric)
        attacks = list(attacks) if attacks is not None else self.attacks
        chosen = [e for e in (epsilons if epsilons is not None else self.epsilons) if e != 0]
        for a in attacks:
            if a not in self.attacks:
                raise KeyError(f"unknown attack {a!r}; the report has {self.attacks}")
        for e in chosen:
            if eps_key(e) not in self.epsilons:
                raise KeyError(f"unknown epsilon {e!r}; the report has {self.epsilons}")

        def cell(d: str, a: str, e: float) -> str:
            value = grid.get((d, a, eps_key(e)), float("nan"))
            text = f"{value:.{digits}f}"
            if show_ci and metric == "auroc" and self.ci is not None:
                low, high = self.ci[d, a, e]
                text += f" [{low:.{digits}f}, {high:.{digits}f}]"
            return text

        header = ["Defense", "Clean", *[f"{a} ε={e:g}" for a in attacks for e in chosen]]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for d in self.defenses:
            row = [d, cell(d, attacks[0], 0.0), *[cell(d, a, e) for a in attacks for e in chosen]]
            lines.append("| " + " | ".join(row) + " |")
        if self.diagnostics:
            lines += ["", "Sanity checks that failed (see report.diagnostics):"]
            lines += [f"- {d}" for d in self.diagnostics]
        return "\n".join(lines)

    def class_table(
        self,
        defense: str = "None",
        attack: str | None = None,
        *,
        class_names: Sequence[str] | None = None,
        digits: int = 3,
    ) -> str:
        """Per-class (per-label) AUROC of one defense and attack as Markdown: one row per class,
        one column per epsilon (clean first), and the macro AUROC as the last row.

        Args:
            defense: the defense row of the grid (default the undefended baseline).
            attack: the attack column (default the first).
            class_names: a name per class (default ``class 0``, ``class 1``, ...).
            digits: decimals.

        Raises:
            ValueError: a binary report (it has no per-class numbers; see :meth:`table`).
            KeyError: an unknown defense or attack.
        """
        if self.per_class_auroc is None:
            raise ValueError(
                "class_table() needs a multi-class or multi-label report; this one is "
                f"task={self.task!r} (its AUROC is in table())"
            )
        attack = self.attacks[0] if attack is None else attack
        if defense not in self.defenses:
            raise KeyError(f"unknown defense {defense!r}; the report has {self.defenses}")
        if attack not in self.attacks:
            raise KeyError(f"unknown attack {attack!r}; the report has {self.attacks}")
        names = list(class_names) if class_names is not None else []
        if class_names is not None and len(names) != self.n_classes:
            raise ValueError(
                f"class_names must name all {self.n_classes} classes; got {len(names)} names"
            )
        names = names or [f"class {k}" for k in range(self.n_classes)]
        header = ["Class", *["Clean" if e == 0 else f"{attack} ε={e:g}" for e in self.epsilons]]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for k, name in enumerate(names):
            row = [self.per_class_auroc[defense, attack, e][k] for e in self.epsilons]
            lines.append("| " + " | ".join([name, *[f"{v:.{digits}f}" for v in row]]) + " |")
        macro = [self.auroc[defense, attack, e] for e in self.epsilons]
        lines.append("| macro | " + " | ".join(f"{v:.{digits}f}" for v in macro) + " |")
        return "\n".join(lines)

    def compare(self, other: RobustnessReport) -> RobustnessReport:
        """Cell-by-cell difference ``self - other`` over the cells both reports have.

        This is the study's Table 2 / Figure 3 (augmented model minus non-augmented model). The
        result is a report (``metadata["difference"]`` set) with the same table and plots.

        Raises:
            ValueError: the reports come from different threat models or different samples
                (count, positives, or labels, wherever both reports record them): their
                difference would not measure the models.
        """
        if not isinstance(other, RobustnessReport):
            raise TypeError(f"other must be a RobustnessReport; got {type(other).__name__}")
        check_comparable(self, other, "other")
        grids = {}
        for name in METRICS:
            mine, theirs = self.metric(name), other.metric(name)
            grids[name] = MetricGrid(
                name, {k: v - theirs[k] for k, v in mine.items() if k in theirs}
            )
        if not len(grids["auroc"]):
            raise ValueError("the two reports share no (defense, attack, epsilon) cell")
        per_class = None
        if self.per_class_auroc is not None and other.per_class_auroc is not None:
            per_class = {
                k: [a - b for a, b in zip(v, other.per_class_auroc[k])]
                for k, v in self.per_class_auroc.items()
                if k in other.per_class_auroc
            }
        return RobustnessReport(
            **grids,
            threat_model=self.threat_model,
            task=self.task,
            per_class_auroc=per_class,
            n_samples=self.n_samples,
            metadata={
                "difference": [
                    self.metadata.get("name", "self"),
                    other.metadata.get("name", "other"),
                ]
            },
        )

    def threat_model_gap(self, metric: str = "auroc") -> MetricGrid:
        """Adaptive minus gray-box, per (defense, attack, epsilon), for a ``threat_model="both"``
        report: how much a defense's gray-box score overstates its robustness."""
        columns = self.metadata.get("columns", {})
        adaptive = {c: v["attack"] for c, v in columns.items() if v["threat_model"] == "adaptive"}
        if self.threat_model != "both" or not adaptive:
            raise ValueError(
                "threat_model_gap() needs a report made with threat_model='both'; "
                f"this one is {self.threat_model!r}"
            )
        grid = self.metric(metric)
        return MetricGrid(
            f"{metric} gap",
            {
                (d, base, e): grid[d, column, e] - grid[d, base, e]
                for column, base in adaptive.items()
                for d in self.defenses
                for e in self.epsilons
            },
        )

    # ---- export ------------------------------------------------------------------------------
    def to_csv(self, path: str | Path) -> Path:
        """Write the tidy records to a CSV file and return its path."""
        path = Path(path)
        records = self.to_records()
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        return path

    def to_dict(self, include_scores: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as ``null``)."""
        out: dict[str, Any] = {
            "format": _FORMAT,
            "version": 1,
            "threat_model": self.threat_model,
            "task": self.task,
            "n_samples": self.n_samples,
            "n_positive": self.n_positive,
            "metrics": {
                name: [[d, a, e, _nan_to_none(v)] for (d, a, e), v in self.metric(name).items()]
                for name in METRICS
            },
            "ci": None
            if self.ci is None
            else [
                [d, a, e, _nan_to_none(lo), _nan_to_none(hi)]
                for (d, a, e), (lo, hi) in self.ci.items()
            ],
            "timing": self.timing,
            "metadata": self.metadata,
            "selection": None
            if self.selection is None
            else [[d, a, e, wins] for (d, a, e), wins in self.selection.items()],
            "candidate_auroc": None
            if self.candidate_auroc is None
            else [
                [d, a, e, {c: _nan_to_none(v) for c, v in per.items()}]
                for (d, a, e), per in self.candidate_auroc.items()
            ],
            "sanity": None
            if self.sanity is None
            else {
                "epsilon": self.sanity["epsilon"],
                "auroc": [[d, a, _nan_to_none(v)] for (d, a), v in self.sanity["auroc"].items()],
            },
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "per_class_auroc": None
            if self.per_class_auroc is None
            else [
                [d, a, e, [_nan_to_none(v) for v in per]]
                for (d, a, e), per in self.per_class_auroc.items()
            ],
        }
        if include_scores and self.scores is not None and self.labels is not None:
            out["labels"] = np.asarray(self.labels).tolist()
            out["scores"] = [
                [d, a, e, np.asarray(s).tolist()] for (d, a, e), s in self.scores.items()
            ]
        return out

    def to_json(self, path: str | Path | None = None, *, include_scores: bool = False) -> str:
        """Serialise to JSON; write it to ``path`` if given. :meth:`from_json` reads it back."""
        text = json.dumps(self.to_dict(include_scores), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> RobustnessReport:
        """Read a report written by :meth:`to_json` (a path or the JSON text itself)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text()
        data = json.loads(text)
        if data.get("format") != _FORMAT:
            raise ValueError(
                f"source is not a hermes RobustnessReport JSON (format={data.get('format')!r})"
            )
        grids = {
            name: MetricGrid(
                name, {(d, a, e): _none_to_nan(v) for d, a, e, v in data["metrics"][name]}
            )
            for name in METRICS
        }
        ci = None
        if data.get("ci") is not None:
            ci = MetricGrid(
                "ci",
                {(d, a, e): (_none_to_nan(lo), _none_to_nan(hi)) for d, a, e, lo, hi in data["ci"]},
            )
        scores = labels = None
        if "scores" in data:
            labels = np.asarray(data["labels"])
            scores = {(d, a, eps_key(e)): np.asarray(s) for d, a, e, s in data["scores"]}
        selection = candidate_auroc = sanity = None
        if data.get("selection") is not None:
            selection = {(d, a, e): wins for d, a, e, wins in data["selection"]}
        if data.get("candidate_auroc") is not None:
            candidate_auroc = {
                (d, a, e): {c: _none_to_nan(v) for c, v in per.items()}
                for d, a, e, per in data["candidate_auroc"]
            }
        if data.get("sanity") is not None:
            sanity = {
                "epsilon": data["sanity"]["epsilon"],
                "auroc": {(d, a): _none_to_nan(v) for d, a, v in data["sanity"]["auroc"]},
            }
        per_class = None
        if data.get("per_class_auroc") is not None:
            per_class = {
                (d, a, e): [_none_to_nan(v) for v in per]
                for d, a, e, per in data["per_class_auroc"]
            }
        return cls(
            **grids,
            task=data.get("task", "binary"),  # reports written before tasks were binary
            per_class_auroc=per_class,
            selection=selection,
            candidate_auroc=candidate_auroc,
            sanity=sanity,
            diagnostics=[Diagnostic(**d) for d in data.get("diagnostics", [])],
            ci=ci,
            threat_model=data["threat_model"],
            n_samples=data["n_samples"],
            n_positive=data["n_positive"],
            timing=data["timing"],
            metadata=data["metadata"],
            labels=labels,
            scores=scores,
        )

    def plot(self, **kwargs: Any):
        """AUROC against epsilon, one panel per attack; see :func:`hermes.plotting.plot_auroc_curves`."""
        from hermes.plotting import plot_auroc_curves

        return plot_auroc_curves(self, **kwargs)

    # ---- display -----------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        """Equal results: every field but the timing (which varies from run to run)."""
        if not isinstance(other, RobustnessReport):
            return NotImplemented
        mine, theirs = self.to_dict(), other.to_dict()
        mine.pop("timing")
        theirs.pop("timing")
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"RobustnessReport(threat_model={self.threat_model!r}, task={self.task!r}, "
            f"n_samples={self.n_samples}, "
            f"defenses={self.defenses}, attacks={self.attacks}, epsilons={self.epsilons})"
        )

    def _repr_markdown_(self) -> str:
        return f"**{self.threat_model} AUROC** (n={self.n_samples})\n\n{self.table()}"
