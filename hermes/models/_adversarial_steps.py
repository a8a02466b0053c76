"""What robust training does to one batch: craft examples, score them, add noise.

The crafting loop is hermes' PGD, built from the attack package's pieces (random start, the
input gradient of a loss, the steepest-ascent step, the projection onto the eps-ball and the pixel
box); only the loss it climbs changes: the classification loss for PGD-AT and fast AT, the KL
divergence from the clean output for TRADES.

Which output distribution a model has is decided in one place, :func:`sigmoid_outputs`: one logit,
or ``K`` logits scored against ``(B, K)`` multi-label targets, are independent Bernoulli (sigmoid)
outputs; ``K`` logits scored against class indices are one categorical (softmax) output. The
classification loss (:func:`hermes._losses.classification_loss`) makes the same choice from the
same labels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from hermes._losses import _is_multilabel, classification_loss
from hermes._modes import eval_mode
from hermes._random import randn_like
from hermes.attacks._gradients import loss_and_gradient
from hermes.attacks._projection import ascent_step, project, random_start
from hermes.attacks.pgd import PGD
from hermes.models.adversarial_training import AdversarialTraining

__all__ = [
    "add_gaussian_noise",
    "adversarial_loss",
    "craft_examples",
    "output_divergence",
    "robust_validation_examples",
    "sigmoid_outputs",
]

_TRADES_START = 0.001
"""Scale of TRADES' Gaussian start, ``x + 0.001 * N(0, I)`` (Zhang et al. 2019)."""


def sigmoid_outputs(logits: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether ``logits`` are independent Bernoulli (sigmoid) outputs rather than one softmax.

    ``True`` when the model has one logit per sample (binary) or when ``y`` holds multi-label
    targets (float ``(B, K)``: one sigmoid per label); ``False`` for ``K >= 2`` logits scored
    against class indices ``(B,)`` (softmax), as :func:`hermes._losses.classification_loss`
    decides.

    Example:
        >>> import torch
        >>> sigmoid_outputs(torch.zeros(2, 3), torch.tensor([0, 2]))
        False
        >>> sigmoid_outputs(torch.zeros(2, 3), torch.zeros(2, 3))
        True
    """
    return _is_multilabel(y) or logits.reshape(logits.shape[0], -1).shape[1] == 1


def output_divergence(
    clean_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Per-sample ``KL(P_clean || P_adv)`` between the output distributions of two logit batches.

    Bernoulli outputs (:func:`sigmoid_outputs`): ``p log(p / q) + (1 - p) log((1 - p) / (1 - q))``
    with ``p = sigmoid(clean)``, ``q = sigmoid(adv)``, summed over logits; softmax outputs:
    ``sum_k p_k (log p_k - log q_k)``. Both are computed from log-probabilities (``logsigmoid``,
    ``log_softmax``), so saturated logits give finite values. Gradients flow into both arguments.
    With multi-label targets this is TRADES' per-label Bernoulli KL, summed over the ``K`` labels;
    with class indices and ``K >= 2`` logits, the softmax KL.

    Args:
        clean_logits: ``(B,)``, ``(B, 1)`` or ``(B, K)`` logits on the clean images.
        adv_logits: logits on the adversarial images, same shape.
        y: the labels: ``(B,)`` class indices or ``(B, K)`` float multi-label targets; only
            which kind they are matters (:func:`sigmoid_outputs`).

    Returns:
        ``(B,)`` divergences, ``>= 0``.

    Example:
        >>> import torch
        >>> output_divergence(torch.tensor([[0.0]]), torch.tensor([[0.0]]), torch.tensor([1]))
        tensor([0.])
        >>> clean, adv = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 2.0]])
        >>> output_divergence(clean, adv, torch.tensor([[1.0, 0.0]]))  # Bernoulli, per label
        tensor([0.4338])
        >>> output_divergence(clean, adv, torch.tensor([0]))  # one softmax over 2 classes
        tensor([0.4338])
    """
    batch = clean_logits.shape[0]
    clean = clean_logits.reshape(batch, -1)
    adv = adv_logits.reshape(batch, -1)
    if sigmoid_outputs(clean_logits, y):
        p = torch.sigmoid(clean)
        kl = p * (F.logsigmoid(clean) - F.logsigmoid(adv)) + (1 - p) * (
            F.logsigmoid(-clean) - F.logsigmoid(-adv)
        )
        return kl.sum(dim=1)
    log_p = F.log_softmax(clean, dim=1)
    return (log_p.exp() * (log_p - F.log_softmax(adv, dim=1))).sum(dim=1)


def _start(
    x: torch.Tensor, setting: AdversarialTraining, eps: float, generator: torch.Generator
) -> torch.Tensor:
    if setting.random_start:
        return random_start(x, eps, setting.norm, generator)
    if setting.method == "trades":
        return project(x + _TRADES_START * randn_like(x, generator), x, eps, setting.norm)
    return x.clone()


def craft_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    setting: AdversarialTraining,
    epoch: int,
    generator: torch.Generator,
    name: str = "train_data labels",
) -> torch.Tensor:
    """The training examples of ``setting`` for one batch, crafted with ``model`` in eval mode.

    PGD-AT and fast AT climb the classification loss (BCE for one logit, cross-entropy for
    class indices, BCE summed over the labels for ``(B, K)`` multi-label targets); TRADES climbs
    :func:`output_divergence` from the clean output (computed once, in eval mode, without
    gradient; softmax KL for class indices, per-label Bernoulli KL for multi-label targets).
    Each step is :func:`~hermes.attacks._projection.ascent_step` then
    :func:`~hermes.attacks._projection.project` (eps-ball, then ``[0, 1]``), as in
    :func:`hermes.attacks.functional.pgd`, with the epoch's eps and step size
    (:meth:`AdversarialTraining.eps_at`, :meth:`AdversarialTraining.alpha_at`). The model's
    train/eval flags are restored and no gradient is left on its parameters.

    Returns:
        ``(B, C, H, W)`` images in ``[0, 1]`` within the epoch's eps of ``x``, detached.
    """
    eps, alpha = setting.eps_at(epoch), setting.alpha_at(epoch)
    x = x.detach()
    with eval_mode(model):
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
        if setting.method == "trades":
            with torch.no_grad():
                target = model(x).float()
                # the KL reads the labels' kind only: check that they fit the model up front
                classification_loss(target, y, name)

            def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
                return output_divergence(target, logits.float(), labels)
        else:

            def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
                return classification_loss(logits.float(), labels, name)

        x_adv = _start(x, setting, eps, generator)
        for _ in range(setting.steps):
            grad, _ = loss_and_gradient(model, x_adv, y, loss_fn=loss_fn)
            x_adv = project(ascent_step(x_adv, grad, alpha, setting.norm), x, eps, setting.norm)
    return x_adv.detach()


