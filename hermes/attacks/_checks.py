"""Checks shared by every attack: the target model and the name of a threat-model norm."""

from __future__ import annotations

import math

from torch import nn

from hermes._validation import check_choice, check_number

__all__ = ["check_eps", "check_model", "normalize_norm"]


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


def check_model(model: object) -> nn.Module:
    """Return ``model`` if it is an ``nn.Module``; else a TypeError naming the argument."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return model


def check_eps(eps: object, name: str = "eps") -> float:
    """A budget in pixel units: a finite number ``>= 0``."""
    return check_number(eps, name, low=0.0, high=math.inf, high_inclusive=False)
