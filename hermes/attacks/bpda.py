"""BPDA: make any preprocessing attackable by choosing its backward pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hermes._substitute import substitute_gradient

__all__ = ["BPDA"]


class BPDA(nn.Module):
    """Backward Pass Differentiable Approximation (Athalye, Carlini & Wagner, 2018).

    Wraps a preprocessing step, possibly non-differentiable (a codec, a solver, a lookup), so
    that the forward pass is the step itself, bit for bit, and the backward pass is that of
    ``backward``: the identity by default, or any differentiable function approximating the step.
    Put it in front of a model and attack the composition with any hermes attack.

    hermes' own defenses do not need it: each has a ``gradient`` setting (``"identity"``,
    ``"surrogate"``, ``"exact"``, ``"unrolled"``) that already picks its backward pass.

    Args:
        forward: the preprocessing, ``(B, C, H, W) -> (B, C, H, W)`` (a module or a callable).
        backward: a differentiable function whose gradient replaces ``forward``'s; ``None``
            means the identity (the gradient passes through unchanged).

    Example:
        >>> import torch
        >>> quantize = BPDA(lambda x: torch.round(x * 7) / 7)   # not differentiable
        >>> x = torch.rand(1, 3, 4, 4, requires_grad=True)
        >>> torch.autograd.grad(quantize(x).sum(), x)[0].unique().tolist()
        [1.0]
    """

    def __init__(
        self,
        forward: Callable[[torch.Tensor], torch.Tensor],
        backward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        if not callable(forward):
            raise TypeError(f"forward must be a module or callable; got {type(forward).__name__}")
        if backward is not None and not callable(backward):
            raise TypeError(
                f"backward must be a differentiable callable or None; got {type(backward).__name__}"
            )
        self.wrapped = forward
        self.backward_fn = backward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return substitute_gradient(x, self.wrapped, self.backward_fn)

    def extra_repr(self) -> str:
        name = (
            "identity"
            if self.backward_fn is None
            else getattr(self.backward_fn, "__name__", type(self.backward_fn).__name__)
        )
        return f"backward={name}"