def adversarial_loss(
    model: nn.Module,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    y: torch.Tensor,
    setting: AdversarialTraining,
    name: str = "train_data labels",
) -> torch.Tensor:
    """The mean training objective of ``setting`` on one batch (graph attached for backward).

    ``x_adv`` are the batch's examples from :func:`craft_examples` (crafted in eval mode; under
    ``DistributedDataParallel`` craft them with the plain module, so the attack's own forward
    and backward passes do not enter DDP's gradient synchronisation, and pass the wrapped model
    here).

    - ``"pgd"`` and ``"fast"``: ``mean(L(f(x_adv), y))``, ``L`` the classification loss.
    - ``"trades"``: ``mean(L(f(x), y) + beta * KL(f(x) || f(x_adv)))``; both forward passes run
      in the model's current (training) mode and both carry gradients, as in the paper.
    """
    if setting.method != "trades":
        return classification_loss(model(x_adv).float(), y, name).mean()
    clean = model(x).float()
    natural = classification_loss(clean, y, name)
    return (natural + setting.beta * output_divergence(clean, model(x_adv).float(), y)).mean()


def robust_validation_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    setting: AdversarialTraining,
    generator: torch.Generator,
) -> torch.Tensor:
    """PGD examples for the robust validation AUROC: ``val_eps``, ``val_steps`` steps of size
    ``2.5 * val_eps / val_steps``, random start, the training norm, classification loss."""
    settings = (setting.val_eps, setting.val_alpha, setting.val_steps, setting.norm)
    return PGD(model, *settings, generator=generator)(x, y)


def add_gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``x + sigma * N(0, I)`` in pixel space, not clamped to ``[0, 1]``, as
    :class:`~hermes.certify.RandomizedSmoothing` draws its noise.

    Example:
        >>> import torch
        >>> x = torch.full((1, 3, 64, 64), 0.5)
        >>> noisy = add_gaussian_noise(x, 0.25, torch.Generator().manual_seed(0))
        >>> round(float((noisy - x).std()), 2), bool(noisy.max() > 1)
        (0.25, True)
    """
    return x + sigma * randn_like(x, generator)
