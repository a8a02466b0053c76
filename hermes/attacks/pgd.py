"""PGD as a module."""

from __future__ import annotations

from torch import nn

from hermes._random import GeneratorLike
from hermes.attacks import functional as F
from hermes.attacks.base import Attack

__all__ = ["PGD"]


class PGD(Attack):
    """Projected Gradient Descent, L-inf or L2, as a module.

    Each argument means what it means in :func:`~hermes.attacks.functional.pgd`;
    :class:`~hermes.attacks.Attack` says what the module adds (settings checked when set, input
    checks, ``repr``).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> attack = PGD(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), eps=8 / 255, generator=0)
        >>> attack
        PGD(
          eps=0.0313725, targeted=False, alpha=0.00784314, steps=10, norm=inf, random_start=True, restarts=1, eot_samples=1
          (model): Sequential(
            (0): Flatten(start_dim=1, end_dim=-1)
            (1): Linear(in_features=3, out_features=2, bias=True)
          )
        )
    """

    settings = F.PGD_SETTINGS
    operation = staticmethod(F.run_pgd)

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        alpha: float | None = None,
        steps: int = 10,
        norm: str | float = "inf",
        random_start: bool = True,
        restarts: int = 1,
        *,
        targeted: bool = False,
        generator: GeneratorLike = None,
        eot_samples: int = 1,
    ) -> None:
        super().__init__(
            model,
            eps,
            targeted=targeted,
            alpha=alpha,
            steps=steps,
            norm=norm,
            random_start=random_start,
            restarts=restarts,
            generator=generator,
            eot_samples=eot_samples,
        )
        if self.alpha is None:  # shown in repr, so resolved now
            self.alpha = F.default_alpha(self.eps, self.steps)
