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
from hermes._random import GeneratorLike, check_generator
from hermes._settings import setting
from hermes._validation import check_choice, check_model_output, check_number, check_positive_int
from hermes.attacks._apgd_steps import ascend
from hermes.attacks._checks import normalize_norm
from hermes.attacks._gradients import Draws, LossFunction, outputs_over_draws
from hermes.attacks._projection import random_start
from hermes.attacks.base import Attack, functional_form

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
    """:class:`APGD` on checked input (images, labels on ``x``'s device, and settings)."""
    if loss == "dlr" and y.ndim == 2:  # the checks pass (B, K) multi-label targets through
        raise ValueError(
            "loss='dlr' is defined for softmax classifiers with class-index labels; got "
            f"multi-label targets y of shape {tuple(y.shape)} (use loss='ce' or loss='margin')"
        )
    if eps == 0.0 or x.shape[0] == 0:
        return x.detach().clone()
    x = x.detach()
    loss_fn = _LOSS_FUNCTIONS[loss]
    draws = Draws.of(model, generator, eot_samples)
    sign = -1.0 if targeted else 1.0

    def evaluate(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grad, value = draws.gradient(model, point, y, targeted=targeted, loss_fn=loss_fn)
        return grad, sign * value

    def score(point: torch.Tensor, seeds: list[int] | None = None) -> torch.Tensor:
        with torch.no_grad():
            if not draws.eot:
                return sign * loss_fn(model(point), y)
            seeds = draws.seeds() if seeds is None else seeds
            values = [loss_fn(out, y) for out in outputs_over_draws(model, seeds, point)]
        return sign * sum(values) / len(seeds)

    checkpoints = apgd_checkpoints(steps)
    with eval_mode(model):
        # every restart's result is judged under the same draw of the model's randomness
        judge = draws.judge(restarts)
        best, best_objective = None, None
        for _ in range(restarts):
            run = ascend(
                evaluate,
                score,
                x,
                random_start(x, eps, norm, draws.rng),
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
    """Auto-PGD (Croce & Hein 2020) under an L-inf or L2 budget, with a self-tuning step size.

    From a uniform random point of the eps-ball, each iteration takes a steepest-ascent step
    (sign of the gradient for L-inf, the L2-normalised gradient for L2) of size ``eta``, mixes it
    with the previous move (``momentum``), and projects onto the ball and ``[0, 1]``. ``eta``
    starts at ``2 * eps``; at the iterations of :func:`apgd_checkpoints` it is halved, per sample,
    and the iterate reset to the best point so far, when the objective rose on fewer than a
    fraction ``rho`` of the steps since the previous checkpoint or when neither ``eta`` nor the
    best objective changed since then. Per sample, the point with the highest objective seen in
    any iteration of any restart is returned. Each iteration costs one forward and one backward
    pass (``eot_samples`` of each for EOT), plus one forward pass at the end. :func:`apgd` is the
    same attack as a function, ``apgd(model, x, y, eps, ...)``.

    Args:
        model: classifier on ``[0, 1]`` images returning one logit or ``K`` logits; its
            train/eval mode is restored afterwards and no gradient is left on its parameters.
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
            :class:`~hermes.attacks.PGD`. With ``restarts > 1`` a randomised model's
            restarts are compared under one shared draw.

    Shape:
        - x: ``(B, C, H, W)`` float images in ``[0, 1]`` (or volumes ``(B, C, D, H, W)``);
          never modified.
        - y: ``(B,)`` or ``(B, 1)`` integer labels, or ``(B, K)`` float multi-label targets of
          0/1 (true labels, or targets if ``targeted``).
        - output: adversarial images of the shape, dtype and device of ``x``, in ``[0, 1]``,
          with ``||x_adv - x|| <= eps``.

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
        >>> APGD(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), eps=8 / 255, generator=0)
        APGD(
          eps=0.0313725, targeted=False, steps=100, norm=inf, loss=ce, restarts=1, rho=0.75, momentum=0.75, eot_samples=1
          (model): Sequential(
            (0): Flatten(start_dim=1, end_dim=-1)
            (1): Linear(in_features=3, out_features=2, bias=True)
          )
        )
    """

    steps: int = setting(check_positive_int, default=100, kw_only=True)
    norm: str | float = setting(normalize_norm, "{}", default="inf", kw_only=True)
    loss: str = setting(_check_loss, "{}", default="ce", kw_only=True)
    restarts: int = setting(check_positive_int, default=1, kw_only=True)
    rho: float = setting(_check_fraction, "{:g}", default=0.75, kw_only=True)
    momentum: float = setting(_check_fraction, "{:g}", default=0.75, kw_only=True)
    generator: GeneratorLike = setting(check_generator, default=None, shown=False, kw_only=True)
    eot_samples: int = setting(check_positive_int, default=1, kw_only=True)
    operation = staticmethod(run_apgd)


apgd = functional_form(APGD)
