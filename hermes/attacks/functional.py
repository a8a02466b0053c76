"""Functional attacks: plain functions of a model, images in [0, 1] and labels.

FGSM and PGD live here; APGD and Square live in their own modules and are re-exported here.

The attack modules in :mod:`hermes.attacks` hold a configuration and call these.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hermes._losses import classification_loss
from hermes._modes import eval_mode
from hermes._random import (
    GeneratorLike,
    check_generator,
    draw_seed,
    has_generators,
    make_generator,
    seeded,
)
from hermes._settings import Setting
from hermes._validation import (
    check_bool,
    check_number,
    check_positive_int,
)
from hermes.attacks._checks import call_checked, normalize_norm
from hermes.attacks._gradients import eot_loss_and_gradient, loss_and_gradient
from hermes.attacks._projection import ascent_step, project, random_start
from hermes.attacks.apgd import apgd
from hermes.attacks.square import square

__all__ = [
    "apgd",
    "default_alpha",
    "fgsm",
    "normalize_norm",
    "pgd",
    "square",
]


def default_alpha(eps: float, steps: int) -> float:
    """PGD's default step size, ``2.5 * eps / steps`` (Madry et al. 2018).

    Example:
        >>> default_alpha(0.04, 10)
        0.01
    """
    return 2.5 * eps / steps


def _check_alpha(alpha: object, name: str) -> float | None:
    if alpha is None:
        return None  # the default, 2.5 * eps / steps, once eps and steps are known
    return check_number(alpha, name, low=0.0, high=math.inf, high_inclusive=False)


FGSM_SETTINGS = (
    Setting("generator", check_generator, shown=False),
    Setting("eot_samples", check_positive_int),
)
"""FGSM's settings besides ``eps`` and ``targeted`` (shared by :func:`fgsm` and the module)."""

