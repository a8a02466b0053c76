"""The task of a classifier: binary, multi-class or multi-label, and the scores each one ranks.

- ``"binary"``: one logit (sigmoid) or two logits (softmax); labels ``(N,)`` in ``{0, 1}``.
- ``"multiclass"``: ``K > 2`` logits (softmax); labels ``(N,)`` class indices ``0..K-1``.
- ``"multilabel"``: ``K`` logits, each its own sigmoid; labels ``(N, K)`` of 0/1.

The task is inferred from the labels and the model's output count (:func:`infer_task`), or stated
and then checked against them. :func:`task_scores` turns logits into the probabilities the
metrics of that task rank.

Example:
    >>> import torch
    >>> infer_task(torch.zeros(4, 3), torch.tensor([0, 2, 1, 1]))
    'multiclass'
    >>> task_scores(torch.zeros(2, 3), "multilabel").shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import difflib
from typing import Any, Literal, get_args

import numpy as np
import torch

from hermes._validation import check_model_output
from hermes.errors import RangeError, ShapeError

__all__ = ["TASKS", "Task", "check_task", "infer_task", "task_scores"]

#: The name of a classification task.
Task = Literal["binary", "multiclass", "multilabel"]

#: Every task name, in the order the docs list them.
TASKS: tuple[str, ...] = get_args(Task)


def check_task(task: Any, name: str = "task") -> str:
    """Return ``task`` if it names a task; else a ValueError suggesting the closest name.

    Example:
        >>> check_task("multiclass")
        'multiclass'
        >>> check_task("multi-label")
        Traceback (most recent call last):
        ...
        ValueError: task must be one of 'binary', 'multiclass', 'multilabel'; got 'multi-label' (did you mean 'multilabel'?)
    """
    if isinstance(task, str) and task in TASKS:
        return task
    hint = ""
    if isinstance(task, str):
        close = difflib.get_close_matches(task.lower(), TASKS, n=1, cutoff=0.5)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    raise ValueError(f"{name} must be one of {', '.join(map(repr, TASKS))}; got {task!r}{hint}")


def _as_array(values: Any, name: str) -> np.ndarray:
    """``values`` (a tensor, array or sequence) as a numpy array, for checks on the host."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a tensor or array; got {type(values).__name__}") from error


def _num_outputs(logits_or_num_outputs: Any) -> tuple[int, int | None]:
    """The model's output count ``K`` and, when logits were given, their batch size."""
    if isinstance(logits_or_num_outputs, torch.Tensor):
        logits = logits_or_num_outputs
        batch = logits.shape[0] if logits.ndim else -1
        return check_model_output(logits, batch, "logits_or_num_outputs"), batch
    if isinstance(logits_or_num_outputs, bool) or not isinstance(
        logits_or_num_outputs, (int, np.integer)
    ):
        raise TypeError(
            "logits_or_num_outputs must be a tensor of logits or the model's number of outputs "
            f"(an int); got {type(logits_or_num_outputs).__name__}"
        )
    if logits_or_num_outputs < 1:
        raise RangeError(
            f"logits_or_num_outputs must be at least 1 output; got {int(logits_or_num_outputs)}"
        )
    return int(logits_or_num_outputs), None


