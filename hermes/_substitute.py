"""Forward with one function, backward with another (the mechanism behind BPDA).

Defenses use it for their ``"identity"`` and ``"surrogate"`` gradient modes; the adaptive attacks
use it to wrap a user's own non-differentiable preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["by_gradient_mode", "substitute_gradient"]

TensorFn = Callable[[torch.Tensor], torch.Tensor]


class _SubstituteGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, forward_fn: TensorFn, backward_fn: TensorFn | None):
        ctx.backward_fn = backward_fn
        if backward_fn is not None:
            ctx.save_for_backward(x)
        with torch.no_grad():
            return forward_fn(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if ctx.backward_fn is None:
            return grad_output, None, None
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            out = ctx.backward_fn(leaf)
            (grad_x,) = torch.autograd.grad(out, leaf, grad_output)
        return grad_x, None, None


def substitute_gradient(
    x: torch.Tensor, forward_fn: TensorFn, backward_fn: TensorFn | None = None
) -> torch.Tensor:
    """Return ``forward_fn(x)`` whose backward pass is that of ``backward_fn`` (BPDA).

    Args:
        x: input tensor.
        forward_fn: the exact (possibly non-differentiable) operation; run without autograd.
        backward_fn: a differentiable function whose vector-Jacobian product at ``x`` is used as
            the gradient. ``None`` means the identity (gradient passes through unchanged).

    Returns:
        ``forward_fn(x)``, bit for bit, attached to the graph through ``backward_fn``.

    Example:
        >>> import torch
        >>> x = torch.tensor([0.2, 0.7], requires_grad=True)
        >>> y = substitute_gradient(x, torch.round)            # identity backward
        >>> y.detach().tolist()
        [0.0, 1.0]
        >>> torch.autograd.grad(y.sum(), x)[0].tolist()
        [1.0, 1.0]
    """
    if not (torch.is_grad_enabled() and x.requires_grad):
        with torch.no_grad():
            return forward_fn(x)
    return _SubstituteGradient.apply(x, forward_fn, backward_fn)


def by_gradient_mode(
    x: torch.Tensor, gradient: str, forward_fn: TensorFn, exact_fn: TensorFn
) -> torch.Tensor:
    """Run a defense's operation the way its ``gradient`` mode asks.

    ``"identity"``: ``forward_fn`` with the identity as backward (BPDA). ``"exact"``: ``exact_fn``
    (differentiable) when a gradient will be asked for, else the cheaper ``forward_fn``. An
    empty batch gives an empty copy.

    Example:
        >>> import torch
        >>> x = torch.tensor([0.2, 0.7], requires_grad=True)
        >>> y = by_gradient_mode(x, "identity", torch.round, lambda v: v**2)
        >>> y.tolist(), torch.autograd.grad(y.sum(), x)[0].tolist()
        ([0.0, 1.0], [1.0, 1.0])
        >>> torch.autograd.grad(by_gradient_mode(x, "exact", torch.round, lambda v: v**2).sum(), x)[0]
        tensor([0.4000, 1.4000])
    """
    if x.numel() == 0:
        return x.clone()
    if gradient == "identity":
        return substitute_gradient(x, forward_fn)
    if torch.is_grad_enabled() and x.requires_grad:
        return exact_fn(x)
    return forward_fn(x)
