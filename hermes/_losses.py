"""The classification loss chosen from a model's output shape, shared by attacks and training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hermes._validation import check_model_output
from hermes.errors import RangeError

__all__ = ["classification_loss", "true_class_margin"]


def _check_labels_fit(logits: torch.Tensor, y: torch.Tensor, name: str) -> int:
    """The number of logits ``k``, after checking that every label in ``y`` is a class of them."""
    k = check_model_output(logits, y.shape[0])
    top = int(y.max()) if y.numel() else 0
    if k == 1 and top > 1:
        raise RangeError(
            f"{name} must be 0 or 1 for a model with one output logit; got label {top}"
        )
    if k > 1 and top >= k:
        raise RangeError(
            f"{name} must be in 0..{k - 1} for a model with {k} output logits; got label {top}"
        )
    return k


def classification_loss(logits: torch.Tensor, y: torch.Tensor, name: str = "y") -> torch.Tensor:
    """Per-sample loss of a classifier's logits against labels.

    One logit per sample (shape ``(B,)`` or ``(B, 1)``) is read as a binary classifier and scored
    with BCE-with-logits on the positive class; ``K >= 2`` logits use cross-entropy.

    Args:
        logits: ``(B,)``, ``(B, 1)`` or ``(B, K)``.
        y: ``(B,)`` class indices (``0``/``1`` for one logit, ``0..K-1`` otherwise).
        name: how to call the labels in error messages.

    Returns:
        ``(B,)`` loss per sample.

    Example:
        >>> import torch
        >>> classification_loss(torch.tensor([0.0, 0.0]), torch.tensor([0, 1]))
        tensor([0.6931, 0.6931])
    """
    if _check_labels_fit(logits, y, name) == 1:
        return F.binary_cross_entropy_with_logits(
            logits.reshape(-1), y.to(logits.dtype), reduction="none"
        )
    return F.cross_entropy(logits, y.long(), reduction="none")


def true_class_margin(logits: torch.Tensor, y: torch.Tensor, name: str = "y") -> torch.Tensor:
    """Per-sample margin of the true class: how far the model is from misclassifying.

    One logit ``z`` (binary, sigmoid): ``z`` for label 1 and ``-z`` for label 0 (the signed logit).
    ``K >= 2`` logits: ``z_y - max_{j != y} z_j``. The margin is positive exactly when the sample
    is classified correctly, and for a binary model it is a monotone function of the
    positive-class probability (increasing for positives, decreasing for negatives), so lowering
    it per sample can only lower AUROC. Attacks maximise ``-margin`` (the margin loss; Carlini &
    Wagner 2017, and APGD's stand-in for DLR on binary models).

    Args:
        logits: ``(B,)``, ``(B, 1)`` or ``(B, K)``.
        y: ``(B,)`` class indices.
        name: how to call the labels in error messages.

    Returns:
        ``(B,)`` margins, same dtype as ``logits``.

    Example:
        >>> import torch
        >>> true_class_margin(torch.tensor([2.0, 2.0]), torch.tensor([1, 0]))
        tensor([ 2., -2.])
        >>> true_class_margin(torch.tensor([[1.0, 3.0, 0.0]]), torch.tensor([1]))
        tensor([2.])
    """
    if _check_labels_fit(logits, y, name) == 1:
        z = logits.reshape(-1)
        return torch.where(y.to(z.device) == 1, z, -z)
    y = y.long().to(logits.device).view(-1, 1)
    true = logits.gather(1, y).squeeze(1)
    others = logits.scatter(1, y, float("-inf")).amax(dim=1)
    return true - others
