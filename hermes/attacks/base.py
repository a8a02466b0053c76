"""The base class of attacks, an ``nn.Module`` built around the model it attacks, and the
registry of hermes' attacks.

As for defenses (and torchvision's transforms v2), the base class owns ``forward``: it checks the
images and labels once and calls the attack's operation (the attack on checked input) with the
settings the module holds. An attack declares, once:

- its settings besides ``model``, ``eps`` and ``targeted``, each an annotated class attribute set
  to :func:`~hermes._settings.setting` (default, check, how ``repr`` shows it). The constructor
  is made from them; each is checked whenever it is set (constructor or assignment, e.g.
  ``attack.eot_samples = 4``), never again on a call; ``extra_repr`` is built from them;
- ``operation``: ``operation(model, x, y, eps, *, targeted, **settings)`` on checked input.

Its functional form (``pgd`` for :class:`~hermes.attacks.PGD`) is :func:`functional_form` of the
class: the same arguments, checks and operation, declared nowhere else.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Concatenate, ParamSpec

import torch
from torch import nn

from hermes._registry import Registry
from hermes._settings import SettingsModule, setting
from hermes._validation import check_bool
from hermes.attacks._checks import check_eps, check_inputs, check_model

__all__ = ["Attack", "functional_form", "get_attack", "list_attacks"]

P = ParamSpec("P")

_REGISTRY: Registry = Registry("attack")

_BASE = ("model", "eps", "targeted")


class Attack(SettingsModule):
    """Base class of attacks: ``attack(x, y) -> x_adv``.

    An attack holds its target ``model`` and its hyperparameters (checked when they are set) and
    maps ``(B, C, H, W)`` images in ``[0, 1]`` with labels ``(B,)`` to adversarial images in
    ``[0, 1]``. It never modifies ``x``, leaves no gradient on the model's parameters, restores the
    model's train/eval mode, and draws randomness only from the generator it is given.

    Args:
        model: the classifier to attack (images in ``[0, 1]``; normalization inside the model).
        eps: the perturbation budget in pixel units, ``>= 0``.
        targeted: move predictions towards the labels given instead of away from them.
        settings: the value of every setting the subclass declares.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hermes._settings import setting
        >>> from hermes._validation import check_number
        >>> def _nudge(model, x, y, eps, *, targeted, size):
        ...     return (x + size * eps).clamp(0, 1)
        >>> class _Nudge(Attack):  # a leading underscore keeps it out of the registry
        ...     size: float = setting(check_number, "{:g}", default=0.5)
        ...     operation = staticmethod(_nudge)
        >>> attack = _Nudge(nn.Flatten(), eps=0.1)
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
    """Whether the attack uses only the model's outputs (a probe for gradient masking)."""
    takes_volumes: ClassVar[bool] = True
    """``False`` for an attack defined on 2D images only (it refuses volumes ``(B, C, D, H, W)``)."""
    operation: ClassVar[Callable[..., torch.Tensor]]
    """``operation(model, x, y, eps, *, targeted, **settings)``: the attack on checked input."""

    model: nn.Module = setting(check=check_model, shown=False)
    eps: float = setting(check=check_eps, fmt="{:g}")
    targeted: bool = setting(check_bool, default=False, kw_only=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY.add(cls)  # hermes' own attacks: the invariant suites loop over them

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return adversarial images ``(B, C, H, W)`` in ``[0, 1]`` for images ``x``, labels ``y``."""
        y = check_inputs(x, y, volumes=None if self.takes_volumes else type(self).__name__)
        values = {s.name: getattr(self, s.name) for s in self.settings if s.name not in _BASE}
        return type(self).operation(self.model, x, y, self.eps, targeted=self.targeted, **values)


def functional_form(
    attack: Callable[Concatenate[nn.Module, P], Attack],
) -> Callable[Concatenate[nn.Module, torch.Tensor, torch.Tensor, P], torch.Tensor]:
    """An attack class as a function: ``f(model, x, y, eps, ...)`` is ``attack(model, eps, ...)(x, y)``.

    The function takes the class's own arguments, with the images ``x`` and labels ``y`` after
    ``model``, so its signature (for ``help()``, IPython and, through the ``ParamSpec`` in its
    type, type checkers) is the class's: the settings are declared once, on the class. It builds
    the module on every call (so the same checks run) and runs it once.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hermes.attacks import FGSM
        >>> import inspect
        >>> fgsm = functional_form(FGSM)
        >>> print(inspect.signature(fgsm))
        (model: 'nn.Module', x: 'torch.Tensor', y: 'torch.Tensor', eps: 'float', *, targeted: 'bool' = False, generator: 'GeneratorLike' = None, eot_samples: 'int' = 1) -> 'torch.Tensor'
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(2, 1))
        >>> x, y = torch.full((1, 1, 1, 2), 0.5), torch.tensor([1])
        >>> torch.equal(fgsm(model, x, y, eps=0.1), FGSM(model, 0.1)(x, y))
        True
    """
    cls: Any = attack
    name = cls.__name__.lower()
    model, *settings = inspect.signature(cls).parameters.values()
    inputs = [
        inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="torch.Tensor")
        for arg in ("x", "y")
    ]
    signature = inspect.Signature([model, *inputs, *settings], return_annotation="torch.Tensor")

    def function(*args: Any, **kwargs: Any) -> torch.Tensor:
        try:
            arguments = signature.bind(*args, **kwargs).arguments
        except TypeError as error:
            raise TypeError(f"{name}(): {error}") from None
        x, y = arguments.pop("x"), arguments.pop("y")
        return cls(**arguments)(x, y)

    function.__name__ = function.__qualname__ = name
    function.__module__ = cls.__module__
    function.__signature__ = signature  # type: ignore[attr-defined]
    function.__doc__ = (
        f"{cls.__name__} as a function: ``{name}(model, x, y, eps, ...)`` is "
        f"``{cls.__name__}(model, eps, ...)(x, y)``.\n\n"
        f"The arguments, their checks and the result are those of "
        f":class:`~hermes.attacks.{cls.__name__}`, whose documentation holds them; "
        f"``x`` and ``y`` are the images and labels the module is called with."
    )
    return function


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
