"""Shared input checks used by every public entry point.

Each check raises an error that names the argument, what was expected and what was given,
and returns the (unchanged) value so calls can be chained. Nothing is clamped, cast or
reshaped behind the user's back.

Example:
    >>> import torch
    >>> from hermes._validation import check_images
    >>> check_images(torch.rand(3, 96, 96), "x")
    Traceback (most recent call last):
    ...
    hermes.errors.ShapeError: x must be a 4-D float tensor (B, C, H, W) in [0, 1]; got shape (3, 96, 96)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import torch

from hermes.errors import RangeError, ShapeError

__all__ = [
    "check_bool",
    "check_choice",
    "check_images",
    "check_labels",
    "check_model_output",
    "check_number",
    "check_odd_int",
    "check_positive_int",
    "check_same_batch",
    "check_targets",
]

_IMAGE_SPEC = "a 4-D float tensor (B, C, H, W) in [0, 1]"
_VOLUME_SPEC = "a 4-D float tensor (B, C, H, W) or 5-D volume (B, C, D, H, W) in [0, 1]"


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def check_images(
    x: Any, name: str = "x", *, check_range: bool = True, volumes: bool = False
) -> torch.Tensor:
    """Check that ``x`` is a finite 4-D float tensor ``(B, C, H, W)`` with values in ``[0, 1]``
    (or, with ``volumes=True``, also a 5-D volume ``(B, C, D, H, W)``).

    Args:
        x: the value to check.
        name: the argument's name, used in the error message.
        check_range: also check that every value lies in ``[0, 1]``.
        volumes: also accept 5-D volumes (where the caller works on any spatial rank).

    Returns:
        ``x`` itself.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ShapeError: ``x`` is not 4-D (or 5-D where volumes are accepted).
        RangeError: ``x`` holds NaN/inf or values outside ``[0, 1]``.
    """
    spec = _VOLUME_SPEC if volumes else _IMAGE_SPEC
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be {spec}; got {_describe(x)}")
    if x.ndim != 4 and not (volumes and x.ndim == 5):
        raise ShapeError(f"{name} must be {spec}; got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be {spec}; got dtype {x.dtype} "
            "(convert uint8 images with x.float() / 255)"
        )
    if x.numel() == 0:
        return x
    # One pass for both ends: NaN propagates to both, +-inf shows at one of them. Only on a
    # failure is the (slower) elementwise isfinite count computed, for the message.
    low, high = (float(v) for v in torch.aminmax(x.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int((~torch.isfinite(x.detach())).sum())
        raise RangeError(f"{name} must be finite; got {bad} NaN or infinite value(s)")
    if check_range and (low < 0.0 or high > 1.0):
        raise RangeError(
            f"{name} must have values in [0, 1]; got values in [{low:.6g}, {high:.6g}] "
            "(hermes works in pixel space: put normalization inside the model)"
        )
    return x


def check_labels(y: Any, batch_size: int, name: str = "y") -> torch.Tensor:
    """Check a label tensor of shape ``(B,)`` or ``(B, 1)`` with integer (or bool) values.

    Args:
        y: the labels.
        batch_size: the expected ``B``.
        name: the argument's name, used in the error message.

    Returns:
        The labels as a ``(B,)`` view (a ``(B, 1)`` tensor is viewed, not copied).

    Raises:
        TypeError: ``y`` is not a tensor, or holds floats that are not whole numbers.
        ShapeError: ``y`` has the wrong shape or length.
        RangeError: a label is negative.
    """
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor of labels of shape (B,) or (B, 1); got {_describe(y)}"
        )
    if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
        raise ShapeError(f"{name} must have shape (B,) or (B, 1); got shape {tuple(y.shape)}")
    if y.shape[0] != batch_size:
        raise ShapeError(
            f"{name} must hold one label per image: expected {batch_size} labels, got {y.shape[0]}"
        )
    y = y.reshape(-1)
    if y.is_floating_point():
        if y.numel() and not bool((y == y.round()).all()):
            raise TypeError(f"{name} must hold class indices (integers); got non-integer floats")
    elif y.dtype not in (
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
    ):
        raise TypeError(f"{name} must be an integer tensor of class indices; got dtype {y.dtype}")
    if y.numel() and y.dtype != torch.bool and bool((y < 0).any()):
        raise RangeError(f"{name} must hold non-negative class indices; got {int(y.min())}")
    return y


def check_targets(y: Any, batch_size: int, name: str = "y") -> torch.Tensor:
    """Labels of any task: ``(B,)``/``(B, 1)`` class indices (as :func:`check_labels`), or
    ``(B, K)`` multi-label targets of 0/1 with ``K > 1``, returned as float32 (what a
    multi-label loss takes; integer and bool targets are converted, values kept).

    Example:
        >>> check_targets(torch.tensor([[1, 0], [0, 1]], dtype=torch.uint8), 2)
        tensor([[1., 0.],
                [0., 1.]])
        >>> check_targets(torch.tensor([[2.0, 0.0]]), 1)
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: y of shape (B, K) must hold multi-label targets 0 or 1; got 2.0
    """
    if not (isinstance(y, torch.Tensor) and y.ndim == 2 and y.shape[1] > 1):
        return check_labels(y, batch_size, name)
    if y.shape[0] != batch_size:
        raise ShapeError(
            f"{name} must hold one row of targets per image: expected {batch_size} rows, "
            f"got {y.shape[0]}"
        )
    if y.is_complex():
        raise TypeError(f"{name} of shape (B, K) must hold 0/1 targets; got dtype {y.dtype}")
    bad = (y != 0) & (y != 1)
    if y.numel() and bool(bad.any()):
        raise RangeError(
            f"{name} of shape (B, K) must hold multi-label targets 0 or 1; got {y[bad][0].item()}"
        )
    return y.float()


def check_same_batch(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    """Check that two tensors have the same leading (batch) dimension."""
    if a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same batch size; "
            f"got {a.shape[0]} and {b.shape[0]}"
        )


def check_model_output(logits: Any, batch_size: int, name: str = "model output") -> int:
    """Check a classifier's output and return its number of logits per sample.

    Accepted shapes are ``(B,)`` and ``(B, 1)`` (one logit: binary, sigmoid) and ``(B, K)`` with
    ``K >= 2`` (softmax).

    Returns:
        ``1`` for a single-logit model, else ``K``.
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of logits; got {_describe(logits)}")
    if logits.ndim == 1:
        k = 1
    elif logits.ndim == 2:
        k = logits.shape[1]
    else:
        raise ShapeError(
            f"{name} must have shape (B,), (B, 1) or (B, K) logits; got shape {tuple(logits.shape)}"
        )
    if logits.shape[0] != batch_size or k == 0:
        raise ShapeError(
            f"{name} must have shape (B,), (B, 1) or (B, K) with B={batch_size}; "
            f"got shape {tuple(logits.shape)}"
        )
    return k


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check a real number against optional bounds and return it as a float.

    Example:
        >>> check_number(0.5, "sigma", low=0, low_inclusive=False)
        0.5
        >>> check_number(-1, "eps", low=0)
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: eps must be >= 0; got -1
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {_describe(value)}")
    if math.isnan(float(value)):
        raise RangeError(f"{name} must be a number; got nan")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise RangeError(f"{name} must be {'>=' if low_inclusive else '>'} {low:g}; got {value!r}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise RangeError(
            f"{name} must be {'<=' if high_inclusive else '<'} {high:g}; got {value!r}"
        )
    return float(value)


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Check an integer ``>= minimum`` (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {_describe(value)}")
    if value < minimum:
        raise RangeError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_odd_int(value: Any, name: str) -> int:
    """Check a positive odd integer (kernel and window sizes)."""
    value = check_positive_int(value, name)
    if value % 2 == 0:
        raise RangeError(f"{name} must be a positive odd integer; got {value}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Check a ``bool`` (``0`` and ``1`` are not accepted: a flag is a flag).

    Example:
        >>> check_bool(1, "reuse")
        Traceback (most recent call last):
        ...
        TypeError: reuse must be a bool; got int
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {type(value).__name__}")
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices``.

    Example:
        >>> check_choice("l1", "norm", ("inf", 2))
        Traceback (most recent call last):
        ...
        ValueError: norm must be one of 'inf', 2; got 'l1'
    """
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
