"""The base class of attacks, an ``nn.Module`` built around the model it attacks, and the
registry of hermes' attacks.

As for defenses (and torchvision's transforms v2), the base class owns ``forward``: it checks the
images and labels once and calls the attack's operation (its functional twin without the twin's
checks) with the settings the module holds. An attack declares, once:

- ``settings``: its hyperparameters besides ``eps`` and ``targeted``, each a
  :class:`~hermes._settings.Setting`, checked whenever it is set (constructor or assignment, e.g.
  ``attack.eot_samples = 4``), never again on a call; ``extra_repr`` is built from them;
- ``operation``: ``operation(model, x, y, eps, *, targeted, **settings)`` on checked input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from hermes._registry import Registry
from hermes._settings import Setting, settings_repr
from hermes._validation import check_bool
from hermes.attacks._checks import check_eps, check_inputs, check_model

__all__ = ["Attack", "get_attack", "list_attacks"]

_REGISTRY: Registry = Registry("attack")


_BASE_SETTINGS = (Setting("eps", check_eps, "{:g}"), Setting("targeted", check_bool))


class Attack(nn.Module):
    """Base class of attacks: ``attack(x, y) -> x_adv``.

    An attack holds its target ``model`` and its hyperparameters (checked when they are set) and
    maps ``(B, C, H, W)`` images in ``[0, 1]`` with labels ``(B,)`` to adversarial images in
    ``[0, 1]``. It never modifies ``x``, leaves no gradient on the model's parameters, restores the
    model's train/eval mode, and draws randomness only from the generator it is given.

    Args:
        model: the classifier to attack (images in ``[0, 1]``; normalization inside the model).
        eps: the perturbation budget in pixel units, ``>= 0``.
        targeted: move predictions towards the labels given instead of away from them.
        **settings: the value of every setting the subclass declares.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hermes._validation import check_number
        >>> def _nudge(model, x, y, eps, *, targeted, size):
        ...     return (x + size * eps).clamp(0, 1)
        >>> class _Nudge(Attack):  # a leading underscore keeps it out of the registry
        ...     settings = (Setting("size", check_number, "{:g}"),)
        ...     operation = staticmethod(_nudge)
        >>> attack = _Nudge(nn.Flatten(), eps=0.1, size=0.5)
        >>> attack.extra_repr()
        'eps=0.1, targeted=False, size=0.5'
        >>> attack(torch.zeros(1, 1, 1, 2), torch.tensor([0])).flatten().tolist()
        [0.05000000074505806, 0.05000000074505806]
        >>> attack.size = "big"
        Traceback (most recent call last):
        ...
        TypeError: size must be a real number; got str 'big'
    """

    gradient_free: ClassVar[bool] = False
    #: ``False`` for an attack defined on 2D images only (it refuses volumes ``(B, C, D, H, W)``).
    takes_volumes: ClassVar[bool] = True
    """Whether the attack uses only the model's outputs (a probe for gradient masking)."""
    settings: ClassVar[tuple[Setting, ...]] = ()
    operation: ClassVar[Callable[..., torch.Tensor]]
    """``operation(model, x, y, eps, *, targeted, **settings)``: the attack on checked input."""

    _checks: ClassVar[dict[str, Setting]] = {s.name: s for s in _BASE_SETTINGS}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._checks = {s.name: s for s in (*_BASE_SETTINGS, *cls.settings)}
        _REGISTRY.add(cls)  # hermes' own attacks: the invariant suites loop over them

    def __init__(
        self, model: nn.Module, eps: float, *, targeted: bool = False, **settings: Any
    ) -> None:
        super().__init__()
        self.model = check_model(model)
        expected = {s.name for s in self.settings}
        if set(settings) != expected:
            raise TypeError(
                f"{type(self).__name__} takes the settings {sorted(expected)}; "
                f"got {sorted(settings)}"
            )
        self.eps = eps
        self.targeted = targeted
        for setting in self.settings:
            setattr(self, setting.name, settings[setting.name])

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._checks:
            value = self._checks[name].checked(value)
        super().__setattr__(name, value)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return adversarial images ``(B, C, H, W)`` in ``[0, 1]`` for images ``x``, labels ``y``."""
        y = check_inputs(x, y, volumes=None if self.takes_volumes else type(self).__name__)
        values = {s.name: getattr(self, s.name) for s in self.settings}
        return type(self).operation(self.model, x, y, self.eps, targeted=self.targeted, **values)

    def extra_repr(self) -> str:
        return settings_repr(self, (*_BASE_SETTINGS, *self.settings))


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
