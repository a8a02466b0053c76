"""Steps and projections onto the L-inf / L2 eps-ball intersected with the pixel box [0, 1]."""

from __future__ import annotations

import torch

from hermes._random import rand_like, randn_like

__all__ = ["ascent_step", "project", "random_start"]

_TINY = 1e-12


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each sample, shaped ``(B, 1, 1, 1)`` for broadcasting."""
    return t.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (t.ndim - 1)))


def ascent_step(x_adv: torch.Tensor, grad: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    """One steepest-ascent step: ``alpha * sign(grad)`` (L-inf) or ``alpha * grad / ||grad||_2``."""
    if norm == "inf":
        return x_adv + alpha * grad.sign()
    # Scale each sample's gradient by its largest entry first: a confident model's gradient can
    # be far below any fixed floor (1e-17 and less) yet still point somewhere, and a floor of
    # 1e-12 is 0 in float16. A zero gradient stays a zero step.
    shape = (-1, *([1] * (grad.ndim - 1)))
    largest = grad.flatten(1).abs().amax(dim=1).view(shape)
    direction = grad / torch.where(largest > 0, largest, torch.ones_like(largest))
    length = _per_sample_norm(direction)
    return x_adv + alpha * direction / torch.where(length > 0, length, torch.ones_like(length))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x``, then clip to ``[0, 1]``.

    Clipping after the projection keeps the point inside the ball: each coordinate moves towards
    the box that contains ``x``, so no coordinate of ``x_adv - x`` grows in magnitude.
    """
    if norm == "inf":
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)
    else:
        delta = x_adv - x
        factor = (eps / _per_sample_norm(delta).clamp_min(_TINY)).clamp(max=1.0)
        x_adv = x + delta * factor
    return x_adv.clamp(0.0, 1.0)


def random_start(
    x: torch.Tensor, eps: float, norm: str, generator: torch.Generator
) -> torch.Tensor:
    """A uniform random point of the eps-ball around ``x`` (clipped to ``[0, 1]``)."""
    if norm == "inf":
        delta = (2.0 * rand_like(x, generator) - 1.0) * eps
    else:
        direction = randn_like(x, generator)
        direction = direction / _per_sample_norm(direction).clamp_min(_TINY)
        dims = x[0].numel()
        u = rand_like(x[:, :1, :1, :1], generator)
        delta = direction * eps * u ** (1.0 / dims)
    return project(x + delta, x, eps, norm)
