"""The APGD iteration (Croce & Hein 2020): momentum steps, the step-size schedule, the best point.

Kept apart from :mod:`hermes.attacks.apgd` (checks, losses, restarts, EOT) so that the schedule can
be tested on objectives written by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch

from hermes.attacks._projection import ascent_step, project

__all__ = ["Ascent", "ascend"]

#: ``point -> (ascent direction, objective)``: the gradient of the objective and its ``(B,)`` value.
Evaluate = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
#: ``point -> objective``, without a gradient (for the last iterate, whose gradient is not used).
Score = Callable[[torch.Tensor], torch.Tensor]


class Ascent(NamedTuple):
    """What one APGD run found.

    Attributes:
        x: ``(B, ...)`` per sample, the iterate with the highest objective seen.
        objective: ``(B,)`` the objective at ``x``.
        step_sizes: ``(steps, B)`` the step size each iteration used.
    """

    x: torch.Tensor
    objective: torch.Tensor
    step_sizes: torch.Tensor


def ascend(
    evaluate: Evaluate,
    score: Score,
    x: torch.Tensor,
    start: torch.Tensor,
    *,
    eps: float,
    norm: str,
    steps: int,
    checkpoints: Iterable[int],
    rho: float,
    momentum: float,
) -> Ascent:
    """Run ``steps`` APGD iterations from ``start`` inside the eps-ball around ``x``.

    Iterate ``k`` (``x_0 = start``) moves to ``z = P(x_k + eta * step(grad))`` and then to
    ``x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))`` with ``a = momentum`` (``a = 1``
    on the first step), ``step`` the sign (L-inf) or the L2-normalised gradient and ``P`` the
    projection onto the ball and ``[0, 1]``. The step size starts at ``2 * eps``. After iterate
    ``w`` of ``checkpoints`` (but not the last iterate), a sample's step size is halved and its
    iterate reset to its best point when the objective rose on fewer than ``rho`` of the steps
    since the previous checkpoint, or when neither the step size nor the best objective changed
    since then. Every decision is per sample and stays on the device (no host syncs).

    ``evaluate`` is called once per iteration (at ``x_0 .. x_{steps-1}``) and ``score`` once, at
    the last iterate ``x_steps``.

    Returns:
        The best point per sample, its objective and the step sizes used.
    """
    shape = (-1,) + (1,) * (x.ndim - 1)
    marks = {w for w in checkpoints if 0 < w < steps}
    grad, objective = evaluate(start)
    eta = torch.full((x.shape[0],), 2.0 * eps, dtype=x.dtype, device=x.device)
    step_sizes = eta.new_empty((steps, x.shape[0]))
    previous, current = start, start
    # the best point, its objective and its gradient, in buffers of their own (updated in place)
    best, best_objective, best_grad = start.clone(), objective.clone(), grad.clone()
    # the step size and the best objective at the previous checkpoint, and the rises since it
    last_eta, last_best, last_mark = eta.clone(), best_objective.clone(), 0
    rises = torch.zeros_like(objective, dtype=torch.int32)
    for k in range(steps):
        step_sizes[k] = eta
        z = project(ascent_step(current, grad, eta.view(shape), norm), x, eps, norm)
        if k == 0:
            following = z
        else:
            following = current + momentum * (z - current) + (1.0 - momentum) * (current - previous)
            following = project(following, x, eps, norm)
        previous, current = current, following
        last = k + 1 == steps
        if last:
            new_objective = score(current)
        else:
            grad, new_objective = evaluate(current)
        rises += new_objective > objective
        objective = new_objective
        improved = objective > best_objective
        torch.where(improved.view(shape), current, best, out=best)
        torch.where(improved, objective, best_objective, out=best_objective)
        if last:
            break
        torch.where(improved.view(shape), grad, best_grad, out=best_grad)
        if k + 1 in marks:
            stalled = rises < rho * (k + 1 - last_mark)
            unchanged = (eta == last_eta) & (best_objective <= last_best)
            halve = stalled | unchanged
            last_eta.copy_(eta)
            last_best.copy_(best_objective)
            last_mark = k + 1
            rises.zero_()
            eta = torch.where(halve, eta / 2, eta)
            current = torch.where(halve.view(shape), best, current)
            grad = torch.where(halve.view(shape), best_grad, grad)
            objective = torch.where(halve, best_objective, objective)
    return Ascent(best, best_objective, step_sizes)
