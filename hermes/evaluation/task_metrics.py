"""AUROC per class and accuracy for every task: binary, multi-class and multi-label.

AUROC of a multi-class model is one-vs-rest: class ``k``'s AUROC ranks every sample by its
probability of class ``k`` against whether it is of class ``k``; the macro AUROC is the plain mean
over classes, as :func:`sklearn.metrics.roc_auc_score` with ``multi_class="ovr",
average="macro"``. A multi-label model has one AUROC per label (``average=None``) and their mean
(``average="macro"``). A binary model's macro AUROC is its AUROC.

A class (or label) whose samples are all positive or all negative has no AUROC: it is NaN, with
one ``RuntimeWarning`` naming every such class, and the macro AUROC is then NaN too (the mean over
all classes is undefined), as the binary :func:`~hermes.evaluation.metrics.auroc` does.
sklearn raises there instead; NaN keeps one sparse cell of an evaluation grid from stopping it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from hermes.errors import RangeError, ShapeError
from hermes.tasks import check_task

__all__ = ["accuracy", "auroc_per_class", "correct_per_sample"]


def _as_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a numpy array (a torch tensor is moved to the host first)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _checked(labels: Any, scores: Any, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores as arrays, checked against each other and the task.

    Returns ``(labels, scores)`` with labels as ``(N, K)`` 0/1 indicators for multi-class and
    multi-label tasks (one column per class) and ``(N,)`` 0/1 for binary.
    """
    task = check_task(task)
    y, s = _as_array(labels, "labels"), _as_array(scores, "scores").astype(np.float64)
    if y.ndim == 2 and y.shape[1] == 1 and task != "multilabel":
        y = y[:, 0]
    if y.shape[:1] != s.shape[:1]:
        raise ShapeError(
            f"labels and scores must hold the same number of samples; got {y.shape[:1]} "
            f"and {s.shape[:1]}"
        )
    if not np.all(np.isfinite(s)):
        raise RangeError("scores must be finite; got NaN or infinity")
    if task == "binary":
        if s.ndim != 1 or y.ndim != 1:
            raise ShapeError(
                "task='binary' needs (N,) labels and (N,) positive-class scores; got labels "
                f"{tuple(y.shape)} and scores {tuple(s.shape)}"
            )
        if y.size and not np.all((y == 0) | (y == 1)):
            raise RangeError(f"labels must be 0 or 1 for task='binary'; got {np.unique(y)}")
        return y.astype(np.int64), s
    if s.ndim != 2:
        raise ShapeError(f"scores must be (N, K) for task={task!r}; got shape {tuple(s.shape)}")
    k = s.shape[1]
    if task == "multiclass":
        if y.ndim != 1:
            raise ShapeError(
                f"labels must be (N,) class indices for task='multiclass'; got shape "
                f"{tuple(y.shape)}"
            )
        if y.size and (not np.all(y == np.round(y)) or int(y.min()) < 0 or int(y.max()) >= k):
            raise RangeError(
                f"labels must be class indices in 0..{k - 1} for {k} score columns; got "
                f"values from {y.min()} to {y.max()}"
            )
        return (y.astype(np.int64)[:, None] == np.arange(k)).astype(np.int64), s
    if y.shape != s.shape:
        raise ShapeError(
            f"labels must be (N, K) like scores for task='multilabel'; got labels "
            f"{tuple(y.shape)} and scores {tuple(s.shape)}"
        )
    if y.size and not np.all((y == 0) | (y == 1)):
        raise RangeError("labels must hold multi-label targets 0 or 1")
    return y.astype(np.int64), s


