"""Fast Gradient Sign Method (Goodfellow et al. 2015), L-inf: the module and its function."""

from __future__ import annotations

import torch
from torch import nn

from hermes._random import GeneratorLike, check_generator
from hermes._settings import setting
from hermes._validation import check_positive_int
from hermes.attacks.base import Attack, functional_form
from hermes.attacks.pgd import run_pgd

__all__ = ["FGSM", "fgsm", "run_fgsm"]


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
    """:class:`FGSM` on checked input: one PGD step of size ``eps`` from ``x``."""
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


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al., 2015), L-inf, in pixel space.

    ``x_adv = clip(x + eps * sign(grad_x loss(model(x), y)), 0, 1)``; with ``targeted=True`` the
    step goes down the loss towards the target labels ``y``. :func:`fgsm` is the same attack as
    a function, ``fgsm(model, x, y, eps, ...)``.

    Args:
        model: classifier taking ``(B, C, H, W)`` images in ``[0, 1]`` and returning ``(B,)``,
            ``(B, 1)`` (one logit, BCE) or ``(B, K)`` logits (cross-entropy).
        eps: L-inf budget in pixel units (``8 / 255`` is 8 grey levels), ``>= 0``.
        targeted: minimise the loss towards ``y`` instead of maximising it.
        generator: seeds the EOT draws of a randomised model (see :class:`PGD`); FGSM itself
            draws nothing.
        eot_samples: gradient draws averaged for a randomised model (see :class:`PGD`).

    Shape:
        - x: ``(B, C, H, W)`` float images in ``[0, 1]``; never modified.
        - y: ``(B,)`` or ``(B, 1)`` integer labels (true labels, or targets if ``targeted``).
        - output: ``(B, C, H, W)`` adversarial images in ``[0, 1]``, the dtype and device of
          ``x``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
        >>> x = torch.full((2, 1, 2, 2), 0.5)
        >>> x_adv = FGSM(model, eps=0.1)(x, torch.tensor([0, 1]))
        >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6)
        True
        >>> torch.equal(fgsm(model, x, torch.tensor([0, 1]), eps=0.1), x_adv)
        True
    """

    generator: GeneratorLike = setting(check_generator, default=None, shown=False, kw_only=True)
    eot_samples: int = setting(check_positive_int, default=1, kw_only=True)
    operation = staticmethod(run_fgsm)


fgsm = functional_form(FGSM)
