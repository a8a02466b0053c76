"""The base class every defense derives from, and the registry of hermes' defenses.

A defense is a ``(B, C, H, W) -> (B, C, H, W)`` map in [0, 1]; a defense that also works on
volumes (``takes_volumes = True``: Gaussian and median smoothing, Identity) maps
``(B, C, D, H, W) -> (B, C, D, H, W)`` too, and the others refuse a volume with a
:class:`~hermes.errors.ShapeError` that says how to apply them slice by slice. As in
torchvision's transforms v2, the base class owns ``forward``: it checks the input once and calls the defense's operation (its
functional twin without the twin's checks) with the settings the module holds. A defense
declares, once:

- its settings, in constructor order, each an annotated class attribute set to
  :func:`~hermes._settings.setting` (default, check, how ``repr`` shows it), ``gradient``
  (:data:`GRADIENT`) among them. The constructor is made from them; each is checked when it is
  set (in the constructor, or by a later assignment such as ``defense.gradient = "unrolled"``),
  never again on a call; ``extra_repr`` is built from them.
- ``operation``: the unchecked function ``operation(x, **settings)``.
- ``gradient_modes``: the backward passes it supports, the default first:

  - ``"exact"``: true autograd through the operation (where it is differentiable, a subgradient
    where it is piecewise).
  - ``"identity"``: BPDA; the backward pass returns the incoming gradient unchanged.
  - ``"surrogate"``: the forward pass is the exact operation, the backward pass is the gradient
    of a smooth approximation.
  - ``"unrolled"``: autograd through the iterations of an iterative solver.

Every public defense class that hermes defines registers itself:

Example:
    >>> list_defenses()
    ['GaussianSmoothing', 'Identity', 'JPEG', 'MedianSmoothing', 'TVM']
    >>> get_defense("JPEG")(quality=75)
    JPEG(quality=75, gradient='surrogate', differentiable=False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch

from hermes._registry import Registry
from hermes._settings import SettingsModule, setting
from hermes._validation import check_choice, check_images
from hermes.errors import ShapeError

__all__ = [
    "GRADIENT",
    "GRADIENT_MODES",
    "Defense",
    "GradientMode",
    "get_defense",
    "list_defenses",
    "refuse_volumes",
]

GradientMode = Literal["exact", "identity", "surrogate", "unrolled"]
GRADIENT_MODES: tuple[str, ...] = ("exact", "identity", "surrogate", "unrolled")

_REGISTRY: Registry[type[Defense]] = Registry("defense")


GRADIENT: Any = setting(default=None)
"""The ``gradient`` setting every defense declares (``gradient: str | None = GRADIENT``; its
place among the settings is its place in the constructor and in repr). ``None`` stands for the
class's default mode, the first of its ``gradient_modes``."""


def refuse_volumes(x: Any, name: str, defense: str) -> None:
    """Raise a :class:`~hermes.errors.ShapeError` if ``x`` is a 5-D batch of volumes.

    For defenses defined on 2D images only: the message names the argument and the defense,
    and shows how to apply the defense slice by slice instead (hermes never reshapes silently).

    Example:
        >>> import torch
        >>> refuse_volumes(torch.rand(1, 1, 5, 6, 7), "x", "JPEG")
        Traceback (most recent call last):
        ...
        hermes.errors.ShapeError: x must be images (B, C, H, W): JPEG is defined on 2D images only and does not take volumes; got a 5-D tensor of shape (1, 1, 5, 6, 7). To apply it slice by slice, fold the depth axis into the batch: x.transpose(1, 2).reshape(-1, C, H, W) gives (N*D, C, H, W); undo it with y.reshape(N, D, C, H, W).transpose(1, 2)
    """
    if isinstance(x, torch.Tensor) and x.ndim == 5:
        raise ShapeError(
            f"{name} must be images (B, C, H, W): {defense} is defined on 2D images only and "
            f"does not take volumes; got a 5-D tensor of shape {tuple(x.shape)}. To apply it "
            f"slice by slice, fold the depth axis into the batch: "
            f"{name}.transpose(1, 2).reshape(-1, C, H, W) gives (N*D, C, H, W); undo it with "
            "y.reshape(N, D, C, H, W).transpose(1, 2)"
        )


class Defense(SettingsModule):
    """Base class of input-preprocessing defenses; it owns ``forward`` and ``extra_repr``.

    A subclass declares ``gradient_modes``, its settings (``gradient`` among them) and
    ``operation``; the constructor is made from the settings. Settings are plain public
    attributes, checked whenever they are set.

    Example:
        >>> import torch
        >>> from hermes._validation import check_number
        >>> def _scale(x, factor, gradient):
        ...     return x * factor
        >>> class _Dim(Defense):  # a leading underscore keeps it out of the registry
        ...     factor: float = setting(check_number, "{:g}", default=0.5)
        ...     gradient: str | None = GRADIENT
        ...     operation = staticmethod(_scale)
        >>> _Dim(0.25)
        _Dim(factor=0.25, gradient='exact')
        >>> _Dim()(torch.ones(1, 1, 2, 2)).flatten().tolist()
        [0.5, 0.5, 0.5, 0.5]
        >>> _Dim("dark")
        Traceback (most recent call last):
        ...
        TypeError: factor must be a real number; got str 'dark'
    """

    gradient_modes: ClassVar[tuple[str, ...]] = ("exact",)
    takes_volumes: ClassVar[bool] = False
    """Whether the defense also maps volumes ``(B, C, D, H, W)``; if not, it refuses them."""
    operation: ClassVar[Callable[..., torch.Tensor]]
    """``operation(x, **settings)``: the defense on checked input with checked settings."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "gradient" not in cls._checks:
            raise TypeError(
                f"{cls.__name__} must declare the gradient setting "
                "(gradient: str | None = GRADIENT)"
            )
        _REGISTRY.add(cls)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "gradient":
            modes = type(self).gradient_modes
            value = modes[0] if value is None else check_choice(value, "gradient", modes)
        super().__setattr__(name, value)

    def _check_input(self, x: torch.Tensor) -> None:
        """Check the input before the operation (images in [0, 1], or volumes where the defense
        takes them; a defense may ask more)."""
        if type(self).takes_volumes:
            check_images(x, "x", volumes=True)
            return
        refuse_volumes(x, "x", type(self).__name__)
        check_images(x, "x")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the defense to ``x`` of shape ``(B, C, H, W)`` (or ``(B, C, D, H, W)`` where
        ``takes_volumes``) in ``[0, 1]``."""
        self._check_input(x)
        return type(self).operation(x, **{s.name: getattr(self, s.name) for s in self.settings})


def list_defenses() -> list[str]:
    """The names of hermes' defenses (every public ``Defense`` subclass it defines), sorted.

    Example:
        >>> {"JPEG", "TVM"} <= set(list_defenses())
        True
    """
    return _REGISTRY.names()


def get_defense(name: str) -> type[Defense]:
    """The defense class registered under ``name``.

    Example:
        >>> get_defense("MedianSmoothing")(3)
        MedianSmoothing(window_size=3, gradient='exact')
        >>> get_defense("Blur")
        Traceback (most recent call last):
        ...
        ValueError: name must be one of 'GaussianSmoothing', 'Identity', 'JPEG', 'MedianSmoothing', 'TVM' (hermes' defenses); got 'Blur'
    """
    return _REGISTRY.get(name)
