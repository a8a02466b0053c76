"""The base class every defense derives from: a ``(B, C, H, W) -> (B, C, H, W)`` map in [0, 1].

A defense states which backward passes (``gradient`` modes) it supports:

- ``"exact"``: true autograd through the operation (where it is differentiable, a subgradient
  where it is piecewise).
- ``"identity"``: BPDA; the backward pass returns the incoming gradient unchanged.
- ``"surrogate"``: the forward pass is the exact operation, the backward pass is the gradient of
  a smooth approximation.
- ``"unrolled"``: autograd through the iterations of an iterative solver.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import nn

from hermes._validation import check_choice

__all__ = ["GRADIENT_MODES", "Defense", "GradientMode"]

GradientMode = Literal["exact", "identity", "surrogate", "unrolled"]
GRADIENT_MODES: tuple[str, ...] = ("exact", "identity", "surrogate", "unrolled")


class Defense(nn.Module):
    """Base class of input-preprocessing defenses.

    Subclasses set ``gradient_modes`` (the modes they support, the default first), hold their
    hyperparameters, and implement ``forward`` by calling their functional twin.
    """

    gradient_modes: ClassVar[tuple[str, ...]] = ("exact",)

    def __init__(self, gradient: str | None = None) -> None:
        super().__init__()
        if gradient is None:
            gradient = self.gradient_modes[0]
        self.gradient: str = check_choice(gradient, "gradient", self.gradient_modes)
