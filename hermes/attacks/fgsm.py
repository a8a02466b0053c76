"""FGSM as a module."""

from __future__ import annotations

from torch import nn

from hermes._random import GeneratorLike
from hermes.attacks import functional as F
from hermes.attacks.base import Attack

__all__ = ["FGSM"]


class FGSM(Attack):
    """Fast Gradient Sign Method (L-inf, one step of size ``eps``) as a module.

    Each argument means what it means in :func:`~hermes.attacks.functional.fgsm`;
    :class:`~hermes.attacks.Attack` says what the module adds (settings checked when set, input
    checks, ``repr``).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> attack = FGSM(nn.Sequential(nn.Flatten(), nn.Linear(3, 1)), eps=0.03)
        >>> attack(torch.full((1, 3, 1, 1), 0.5), torch.tensor([1])).shape
        torch.Size([1, 3, 1, 1])
    """

    settings = F.FGSM_SETTINGS
    operation = staticmethod(F.run_fgsm)

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        *,
        targeted: bool = False,
        generator: GeneratorLike = None,
        eot_samples: int = 1,
    ) -> None:
        super().__init__(
            model, eps, targeted=targeted, generator=generator, eot_samples=eot_samples
        )
