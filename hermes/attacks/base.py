"""The base class of attacks: an ``nn.Module`` built around the model it attacks."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from hermes._registry import Registry
from hermes._validation import check_number
from hermes.attacks._checks import check_model

__all__ = ["Attack", "get_attack", "list_attacks"]

_REGISTRY: Registry = Registry("attack")


class Attack(nn.Module, ABC):
    """Base class of attacks: ``attack(x, y) -> x_adv``.

    An attack holds its target ``model`` and its hyperparameters (checked when it is built) and
    maps ``(B, C, H, W)`` images in ``[0, 1]`` with labels ``(B,)`` to adversarial images in
    ``[0, 1]``. It never modifies ``x``, leaves no gradient on the model's parameters, restores the
    model's train/eval mode, and draws randomness only from the generator it is given.

    Args:
        model: the classifier to attack (images in ``[0, 1]``; normalization inside the model).
        eps: the perturbation budget in pixel units, ``>= 0``.
        targeted: move predictions towards the labels given instead of away from them.
    """

    gradient_free: ClassVar[bool] = False
    """Whether the attack uses only the model's outputs (a probe for gradient masking)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY.add(cls)  # hermes' own attacks: the invariant suites loop over them

    def __init__(self, model: nn.Module, eps: float, *, targeted: bool = False) -> None:
        super().__init__()
        self.model = check_model(model)
        self.eps = check_number(eps, "eps", low=0.0, high=math.inf, high_inclusive=False)
        if not isinstance(targeted, bool):
            raise TypeError(f"targeted must be a bool; got {type(targeted).__name__}")
        self.targeted = targeted

    @abstractmethod
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return adversarial images ``(B, C, H, W)`` in ``[0, 1]`` for images ``x``, labels ``y``."""

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}, targeted={self.targeted}"


def list_attacks() -> list[str]:
    """The names of hermes' attacks (every public ``Attack`` subclass it defines), sorted.

    Example:
        >>> {"FGSM", "PGD"} <= set(list_attacks())
        True
    """
    return _REGISTRY.names()


def get_attack(name: str) -> type[Attack]:
    """The attack class registered under ``name``.

    Example:
        >>> get_attack("PGD").__name__
        'PGD'
    """
    return _REGISTRY.get(name)
