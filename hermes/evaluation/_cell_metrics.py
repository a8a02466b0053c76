"""The numbers of one grid cell, for every task: AUROC (macro and per class), accuracy, attack
success rate and the bootstrap interval of the AUROC.

A binary cell is computed exactly as before tasks existed (:mod:`hermes.evaluation.metrics`),
so binary reports do not change. A multi-class or multi-label cell's AUROC is the macro mean of
the one-vs-rest (per-label) AUROCs of :func:`~hermes.evaluation.task_metrics.auroc_per_class`,
its interval the percentile bootstrap of that macro mean (each resample weights the samples
once, every class's AUROC is computed under the same weights, and resamples that leave a class
with one label value are dropped, as binary resamples with one class are).

Example:
    >>> import numpy as np
    >>> labels = np.array([0, 1, 2, 1, 0, 2])
    >>> scores = np.eye(3)[[0, 1, 2, 0, 0, 1]] * 0.8 + 0.1
    >>> cell = cell_metrics(labels, scores, scores, "multiclass")
    >>> round(cell["auroc"], 4), cell["accuracy"], cell["success_rate"]
    (0.75, 0.6666666666666666, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hermes.evaluation import metrics
from hermes.evaluation.task_metrics import (
    _checked,
    accuracy,
    auroc_per_class,
    correct_per_sample,
)

__all__ = ["cell_auroc", "cell_metrics"]


def _success_rate(labels: Any, clean_scores: Any, scores: Any, task: str) -> float:
    clean_ok = correct_per_sample(labels, clean_scores, task)
    if not clean_ok.any():
        return float("nan")
    return float(np.mean(~correct_per_sample(labels, scores, task)[clean_ok]))


def _macro_interval(
    labels: Any, scores: Any, task: str, counts: np.ndarray, level: float
) -> tuple[float, float]:
    y, s = _checked(labels, scores, task)
    per_class = np.stack(
        [metrics.weighted_auroc(y[:, k], s[:, k], counts) for k in range(y.shape[1])]
    )
    # NaN wherever a class had one label value in a resample; those resamples are dropped
    return metrics.percentile_interval(per_class.mean(axis=0), level)


def cell_auroc(labels: np.ndarray, scores: np.ndarray, task: str) -> float:
    """The AUROC a cell reports: binary AUROC, or the macro AUROC of the task."""
    if task == "binary":
        return metrics.auroc(labels, scores)
    return auroc_per_class(labels, scores, task)["macro"]


def cell_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    clean_scores: np.ndarray,
    task: str,
    counts: np.ndarray | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """AUROC, per-class AUROC, accuracy, success rate and (with ``counts``) the AUROC interval.

    Args:
        labels: ``(N,)`` labels, or ``(N, K)`` multi-label targets.
        scores: the cell's scores, ``(N,)`` binary or ``(N, K)``
            (:func:`~hermes.tasks.task_scores`).
        clean_scores: the same defense's clean scores (the success rate's reference).
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        counts: ``(R, N)`` bootstrap multiplicities, or ``None`` for no interval.
        level: confidence level of the interval.

    Returns:
        ``{"auroc", "per_class" (None for binary), "accuracy", "success_rate", "ci"}``.
    """
    if task == "binary":
        return {
            "auroc": metrics.auroc(labels, scores),
            "per_class": None,
            "accuracy": metrics.accuracy(labels, scores),
            "success_rate": metrics.success_rate(labels, clean_scores, scores),
            "ci": None
            if counts is None
            else metrics.bootstrap_interval(labels, scores, counts, level),
        }
    per = auroc_per_class(labels, scores, task)
    return {
        "auroc": per["macro"],
        "per_class": per["per_class"],
        "accuracy": accuracy(labels, scores, task),
        "success_rate": _success_rate(labels, clean_scores, scores, task),
        "ci": None if counts is None else _macro_interval(labels, scores, task, counts, level),
    }
