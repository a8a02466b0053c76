"""The classification loss chosen from a model's output shape, shared by attacks and training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hermes._validation import check_model_output
from hermes.errors import RangeError

__all__ = ["classification_loss"]


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
    k = check_model_output(logits, y.shape[0])
    top = int(y.max()) if y.numel() else 0
    if k == 1:
        if top > 1:
            raise RangeError(
                f"{name} must be 0 or 1 for a model with one output logit; got label {top}"
            )
        return F.binary_cross_entropy_with_logits(
            logits.reshape(-1), y.to(logits.dtype), reduction="none"
        )
    if top >= k:
        raise RangeError(
            f"{name} must be in 0..{k - 1} for a model with {k} output logits; got label {top}"
        )
    return F.cross_entropy(logits, y.long(), reduction="none")
