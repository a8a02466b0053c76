"""The attacker's loss, chosen from the model's output shape, and its input gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hermes._seeding import draw_seed, seeded
from hermes._validation import check_model_output
from hermes.errors import RangeError

__all__ = ["classification_loss", "eot_loss_and_gradient", "loss_and_gradient"]


def classification_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample loss of a classifier's logits against labels.

    One logit per sample (shape ``(B,)`` or ``(B, 1)``) is read as a binary classifier and scored
    with BCE-with-logits on the positive class; ``K >= 2`` logits use cross-entropy.

    Args:
        logits: ``(B,)``, ``(B, 1)`` or ``(B, K)``.
        y: ``(B,)`` class indices (``0``/``1`` for one logit, ``0..K-1`` otherwise).

    Returns:
        ``(B,)`` loss per sample.

    Example:
        >>> import torch
        >>> classification_loss(torch.tensor([0.0, 0.0]), torch.tensor([0, 1]))
        tensor([0.6931, 0.6931])
    """
    k = check_model_output(logits, y.shape[0])
    if y.numel() and int(y.max()) >= max(k, 2):
        raise RangeError(
            f"y must hold class indices below {max(k, 2)} for a model with {k} output logit(s); "
            f"got label {int(y.max())}"
        )
    if k == 1:
        return F.binary_cross_entropy_with_logits(
            logits.reshape(-1), y.to(logits.dtype), reduction="none"
        )
    return F.cross_entropy(logits, y.long(), reduction="none")


def loss_and_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, targeted: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the attacker's objective with respect to the input, and the per-sample loss.

    The objective is the loss (untargeted: push it up) or minus the loss (targeted: pull the
    prediction towards ``y``). The sum over the batch is differentiated, so each sample's gradient
    does not depend on the batch it is in. Gradients are taken with ``torch.autograd.grad`` with
    respect to the input only: nothing is accumulated in parameters' ``.grad``.

    Returns:
        ``(grad, loss)``: ``grad`` shaped like ``x`` (ascent direction of the objective) and the
        ``(B,)`` per-sample loss (detached).
    """
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        loss = classification_loss(model(leaf), y)
        (grad,) = torch.autograd.grad(loss.sum(), leaf)
    return (-grad if targeted else grad), loss.detach()


def eot_loss_and_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    samples: int,
    generator: torch.Generator,
    targeted: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Expectation over Transformation: the gradient averaged over ``samples`` random draws.

    Before each draw every randomised submodule of ``model`` (anything keeping its randomness in
    a ``generator`` attribute, such as :class:`~hermes.defenses.TVM`) is seeded from
    ``generator``, so the estimate is reproducible; the attributes are restored afterwards.

    Returns:
        ``(grad, loss)``: the mean gradient and the mean per-sample loss over the draws.
    """
    grad_sum, loss_sum = None, None
    for _ in range(samples):
        with seeded(model, draw_seed(generator)):
            grad, loss = loss_and_gradient(model, x, y, targeted=targeted)
        grad_sum = grad if grad_sum is None else grad_sum + grad
        loss_sum = loss if loss_sum is None else loss_sum + loss
    return grad_sum / samples, loss_sum / samples
