"""FGSM as a module."""

from __future__ import annotations

from torch import nn

from hermes._random import GeneratorLike
from hermes.attacks import functional as F
from hermes.attacks.base import Attack

__all__ = ["FGSM"]


class FGSM(Attack):
    """Fast Gradient Sign Method (L-inf, one step of size ``eps``); see :func:`~hermes.attacks.functional.fgsm`.

    Args:
        model: classifier on ``[0, 1]`` images with one logit or ``K`` logits.
        eps: L-inf budget in pixel units, ``>= 0``.
        targeted: step towards the given labels instead of away from them.
        generator: seeds the EOT draws when the model is randomised (a ``torch.Generator``, an
            int seed or ``None``); FGSM itself has no randomness.
        eot_samples: gradient draws averaged when the model is randomised (EOT).

    Shape:
        - x: ``(B, C, H, W)`` in ``[0, 1]``; y: ``(B,)`` or ``(B, 1)``.
        - Output: ``(B, C, H, W)`` in ``[0, 1]``.

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
