"""Checks shared by every attack: the target model and the name of a threat-model norm."""

from __future__ import annotations

import math

import torch
from torch import nn

from hermes._validation import check_choice, check_images, check_number, check_targets
from hermes.errors import ShapeError

__all__ = ["check_eps", "check_inputs", "check_model", "normalize_norm"]


def normalize_norm(norm: str | float | int, name: str = "norm") -> str:
    """Return the canonical name of a threat-model norm: ``"inf"`` or ``"2"``.

    Example:
        >>> normalize_norm(float("inf")), normalize_norm(2)
        ('inf', '2')
    """
    aliases = {"inf": "inf", "linf": "inf", math.inf: "inf", 2: "2", "2": "2", "l2": "2"}
    key = norm.lower() if isinstance(norm, str) else norm
    try:
        known = not isinstance(norm, bool) and key in aliases
    except TypeError:  # unhashable
        known = False
    if not known:
        check_choice(norm, name, ("inf", 2))
    return aliases[key]


def check_model(model: object, name: str = "model") -> nn.Module:
    """Return ``model`` if it is an ``nn.Module``; else a TypeError naming the argument."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module; got {type(model).__name__}")
    return model


def check_eps(eps: object, name: str = "eps") -> float:
    """A budget in pixel units: a finite number ``>= 0``."""
    return check_number(eps, name, low=0.0, high=math.inf, high_inclusive=False)


def check_inputs(x: object, y: object, *, volumes: str | None = None) -> torch.Tensor:
    """Check an attack's images ``x`` and labels ``y``; return the labels on ``x``'s device.

    ``x`` is ``(B, C, H, W)`` images or ``(B, C, D, H, W)`` volumes; an attack defined on 2D
    images only names itself in ``volumes`` to refuse volumes with a clear message. ``y`` is
    ``(B,)`` or ``(B, 1)`` class indices, or ``(B, K)`` multi-label targets of 0/1 (``K > 1``,
    returned as float), which the loss then checks against the model's ``K`` logits.
    """
    if volumes is not None and isinstance(x, torch.Tensor) and x.ndim == 5:
        raise ShapeError(
            f"x must be 2D images (B, C, H, W) for {volumes}, which is defined on images only; "
            f"got volumes of shape {tuple(x.shape)}"
        )
    check_images(x, "x", volumes=True)
    return check_targets(y, x.shape[0], "y").to(x.device)
