"""Positive-class probabilities from a classifier's logits, whatever its head's width.

A binary classifier may end in one logit (sigmoid, trained with BCE) or in ``K >= 2`` logits
(softmax, trained with cross-entropy). AUROC must rank samples by a probability of the positive
class, not by a raw logit: this module is the one place that turns either head into that score.

Example:
    >>> import torch
    >>> positive_class_scores(torch.tensor([0.0, 2.0]))
    tensor([0.5000, 0.8808])
    >>> positive_class_scores(torch.tensor([[0.0, 2.0], [1.0, 1.0]]))
    tensor([0.8808, 0.5000])
"""

from __future__ import annotations

import torch

from hermes._validation import check_model_output, check_positive_int
from hermes.errors import RangeError

__all__ = ["positive_class_scores"]


def positive_class_scores(logits: torch.Tensor, positive_class: int = 1) -> torch.Tensor:
    """Probability of the positive class for every sample.

    One logit per sample (shape ``(B,)`` or ``(B, 1)``) gives ``sigmoid(logit)``; ``K >= 2``
    logits give ``softmax(logits)[:, positive_class]``. The shape decides, not the model's class.

    Args:
        logits: a classifier's raw outputs, ``(B,)``, ``(B, 1)`` or ``(B, K)``.
        positive_class: the index of the positive class among ``K >= 2`` logits (ignored for a
            single logit, which always scores class 1).

    Returns:
        Probabilities in ``[0, 1]``, shape ``(B,)``, same dtype and device as ``logits``.

    Shape:
        - Input: :math:`(B,)`, :math:`(B, 1)` or :math:`(B, K)`
        - Output: :math:`(B,)`

    Raises:
        TypeError: ``logits`` is not a float tensor or ``positive_class`` not an integer.
        ShapeError: ``logits`` has another shape.
        RangeError: ``positive_class >= K``.

    Example:
        >>> import torch
        >>> positive_class_scores(torch.tensor([[3.0, 0.0, 0.0]]), positive_class=0)
        tensor([0.9094])
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a float tensor of logits; got {type(logits).__name__}")
    k = check_model_output(logits, logits.shape[0] if logits.ndim else -1, "logits")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a float tensor; got dtype {logits.dtype}")
    positive_class = check_positive_int(positive_class, "positive_class", minimum=0)
    if k == 1:
        return torch.sigmoid(logits.reshape(-1))
    if positive_class >= k:
        raise RangeError(
            f"positive_class must index one of the {k} logits (0..{k - 1}); got {positive_class}"
        )
    return torch.softmax(logits, dim=1)[:, positive_class]