def infer_task(logits_or_num_outputs: Any, labels: Any, task: str | None = None) -> str:
    """The task of a classifier, inferred from its output count and labels, or checked.

    - 1 or 2 outputs and 1-D labels in ``{0, 1}``: ``"binary"``.
    - ``K > 2`` outputs and 1-D integer labels in ``0..K-1``: ``"multiclass"``.
    - 2-D labels ``(N, K)`` of 0/1 matching the ``K`` outputs: ``"multilabel"``.

    Labels shaped ``(N, 1)`` are read as ``(N,)`` class indices, except with
    ``task="multilabel"`` (one label, ``K = 1``). A stated ``task`` must fit: ``"binary"`` needs
    1 or 2 outputs, ``"multiclass"`` at least 2 (with 2 it is binary in all but name) and 1-D
    labels, ``"multilabel"`` 2-D labels with one column per output.

    Args:
        logits_or_num_outputs: the model's logits ``(N,)``, ``(N, 1)`` or ``(N, K)``, or its
            number of outputs ``K`` as an int.
        labels: ``(N,)`` class indices or ``(N, K)`` multi-label targets of 0/1 (a tensor or
            array; integer, bool, or floats holding whole numbers).
        task: ``None`` to infer, or ``"binary"``, ``"multiclass"``, ``"multilabel"`` to check.

    Returns:
        The task's name.

    Shape:
        - ``logits_or_num_outputs``: :math:`(N,)`, :math:`(N, 1)` or :math:`(N, K)`, or an int
        - ``labels``: :math:`(N,)`, :math:`(N, 1)` or :math:`(N, K)`

    Raises:
        ValueError: an unknown ``task`` (the closest name is suggested).
        TypeError: labels that are not whole numbers.
        ShapeError: labels of the wrong rank, a batch size or label count that differs from the
            logits', or an output count the stated task cannot have.
        RangeError: a label outside the model's classes, or a multi-label target other than 0/1.

    Example:
        >>> import torch
        >>> infer_task(1, torch.tensor([0, 1, 1]))
        'binary'
        >>> infer_task(14, torch.zeros(8, 14))
        'multilabel'
        >>> infer_task(torch.zeros(2, 3), torch.tensor([0, 3]))
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: labels must be class indices in 0..2 for a model with 3 outputs; got label 3
    """
    if task is not None:
        task = check_task(task)
    k, batch = _num_outputs(logits_or_num_outputs)
    y = _as_array(labels, "labels")
    if y.ndim == 2 and y.shape[1] == 1 and task != "multilabel":
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise ShapeError(
            f"labels must be (N,) class indices or (N, K) multi-label targets; "
            f"got shape {tuple(y.shape)}"
        )
    if batch is not None and y.shape[0] != batch:
        raise ShapeError(
            f"labels must hold one entry per sample of the logits: expected {batch}, "
            f"got {y.shape[0]}"
        )
    if y.dtype.kind not in "biuf":
        raise TypeError(f"labels must hold numbers; got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise TypeError("labels must hold class indices or 0/1 targets (whole numbers)")
    if y.ndim == 2:
        return _check_multilabel(k, y, task)
    if task == "multilabel":
        raise ShapeError(
            f"labels must be (N, K) targets of 0/1 for task='multilabel'; got shape {tuple(y.shape)}"
        )
    if task is None:
        task = "binary" if k <= 2 else "multiclass"
    if task == "binary" and k > 2:
        raise ShapeError(
            f"task='binary' needs a model with 1 or 2 outputs; got {k} (use task='multiclass')"
        )
    if task == "multiclass" and k < 2:
        raise ShapeError(
            "task='multiclass' needs a model with one logit per class (K >= 2 outputs); got 1 "
            "(a single logit is a binary model)"
        )
    classes = max(k, 2)
    if y.size:
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise RangeError(
                f"labels must be class indices in 0..{classes - 1} for a model with {k} "
                f"output{'s' if k > 1 else ''}; got label {bad}"
            )
    return task


def _check_multilabel(k: int, y: np.ndarray, task: str | None) -> str:
    """The checks of 2-D labels ``y``: multi-label targets for a model with ``k`` outputs."""
    if task in ("binary", "multiclass"):
        raise ShapeError(
            f"labels must be 1-D class indices (N,) for task={task!r}; got shape "
            f"{tuple(y.shape)} (multi-label targets? use task='multilabel')"
        )
    if y.shape[1] != k:
        raise ShapeError(
            f"labels hold {y.shape[1]} multi-label targets per sample but the model has {k} "
            f"output{'s' if k > 1 else ''}; a multi-label model needs one logit per label"
        )
    if y.size and not np.all((y == 0) | (y == 1)):
        bad = y[(y != 0) & (y != 1)].flat[0]
        raise RangeError(f"labels must hold multi-label targets 0 or 1; got {bad}")
    return "multilabel"


def task_scores(logits: torch.Tensor, task: str) -> torch.Tensor:
    """The probabilities a task's metrics rank, in float64.

    - ``"binary"``: the positive-class probability ``(N,)``
      (:func:`~hermes.models.scores.positive_class_scores`: sigmoid of one logit, softmax
      column 1 of two).
    - ``"multiclass"``: softmax over the ``K`` logits, ``(N, K)``.
    - ``"multilabel"``: the sigmoid of each logit, ``(N, K)``.

    Args:
        logits: float logits ``(N,)``, ``(N, 1)`` or ``(N, K)``.
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"``.

    Returns:
        float64 probabilities on ``logits``' device, ``(N,)`` for binary, else ``(N, K)``.

    Shape:
        - Input: :math:`(N,)`, :math:`(N, 1)` or :math:`(N, K)`
        - Output: :math:`(N,)` (binary) or :math:`(N, K)`

    Raises:
        ValueError: an unknown ``task``.
        TypeError: ``logits`` is not a float tensor.
        ShapeError: an output count the task cannot have (binary: 1 or 2; multi-class: at least
            2; multi-label: 2-D logits).

    Example:
        >>> import torch
        >>> task_scores(torch.tensor([[0.0, 0.0, 0.0]]), "multiclass")
        tensor([[0.3333, 0.3333, 0.3333]], dtype=torch.float64)
        >>> task_scores(torch.tensor([[0.0, 2.0]]), "binary")
        tensor([0.8808], dtype=torch.float64)
    """
    task = check_task(task)
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        described = f"dtype {logits.dtype}" if isinstance(logits, torch.Tensor) else type(logits)
        raise TypeError(f"logits must be a float tensor of logits; got {described}")
    k = check_model_output(logits, logits.shape[0] if logits.ndim else -1, "logits")
    z = logits.to(torch.float64)
    if task == "binary":
        if k > 2:
            raise ShapeError(
                f"logits must have 1 or 2 outputs for task='binary'; got {k} "
                "(use task='multiclass')"
            )
        # as hermes.models.positive_class_scores (not imported: hermes.models needs this module)
        return torch.sigmoid(z.reshape(-1)) if k == 1 else torch.softmax(z, dim=1)[:, 1]
    if logits.ndim != 2:
        raise ShapeError(
            f"logits must be (N, K) for task={task!r}; got shape {tuple(logits.shape)}"
        )
    if task == "multiclass":
        if k < 2:
            raise ShapeError("logits must have K >= 2 outputs for task='multiclass'; got 1")
        return torch.softmax(z, dim=1)
    return torch.sigmoid(z)
