"""The attacker's input gradient (plain and EOT) of the loss chosen from the model's output, and
where an attack's randomness comes from (:class:`Draws`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from hermes._losses import classification_loss
from hermes._random import GeneratorLike, draw_seed, has_generators, make_generator, seeded

__all__ = [
    "Draws",
    "LossFunction",
    "eot_loss_and_gradient",
    "loss_and_gradient",
    "outputs_over_draws",
]

#: A per-sample loss of ``(logits, labels)``, shaped ``(B,)``; the attacker pushes it up.
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_and_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    loss_fn: LossFunction = classification_loss,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the attacker's objective with respect to the input, and the per-sample loss.

    The objective is the loss (untargeted: push it up) or minus the loss (targeted: pull the
    prediction towards ``y``). The loss is ``loss_fn(logits, y)``, by default the classification
    loss matching the model's output (BCE for one logit, cross-entropy for ``K``). The sum over
    the batch is differentiated, so each sample's gradient does not depend on the batch it is in.
    Gradients are taken with ``torch.autograd.grad`` with respect to the input only: nothing is
    accumulated in parameters' ``.grad``.

    Returns:
        ``(grad, loss)``: ``grad`` shaped like ``x`` (ascent direction of the objective) and the
        ``(B,)`` per-sample loss (detached).
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "attacks need autograd, which torch.inference_mode() turns off; run the attack "
            "outside it (torch.no_grad() around scoring is fine)"
        )
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        loss = loss_fn(model(leaf), y)
        grad = None
        if loss.requires_grad:
            (grad,) = torch.autograd.grad(loss.sum(), leaf, allow_unused=True)
        if grad is None:
            # A zero gradient here would make the model look robust (gradient masking).
            raise RuntimeError(
                "the model's output does not depend on its input through autograd (a .detach(), "
                "torch.no_grad() or a numpy round trip inside it?); wrap non-differentiable "
                "preprocessing in hermes.attacks.BPDA or give a defense a gradient mode"
            )
    return (-grad if targeted else grad), loss.detach()


def eot_loss_and_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    samples: int,
    generator: torch.Generator,
    targeted: bool = False,
    loss_fn: LossFunction = classification_loss,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Expectation over Transformation: the gradient averaged over ``samples`` random draws.

    Before each draw every randomised submodule of ``model`` (anything keeping its randomness in
    a ``generator`` attribute, such as :class:`~hermes.defenses.TVM`) is seeded from
    ``generator``, so the estimate is reproducible; the attributes are restored afterwards.
    ``targeted`` and ``loss_fn`` are as in :func:`loss_and_gradient`.

    Returns:
        ``(grad, loss)``: the mean gradient and the mean per-sample loss over the draws.
    """
    grad_sum, loss_sum = None, None
    for _ in range(samples):
        with seeded(model, draw_seed(generator)):
            grad, loss = loss_and_gradient(model, x, y, targeted=targeted, loss_fn=loss_fn)
        grad_sum = grad if grad_sum is None else grad_sum + grad
        loss_sum = loss if loss_sum is None else loss_sum + loss
    return grad_sum / samples, loss_sum / samples


@dataclass(frozen=True)
class Draws:
    """Where an attack's randomness comes from, and how its gradients treat a randomised model.

    Attributes:
        rng: the attack's generator: random starts, squares, and the seeds of the model's draws.
        randomised: whether the model keeps randomness in ``generator`` attributes (hermes'
            randomised defenses); each of its draws is then seeded from ``rng``.
        eot: whether gradients and scores average ``samples`` draws (a randomised model, or
            ``eot_samples > 1`` for randomness hermes cannot seed).
        samples: the number of draws averaged when ``eot``.
    """

    rng: torch.Generator
    randomised: bool
    eot: bool
    samples: int

    @classmethod
    def of(cls, model: nn.Module, generator: GeneratorLike, eot_samples: int) -> Draws:
        """The draws of an attack on ``model`` with its ``generator`` and ``eot_samples`` settings."""
        randomised = has_generators(model)
        eot = randomised or eot_samples > 1
        return cls(make_generator(generator), randomised, eot, eot_samples)

    def gradient(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        targeted: bool,
        loss_fn: LossFunction = classification_loss,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`eot_loss_and_gradient` when ``eot``, else :func:`loss_and_gradient`."""
        if not self.eot:
            return loss_and_gradient(model, x, y, targeted=targeted, loss_fn=loss_fn)
        return eot_loss_and_gradient(
            model,
            x,
            y,
            samples=self.samples,
            generator=self.rng,
            targeted=targeted,
            loss_fn=loss_fn,
        )

    def seeds(self, count: int | None = None) -> list[int]:
        """``count`` seeds (default ``samples``) for draws of the model's randomness."""
        return [draw_seed(self.rng) for _ in range(self.samples if count is None else count)]

    def judge(self, restarts: int, count: int = 1) -> list[int] | None:
        """The seeds under which a randomised model's restarts are compared, drawn once up front
        (so every restart is judged under the same draws); ``None`` when nothing needs them."""
        return self.seeds(count) if self.randomised and restarts > 1 else None


def outputs_over_draws(model: nn.Module, seeds: list[int], x: torch.Tensor) -> list[torch.Tensor]:
    """``model(x)`` once per seed, the model's randomised submodules seeded from it."""
    outputs = []
    for seed in seeds:
        with seeded(model, seed):
            outputs.append(model(x))
    return outputs