def auroc_per_class(labels: Any, scores: Any, task: str) -> dict[str, Any]:
    """AUROC of each class (one-vs-rest) or label, and their macro mean.

    Args:
        labels: binary: ``(N,)`` of 0/1; multi-class: ``(N,)`` class indices ``0..K-1``;
            multi-label: ``(N, K)`` of 0/1. Arrays or tensors.
        scores: binary: ``(N,)`` positive-class probabilities; multi-class: ``(N, K)`` class
            probabilities; multi-label: ``(N, K)`` per-label probabilities
            (:func:`hermes.tasks.task_scores` gives all three). Only their order matters.
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"``.

    Returns:
        ``{"macro": float, "per_class": list[float]}``; ``per_class`` has one entry per class or
        label (one for binary). A class with a single label value present is NaN (warned), and
        then so is the macro.

    Raises:
        ValueError: unknown ``task``.
        ShapeError: labels and scores that do not fit each other or the task.
        RangeError: labels outside the classes, targets other than 0/1, scores not finite.

    Example:
        >>> import numpy as np
        >>> scores = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.7, 0.2, 0.1]])
        >>> auroc_per_class(np.array([0, 1, 2, 1]), scores, "multiclass")
        {'macro': 0.763888888888889, 'per_class': [0.6666666666666667, 0.625, 1.0]}
    """
    y, s = _checked(labels, scores, task)
    if task == "binary":
        y, s = y[:, None], s[:, None]
    values, undefined = [], []
    for k in range(y.shape[1]):
        column = y[:, k]
        if column.size == 0 or column.min() == column.max():
            values.append(float("nan"))
            undefined.append(k)
        else:
            values.append(float(roc_auc_score(column, s[:, k])))
    if undefined:
        what = "the labels" if task == "binary" else f"class(es) {undefined}"
        warnings.warn(
            f"AUROC is undefined where only one label value is present ({what}); reporting NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    return {"macro": float(np.mean(values)), "per_class": values}


def accuracy(labels: Any, scores: Any, task: str, threshold: float = 0.5) -> float:
    """Fraction of correct predictions.

    - binary: the positive-class score ``> threshold`` predicts class 1;
    - multi-class: the class of highest score (``threshold`` is not used);
    - multi-label: per-label accuracy, each label predicted by its score ``> threshold``, averaged
      over all ``N * K`` (sample, label) pairs (Hamming accuracy, MedMNIST's ``ACC`` for
      ChestMNIST), not the exact match of whole label vectors.

    Args:
        labels, scores, task: as in :func:`auroc_per_class`.
        threshold: decision threshold on probabilities (binary and multi-label).

    Returns:
        The accuracy in ``[0, 1]``; NaN for no samples.

    Example:
        >>> import numpy as np
        >>> accuracy(np.array([[1, 0], [1, 1]]), np.array([[0.9, 0.2], [0.4, 0.8]]), "multilabel")
        0.75
    """
    y, s = _checked(labels, scores, task)
    if y.shape[0] == 0:
        return float("nan")
    if task == "multilabel":
        return float(np.mean((s > threshold) == (y == 1)))
    return float(np.mean(_correct(y, s, task, threshold)))


def correct_per_sample(labels: Any, scores: Any, task: str, threshold: float = 0.5) -> np.ndarray:
    """``(N,)`` bool: the sample is classified right (binary: the positive-class score is above
    ``threshold`` exactly for label 1; multi-class: the top class is the label; multi-label:
    every label's score is on the right side of ``threshold``).

    Example:
        >>> import numpy as np
        >>> correct_per_sample(np.array([[1, 0], [1, 1]]), np.array([[0.9, 0.2], [0.4, 0.8]]),
        ...                    "multilabel").tolist()
        [True, False]
    """
    y, s = _checked(labels, scores, task)
    return _correct(y, s, task, threshold)


def _correct(y: np.ndarray, s: np.ndarray, task: str, threshold: float) -> np.ndarray:
    """:func:`correct_per_sample` of checked labels and scores."""
    if task == "multiclass":
        return y[np.arange(y.shape[0]), s.argmax(axis=1)] == 1
    right = (s > threshold) == (y == 1)
    return right if task == "binary" else np.all(right, axis=1)
