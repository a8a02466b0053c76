"""The classification loss chosen from a model's output shape, shared by attacks and training.

Labels decide between single-label and multi-label: ``(B,)`` class indices give BCE (one logit)
or cross-entropy (``K`` logits); ``(B, K)`` float 0/1 targets, shaped like the logits, give
``K`` independent sigmoids (multi-label).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hermes._validation import check_model_output
from hermes.errors import RangeError, ShapeError

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


def _is_multilabel(y: torch.Tensor) -> bool:
    """Whether ``y`` holds multi-label targets ``(B, K)``, not ``(B,)`` class indices.

    ``(B, K)`` with ``K > 1`` is multi-label whatever its dtype (integer targets are refused
    later, with a message); ``(B, 1)`` is multi-label only when it holds floats.
    """
    return y.ndim == 2 and (y.shape[1] > 1 or y.is_floating_point())


def _check_multilabel_fit(logits: torch.Tensor, y: torch.Tensor, name: str) -> None:
    """Check ``(B, K)`` 0/1 float targets ``y`` against ``(B, K)`` logits."""
    if not y.is_floating_point():
        raise TypeError(
            f"{name} of shape (B, K) are multi-label targets and must be a float tensor of 0/1; "
            f"got dtype {y.dtype}"
        )
    if logits.ndim != 2 or tuple(logits.shape) != tuple(y.shape):
        raise ShapeError(
            f"{name} holds multi-label targets of shape {tuple(y.shape)}, which must match the "
            f"logits' shape (B, K); got logits of shape {tuple(logits.shape)}"
        )
    if y.numel() and not bool(((y == 0) | (y == 1)).all()):
        bad = y[(y != 0) & (y != 1)].flatten()[0].item()
        raise RangeError(f"{name} must hold multi-label targets 0 or 1; got {bad}")


def classification_loss(logits: torch.Tensor, y: torch.Tensor, name: str = "y") -> torch.Tensor:
    """Per-sample loss of a classifier's logits against labels.

    One logit per sample (shape ``(B,)`` or ``(B, 1)``) is read as a binary classifier and scored
    with BCE-with-logits on the positive class; ``K >= 2`` logits use cross-entropy. Multi-label
    targets (float 0/1, shaped ``(B, K)`` like the logits) are scored with BCE-with-logits on each
    of the ``K`` labels, summed over the labels.

    Args:
        logits: ``(B,)``, ``(B, 1)`` or ``(B, K)``.
        y: ``(B,)`` class indices (``0``/``1`` for one logit, ``0..K-1`` otherwise), or ``(B, K)``
            float multi-label targets of 0/1.
        name: how to call the labels in error messages.

    Returns:
        ``(B,)`` loss per sample.

    Raises:
        TypeError: ``(B, K)`` targets that are not floats.
        ShapeError: multi-label targets whose shape differs from the logits'.
        RangeError: a class index outside the model's classes, or a target other than 0/1.

    Example:
        >>> import torch
        >>> classification_loss(torch.tensor([0.0, 0.0]), torch.tensor([0, 1]))
        tensor([0.6931, 0.6931])
        >>> classification_loss(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 1.0]]))
        tensor([2.0794])
    """
    if _is_multilabel(y):
        _check_multilabel_fit(logits, y, name)
        y = y.to(device=logits.device, dtype=logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(dim=1)
    if _check_labels_fit(logits, y, name) == 1:
        return F.binary_cross_entropy_with_logits(
            logits.reshape(-1), y.to(logits.dtype), reduction="none"
        )
    return F.cross_entropy(logits, y.long(), reduction="none")


def true_class_margin(logits: torch.Tensor, y: torch.Tensor, name: str = "y") -> torch.Tensor:
    """Per-sample margin of the true class: how far the model is from misclassifying.

    One logit ``z`` (binary, sigmoid): ``z`` for label 1 and ``-z`` for label 0 (the signed logit).
    ``K >= 2`` logits: ``z_y - max_{j != y} z_j``. Multi-label targets ``(B, K)``: the smallest
    signed logit over the labels, ``min_k (z_k if y_k == 1 else -z_k)``. The margin is positive exactly when the sample
    is classified correctly, and for a binary model it is a monotone function of the
    positive-class probability (increasing for positives, decreasing for negatives), so lowering
    it per sample can only lower AUROC. Attacks maximise ``-margin`` (the margin loss; Carlini &
    Wagner 2017, and APGD's stand-in for DLR on binary models).

    Args:
        logits: ``(B,)``, ``(B, 1)`` or ``(B, K)``.
        y: ``(B,)`` class indices, or ``(B, K)`` float multi-label targets of 0/1 (then the
            margin is positive exactly when every label is right).
        name: how to call the labels in error messages.

    Returns:
        ``(B,)`` margins, same dtype as ``logits``.

    Raises:
        TypeError, ShapeError, RangeError: as in :func:`classification_loss`.

    Example:
        >>> import torch
        >>> true_class_margin(torch.tensor([2.0, 2.0]), torch.tensor([1, 0]))
        tensor([ 2., -2.])
        >>> true_class_margin(torch.tensor([[1.0, 3.0, 0.0]]), torch.tensor([1]))
        tensor([2.])
        >>> true_class_margin(torch.tensor([[1.0, -3.0, 0.5]]), torch.tensor([[1.0, 0.0, 1.0]]))
        tensor([0.5000])
    """
    if _is_multilabel(y):
        _check_multilabel_fit(logits, y, name)
        y = y.to(logits.device)
        return torch.where(y == 1, logits, -logits).amin(dim=1)
    if _check_labels_fit(logits, y, name) == 1:
        z = logits.reshape(-1)
        return torch.where(y.to(z.device) == 1, z, -z)
    y = y.long().to(logits.device).view(-1, 1)
    true = logits.gather(1, y).squeeze(1)
    others = logits.scatter(1, y, float("-inf")).amax(dim=1)
    return true - others
