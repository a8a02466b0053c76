"""The no-defense baseline: checks its input like every defense, then returns it unchanged.

It takes volumes ``(B, C, D, H, W)`` as well as images: the baseline row of a grid on volumes.
"""

from __future__ import annotations

import torch

from hermes._settings import setting
from hermes._validation import check_images
from hermes.defenses._base import Defense

__all__ = ["Identity", "identity"]


def identity(x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` itself after checking it is a batch of images (or volumes) in ``[0, 1]``.

    Args:
        x: images (or volumes) in ``[0, 1]``.

    Returns:
        ``x`` (the same tensor object; its gradient is exactly the incoming gradient).

    Shape:
        - x: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`
        - output: ``x`` itself

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 8, 8)
        >>> identity(x) is x
        True
        >>> identity(torch.full((1, 3, 8, 8), 2.0))
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: x must have values in [0, 1]; got values in [2, 2] (hermes works in pixel space: put normalization inside the model)
    """
    return _identity(check_images(x, "x", volumes=True))


def _identity(x: torch.Tensor, gradient: str = "exact") -> torch.Tensor:
    return x


class Identity(Defense):
    """No defense: the baseline row of a robustness grid; see :func:`identity`.

    Unlike ``torch.nn.Identity`` it rejects input that no other defense would accept, so the
    baseline and the defended rows of a grid fail (or pass) on the same data.

    Shape:
        - input: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`, in ``[0, 1]``
        - output: the input itself

    Example:
        >>> import torch
        >>> x = torch.rand(4, 3, 96, 96)
        >>> Identity()(x) is x
        True
    """

    gradient_modes = ("exact",)
    takes_volumes = True
    gradient: str | None = setting(default=None, shown=False)
    operation = staticmethod(_identity)
