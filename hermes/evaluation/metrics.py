"""Metrics of a scored evaluation cell: AUROC (with bootstrap intervals), accuracy, success rate.

AUROC is computed with :func:`sklearn.metrics.roc_auc_score`. The bootstrap uses the same
resamples for every cell of a grid (so intervals of two cells are comparable) and evaluates the
AUROC of all resamples at once from multiplicity counts, which equals sklearn's AUROC with
``sample_weight=counts`` (ties count one half) without a Python loop over resamples.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = [
    "accuracy",
    "auroc",
    "bootstrap_counts",
    "bootstrap_interval",
    "percentile_interval",
    "success_rate",
    "weighted_auroc",
]


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of positive-class ``scores`` against binary ``labels``.

    Returns NaN (with a warning) when only one class is present, where AUROC is undefined.

    Example:
        >>> import numpy as np
        >>> auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
    """
    labels = np.asarray(labels)
    if np.unique(labels).size < 2:
        warnings.warn(
            "AUROC is undefined with a single class in the labels; reporting NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    return float(roc_auc_score(labels, scores))


def accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of samples whose thresholded positive-class score matches the label."""
    return float(np.mean((np.asarray(scores) > threshold) == (np.asarray(labels) == 1)))


def success_rate(
    labels: np.ndarray, clean_scores: np.ndarray, adv_scores: np.ndarray, threshold: float = 0.5
) -> float:
    """Fraction of samples classified correctly on clean input and wrongly after the attack.

    The denominator is the number of clean-correct samples (NaN if there are none).

    Example:
        >>> import numpy as np
        >>> success_rate(np.array([1, 1, 0, 0]), np.array([.9, .8, .2, .7]), np.array([.1, .9, .6, .7]))
        0.6666666666666666
    """
    labels = np.asarray(labels) == 1
    clean_ok = (np.asarray(clean_scores) > threshold) == labels
    adv_ok = (np.asarray(adv_scores) > threshold) == labels
    if not clean_ok.any():
        return float("nan")
    return float(np.mean(~adv_ok[clean_ok]))


def bootstrap_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """Multiplicities of ``resamples`` bootstrap resamples of ``n`` items, ``(resamples, n)``."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def weighted_auroc(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUROC of many weightings of the same samples at once.

    Args:
        labels: ``(n,)`` binary labels.
        scores: ``(n,)`` scores.
        counts: ``(R, n)`` non-negative weights (bootstrap multiplicities).

    Returns:
        ``(R,)`` AUROC per weighting; NaN where a weighting leaves only one class.
    """
    labels = np.asarray(labels) == 1
    order = np.argsort(scores, kind="stable")
    sorted_scores = np.asarray(scores)[order]
    pos, neg = labels[order], ~labels[order]
    c = np.atleast_2d(counts)[:, order]
    cum_neg = np.cumsum(c * neg, axis=1)
    # Tie groups: every item sees the negatives of strictly lower groups fully, its own by half.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], sorted_scores.size] - 1
    group = np.repeat(np.arange(starts.size), ends - starts + 1)
    zero = np.zeros((c.shape[0], 1))
    below = np.hstack([zero, cum_neg])[:, starts][:, group]
    within = cum_neg[:, ends][:, group] - below
    numerator = np.sum(c * pos * (below + 0.5 * within), axis=1)
    denominator = np.sum(c * pos, axis=1) * np.sum(c * neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def bootstrap_interval(
    labels: np.ndarray, scores: np.ndarray, counts: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUROC over the given resample ``counts``."""
    return percentile_interval(weighted_auroc(labels, scores, counts), level)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite ``values`` (NaN, NaN if none).

    Example:
        >>> percentile_interval(np.array([0.0, 0.25, np.nan, 0.75, 1.0]), level=0.5)
        (0.1875, 0.8125)
    """
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