PGD_SETTINGS = (
    Setting("alpha", _check_alpha, "{:g}"),
    Setting("steps", check_positive_int),
    Setting("norm", normalize_norm, "{}"),
    Setting("random_start", check_bool),
    Setting("restarts", check_positive_int),
    *FGSM_SETTINGS,
)
"""PGD's settings besides ``eps`` and ``targeted`` (shared by :func:`pgd` and the module)."""


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool = False,
    generator: GeneratorLike = None,
    eot_samples: int = 1,
) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow et al., 2015), L-inf, in pixel space.

    ``x_adv = clip(x + eps * sign(grad_x loss(model(x), y)), 0, 1)``; with ``targeted=True`` the
    step goes down the loss towards the target labels ``y``.

    Args:
        model: classifier taking ``(B, C, H, W)`` images in ``[0, 1]`` and returning ``(B,)``,
            ``(B, 1)`` (one logit, BCE) or ``(B, K)`` logits (cross-entropy).
        x: ``(B, C, H, W)`` float images in ``[0, 1]``; never modified.
        y: ``(B,)`` or ``(B, 1)`` integer labels (true labels, or targets if ``targeted``).
        eps: L-inf budget in pixel units (``8 / 255`` is 8 grey levels), ``>= 0``.
        targeted: minimise the loss towards ``y`` instead of maximising it.
        generator: seeds the EOT draws of a randomised model (see :func:`pgd`); FGSM itself
            draws nothing.
        eot_samples: gradient draws averaged for a randomised model (see :func:`pgd`).

    Returns:
        ``(B, C, H, W)`` adversarial images in ``[0, 1]``, same dtype and device as ``x``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
        >>> x = torch.full((2, 1, 2, 2), 0.5)
        >>> x_adv = fgsm(model, x, torch.tensor([0, 1]), eps=0.1)
        >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6)
        True
    """
    values = {"generator": generator, "eot_samples": eot_samples}
    return call_checked(run_fgsm, FGSM_SETTINGS, model, x, y, eps, targeted, values)


def run_fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool,
    generator: GeneratorLike,
    eot_samples: int,
) -> torch.Tensor:
    """:func:`fgsm` on checked input: one PGD step of size ``eps`` from ``x``."""
    return run_pgd(
        model,
        x,
        y,
        eps,
        targeted=targeted,
        alpha=eps,
        steps=1,
        norm="inf",
        random_start=False,
        restarts=1,
        generator=generator,
        eot_samples=eot_samples,
    )


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    alpha: float | None = None,
    steps: int = 10,
    norm: str | float = "inf",
    random_start: bool = True,
    restarts: int = 1,
    targeted: bool = False,
    generator: GeneratorLike = None,
    eot_samples: int = 1,
) -> torch.Tensor:
    """Projected Gradient Descent (Madry et al., 2018) under an L-inf or L2 budget.

    Each of ``steps`` iterations takes a steepest-ascent step of size ``alpha`` (sign of the
    gradient for L-inf, the L2-normalised gradient for L2), projects onto the eps-ball around
    ``x`` and clips to ``[0, 1]``. With ``restarts > 1`` the attack is run that many times (each
    from its own random start) and, per sample, the final iterate with the highest objective
    (loss, or minus the loss when targeted) is kept.

    Args:
        model: classifier on ``[0, 1]`` images; its train/eval mode is restored afterwards and
            no gradient is left on its parameters.
        x: ``(B, C, H, W)`` float images in ``[0, 1]``; never modified.
        y: ``(B,)`` or ``(B, 1)`` integer labels.
        eps: budget in pixel units, ``>= 0``; ``0`` returns a copy of ``x``.
        alpha: step size; default ``2.5 * eps / steps``.
        steps: number of iterations, ``>= 1``.
        norm: ``"inf"`` or ``2``.
        random_start: start from a uniform random point of the eps-ball.
        restarts: number of independent runs, ``>= 1``.
        targeted: minimise the loss towards target labels ``y``.
        generator: ``torch.Generator`` or int seed for the random starts and the EOT draws;
            ``None`` seeds a private generator from OS entropy. The global RNG is never used.
        eot_samples: Expectation over Transformation: average the gradient over this many
            draws of the model's randomness per step (for randomised defenses such as TVM in
            ``nn.Sequential(defense, model)``). Each draw seeds the randomised submodules (those
            with a ``generator`` attribute) from ``generator``, so runs are reproducible. A model
            whose randomness comes from elsewhere (torch's global RNG, say) still gets its
            ``eot_samples`` draws averaged, but only hermes' own draws are seeded.

    Returns:
        ``(B, C, H, W)`` adversarial images in ``[0, 1]`` with ``||x_adv - x|| <= eps``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> x = torch.rand(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
        >>> x_adv = pgd(model, x, torch.tensor([0, 1, 2, 0]), eps=0.5, norm=2, generator=0)
        >>> bool(((x_adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-6).all())
        True
    """
    values = {
        "alpha": alpha,
        "steps": steps,
        "norm": norm,
        "random_start": random_start,
        "restarts": restarts,
        "generator": generator,
        "eot_samples": eot_samples,
    }
    return call_checked(run_pgd, PGD_SETTINGS, model, x, y, eps, targeted, values)


def run_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool,
    alpha: float | None,
    steps: int,
    norm: str,
    random_start: bool,
    restarts: int,
    generator: GeneratorLike,
    eot_samples: int,
) -> torch.Tensor:
    """:func:`pgd` on checked input (images, labels on ``x``'s device, and settings)."""
    if alpha is None:
        alpha = default_alpha(eps, steps)
    if eps == 0.0 or x.shape[0] == 0:
        return x.detach().clone()
    randomised = has_generators(model)
    eot = randomised or eot_samples > 1
    rng = make_generator(generator) if random_start or eot else None

    def gradient(x_adv: torch.Tensor) -> torch.Tensor:
        if not eot:
            return loss_and_gradient(model, x_adv, y, targeted=targeted)[0]
        return eot_loss_and_gradient(
            model, x_adv, y, samples=eot_samples, generator=rng, targeted=targeted
        )[0]

    x = x.detach()
    with eval_mode(model):
        best, best_objective = None, None
        # every restart's result is judged under the same draw of the model's randomness
        judge_seed = draw_seed(rng) if randomised and restarts > 1 else 0
        for _ in range(restarts):
            x_adv = _first_iterate(x, eps, norm, rng if random_start else None)
            for _ in range(steps):
                x_adv = project(ascent_step(x_adv, gradient(x_adv), alpha, norm), x, eps, norm)
            if restarts == 1:
                return x_adv
            with torch.no_grad(), seeded(model, judge_seed):
                loss = classification_loss(model(x_adv), y)
            objective = -loss if targeted else loss
            if best is None:
                best, best_objective = x_adv, objective
            else:
                better = objective > best_objective
                best = torch.where(better.view(-1, 1, 1, 1), x_adv, best)
                best_objective = torch.where(better, objective, best_objective)
    return best


def _first_iterate(
    x: torch.Tensor, eps: float, norm: str, rng: torch.Generator | None
) -> torch.Tensor:
    """The first iterate: a random point of the ball when ``rng`` is given, else ``x`` itself."""
    return x.clone() if rng is None else random_start(x, eps, norm, rng)
