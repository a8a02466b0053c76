"""Auto-PGD (Croce & Hein 2020): PGD with momentum and a step size that adapts itself.

APGD ("Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
attacks", ICML 2020) needs no step size: it starts at ``2 * eps`` and halves it, per sample, at
fixed checkpoints when progress stalls, restarting from the best point found. It is the gradient
attack of AutoAttack, and usually stronger than PGD for the same number of gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from hermes._losses import classification_loss, true_class_margin
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
    check_choice,
    check_model_output,
    check_number,
    check_positive_int,
)
from hermes.attacks._apgd_steps import ascend
from hermes.attacks._checks import call_checked, normalize_norm
from hermes.attacks._gradients import LossFunction, eot_loss_and_gradient, loss_and_gradient
from hermes.attacks._projection import random_start
from hermes.attacks.base import Attack

__all__ = ["APGD", "apgd", "apgd_checkpoints"]

LOSSES = ("ce", "margin", "dlr")


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations at which APGD may halve its step size, for a run of ``steps`` iterations.

    ``w_j = ceil(p_j * steps)`` with ``p_0 = 0``, ``p_1 = 0.22`` and
    ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`` while ``p_j <= 1`` (Croce & Hein 2020);
    the intervals shrink from 22% of the run to 6%. Repeated iterations (short runs) appear once.
    The fractions are exact hundredths, so they are computed in integers (no rounding surprises).

    Args:
        steps: the number of iterations, ``>= 1``.

    Returns:
        The sorted checkpoint iterations, starting with ``0``.

    Example:
        >>> apgd_checkpoints(100)
        [0, 22, 41, 57, 70, 80, 87, 93, 99]
        >>> apgd_checkpoints(10)
        [0, 3, 5, 6, 7, 8, 9, 10]
    """
    steps = check_positive_int(steps, "steps")
    points, earlier, p = [0], 0, 22  # p in hundredths
    while p <= 100:
        points.append(-(-p * steps // 100))  # ceil(p / 100 * steps)
        earlier, p = p, p + max(p - earlier - 3, 6)
    return sorted(set(points))


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Minus the true-class margin (see :func:`hermes._losses.true_class_margin`), per sample."""
    return -true_class_margin(logits, y)


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of Logits Ratio: ``-(z_y - max_{j != y} z_j) / (z_(1) - z_(3))``, per sample.

    ``z_(1) >= z_(2) >= ...`` are the sorted logits. The ratio does not change when the logits are
    shifted or scaled, so a model cannot hide behind large logits. It needs at least 3 logits.
    """
    k = check_model_output(logits, y.shape[0])
    if k < 3:
        raise ValueError(
            f"loss='dlr' needs a model with at least 3 output logits; got {k} "
            "(use loss='margin' for binary models)"
        )
    top = logits.topk(3, dim=1).values
    spread = (top[:, 0] - top[:, 2]).clamp_min(max(1e-12, torch.finfo(logits.dtype).tiny))
    return -true_class_margin(logits, y) / spread


_LOSS_FUNCTIONS: dict[str, LossFunction] = {
    "ce": classification_loss,
    "margin": margin_loss,
    "dlr": dlr_loss,
}


def _check_fraction(value: object, name: str) -> float:
    return check_number(value, name, low=0.0, high=1.0, low_inclusive=False)


def _check_loss(value: object, name: str) -> str:
    return check_choice(value, name, LOSSES)


APGD_SETTINGS = (
    Setting("steps", check_positive_int),
    Setting("norm", normalize_norm, "{}"),
    Setting("loss", _check_loss, "{}"),
    Setting("restarts", check_positive_int),
    Setting("rho", _check_fraction, "{:g}"),
    Setting("momentum", _check_fraction, "{:g}"),
    Setting("generator", check_generator, shown=False),
    Setting("eot_samples", check_positive_int),
)
"""APGD's settings besides ``eps`` and ``targeted`` (shared by :func:`apgd` and the module)."""


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 100,
    norm: str | float = "inf",
    loss: str = "ce",
    restarts: int = 1,
    rho: float = 0.75,
    momentum: float = 0.75,
    targeted: bool = False,
    generator: GeneratorLike = None,
    eot_samples: int = 1,
) -> torch.Tensor:
    """Auto-PGD (Croce & Hein 2020) under an L-inf or L2 budget, with a self-tuning step size.

    From a uniform random point of the eps-ball, each iteration takes a steepest-ascent step
    (sign of the gradient for L-inf, the L2-normalised gradient for L2) of size ``eta``, mixes it
    with the previous move (``momentum``), and projects onto the ball and ``[0, 1]``. ``eta``
    starts at ``2 * eps``; at the iterations of :func:`apgd_checkpoints` it is halved, per sample,
    and the iterate reset to the best point so far, when the objective rose on fewer than a
    fraction ``rho`` of the steps since the previous checkpoint or when neither ``eta`` nor the
    best objective changed since then. Per sample, the point with the highest objective seen in
    any iteration of any restart is returned. Each iteration costs one forward and one backward
    pass (``eot_samples`` of each for EOT), plus one forward pass at the end.

    Args:
        model: classifier on ``[0, 1]`` images returning one logit or ``K`` logits; its
            train/eval mode is restored afterwards and no gradient is left on its parameters.
        x: ``(B, C, H, W)`` float images in ``[0, 1]``; never modified.
        y: ``(B,)`` or ``(B, 1)`` integer labels, or ``(B, K)`` float multi-label targets of
            0/1 (true labels, or targets if ``targeted``).
        eps: budget in pixel units, ``>= 0``; ``0`` returns a copy of ``x``.
        steps: iterations, ``>= 1`` (100 in AutoAttack).
        norm: ``"inf"`` or ``2``.
        loss: ``"ce"`` (BCE for one logit, cross-entropy for ``K``), ``"margin"`` (minus the
            true-class margin; works for one-logit models; for multi-label targets, the smallest
            signed logit) or ``"dlr"`` (Difference of Logits Ratio; needs ``K >= 3`` softmax
            logits and class-index labels: a ValueError for fewer logits or for multi-label
            targets).
        restarts: independent runs from fresh random starts; per sample the best is kept.
        rho: the fraction of rising steps below which the step size is halved, in ``(0, 1]``.
        momentum: weight ``a`` of the new step against the previous move, in ``(0, 1]``
            (``1``: no momentum).
        targeted: minimise the loss towards target labels ``y`` (the objective is minus the loss).
        generator: ``torch.Generator`` or int seed for the random starts and the EOT draws;
            ``None`` seeds a private generator from OS entropy. The global RNG is never used.
        eot_samples: Expectation over Transformation: gradient and loss averaged over this many
            draws of the model's randomness per iteration; the randomised submodules (those with
            a ``generator`` attribute) are seeded from ``generator`` for each draw, as in
            :func:`~hermes.attacks.functional.pgd`. With ``restarts > 1`` a randomised model's
            restarts are compared under one shared draw.

    Returns:
        ``(B, C, H, W)`` adversarial images in ``[0, 1]`` with ``||x_adv - x|| <= eps``, same
        dtype and device as ``x``.

    Shape:
        - x: ``(B, C, H, W)``; y: ``(B,)`` or ``(B, 1)``.
        - Output: ``(B, C, H, W)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> with torch.no_grad():
        ...     _ = model[1].weight.copy_(torch.tensor([[1.0, -1.0, 0.5, 2.0], [0.0, 0.0, 0.0, 0.0]]))
        ...     _ = model[1].bias.zero_()
        >>> x = torch.full((1, 1, 2, 2), 0.5)
        >>> x_adv = apgd(model, x, torch.tensor([0]), eps=0.1, steps=10, generator=0)
        >>> (x_adv - x).flatten()
        tensor([-0.1000,  0.1000, -0.1000, -0.1000])
        >>> with torch.no_grad():  # logit 1 minus logit 0, before and after
        ...     print(f"{float(model(x).diff()):.2f} -> {float(model(x_adv).diff()):.2f}")
        -1.25 -> -0.80
    """
    values = {
        "steps": steps,
        "norm": norm,
        "loss": loss,
        "restarts": restarts,
        "rho": rho,
        "momentum": momentum,
        "generator": generator,
        "eot_samples": eot_samples,
    }
    return call_checked(run_apgd, APGD_SETTINGS, model, x, y, eps, targeted, values)


def run_apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool,
    steps: int,
    norm: str,
    loss: str,
    restarts: int,
    rho: float,
    momentum: float,
    generator: GeneratorLike,
    eot_samples: int,
) -> torch.Tensor:
    """:func:`apgd` on checked input (images, labels on ``x``'s device, and settings)."""
    if loss == "dlr" and y.ndim == 2:  # the checks pass (B, K) multi-label targets through
        raise ValueError(
            "loss='dlr' is defined for softmax classifiers with class-index labels; got "
            f"multi-label targets y of shape {tuple(y.shape)} (use loss='ce' or loss='margin')"
        )
    if eps == 0.0 or x.shape[0] == 0:
        return x.detach().clone()
    x = x.detach()
    loss_fn = _LOSS_FUNCTIONS[loss]
    randomised = has_generators(model)
    eot = randomised or eot_samples > 1
    rng = make_generator(generator)
    sign = -1.0 if targeted else 1.0

    def evaluate(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if eot:
            grad, value = eot_loss_and_gradient(
                model,
                point,
                y,
                samples=eot_samples,
                generator=rng,
                targeted=targeted,
                loss_fn=loss_fn,
            )
        else:
            grad, value = loss_and_gradient(model, point, y, targeted=targeted, loss_fn=loss_fn)
        return grad, sign * value

    def score(point: torch.Tensor, seeds: list[int] | None = None) -> torch.Tensor:
        if not eot:
            with torch.no_grad():
                return sign * loss_fn(model(point), y)
        if seeds is None:
            seeds = [draw_seed(rng) for _ in range(eot_samples)]
        total = None
        for seed in seeds:
            with torch.no_grad(), seeded(model, seed):
                value = loss_fn(model(point), y)
            total = value if total is None else total + value
        return sign * total / len(seeds)

    checkpoints = apgd_checkpoints(steps)
    with eval_mode(model):
        # every restart's result is judged under the same draw of the model's randomness
        judge = [draw_seed(rng)] if randomised and restarts > 1 else None
        best, best_objective = None, None
        for _ in range(restarts):
            run = ascend(
                evaluate,
                score,
                x,
                random_start(x, eps, norm, rng),
                eps=eps,
                norm=norm,
                steps=steps,
                checkpoints=checkpoints,
                rho=rho,
                momentum=momentum,
            )
            if restarts == 1:
                return run.x
            objective = run.objective if judge is None else score(run.x, judge)
            if best is None:
                best, best_objective = run.x, objective
            else:
                better = objective > best_objective
                best = torch.where(better.view(-1, *([1] * (x.ndim - 1))), run.x, best)
                best_objective = torch.where(better, objective, best_objective)
    return best


class APGD(Attack):
    """Auto-PGD, L-inf or L2, with a self-tuning step size, as a module.

    Each argument means what it means in :func:`apgd`; :class:`~hermes.attacks.Attack` says what the
    module adds (settings checked when set, input checks, ``repr``).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> attack = APGD(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), eps=8 / 255, generator=0)
        >>> attack
        APGD(
          eps=0.0313725, targeted=False, steps=100, norm=inf, loss=ce, restarts=1, rho=0.75, momentum=0.75, eot_samples=1
          (model): Sequential(
            (0): Flatten(start_dim=1, end_dim=-1)
            (1): Linear(in_features=3, out_features=2, bias=True)
          )
        )
    """

    settings = APGD_SETTINGS
    operation = staticmethod(run_apgd)

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        *,
        steps: int = 100,
        norm: str | float = "inf",
        loss: str = "ce",
        restarts: int = 1,
        rho: float = 0.75,
        momentum: float = 0.75,
        targeted: bool = False,
        generator: GeneratorLike = None,
        eot_samples: int = 1,
    ) -> None:
        super().__init__(
            model,
            eps,
            targeted=targeted,
            steps=steps,
            norm=norm,
            loss=loss,
            restarts=restarts,
            rho=rho,
            momentum=momentum,
            generator=generator,
            eot_samples=eot_samples,
        )
