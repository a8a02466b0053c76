"""In-memory arrays (numpy or torch, uint8 or float) as the ``(images, labels)`` tensors hermes takes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hermes._validation import check_choice
from hermes.errors import RangeError, ShapeError

__all__ = ["LAYOUTS", "from_arrays"]

LAYOUTS = ("NHWC", "NHW", "NCHW", "NDHWC", "NDHW", "NCDHW")
"""Accepted image layouts: N samples, C channels, D depth, H height, W width."""

_INTEGER_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def from_arrays(
    images: Any, labels: Any, layout: str = "NHWC"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn image and label arrays into float ``[0, 1]`` channels-first tensors and labels.

    The pair returned is what :func:`~hermes.evaluate_robustness` and
    :func:`~hermes.models.fine_tune` take as data.

    Args:
        images: a numpy array or tensor: uint8 (divided by 255), uint16 (divided by 65535) or
            float with values already in ``[0, 1]``.
        labels: integer class indices ``(N,)`` or ``(N, 1)``, or a 0/1 ``(N, K)`` multi-label
            matrix (``K >= 2``).
        layout: how ``images`` is laid out: ``"NHWC"`` (numpy/PIL, MedMNIST's RGB files),
            ``"NHW"`` (grayscale), ``"NCHW"`` (torch), ``"NDHWC"``, ``"NDHW"`` (volumes,
            MedMNIST's 3D files) or ``"NCDHW"``.

    Returns:
        ``(images, labels)``: float32 ``(N, C, H, W)`` or ``(N, C, D, H, W)`` in ``[0, 1]``;
        int64 ``(N,)`` class indices, or float32 ``(N, K)`` for a multi-label matrix.

    Raises:
        TypeError: an array of the wrong type or dtype.
        ShapeError: ``images`` does not match ``layout``, or the lengths differ.
        RangeError: float images outside ``[0, 1]`` or not finite, negative labels, or a
            multi-label matrix with values other than 0 and 1.

    Example:
        >>> import numpy as np
        >>> x = np.full((2, 4, 4, 3), 255, dtype=np.uint8)
        >>> images, labels = from_arrays(x, np.array([[0], [2]]))
        >>> images.shape, float(images.max()), labels.tolist()
        (torch.Size([2, 3, 4, 4]), 1.0, [0, 2])
        >>> from_arrays(np.zeros((2, 8, 8, 8), np.uint8), [1, 0], layout="NDHW")[0].shape
        torch.Size([2, 1, 8, 8, 8])
    """
    layout = check_choice(layout, "layout", LAYOUTS)
    array = _as_numpy(images, "images")
    if array.ndim != len(layout):
        raise ShapeError(
            f"images must have {len(layout)} dimensions for layout {layout!r}; got shape "
            f"{array.shape}"
        )
    if "C" not in layout:
        array = array[:, None]
    elif layout.index("C") != 1:
        array = np.moveaxis(array, -1, 1)
    tensor = _to_unit_float(array)
    return tensor, _labels(labels, tensor.shape[0])


def _as_numpy(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    raise TypeError(f"{name} must be a numpy array or a tensor; got {type(value).__name__}")


def _to_unit_float(array: np.ndarray) -> torch.Tensor:
    out = np.empty(array.shape, np.float32)
    scale = _INTEGER_SCALE.get(array.dtype)
    if scale is not None:
        np.divide(array, np.float32(scale), out=out, dtype=np.float32)
        return torch.from_numpy(out)
    if array.dtype.kind != "f":
        raise TypeError(f"images must be uint8, uint16 or float in [0, 1]; got dtype {array.dtype}")
    out[...] = array
    if out.size:
        low, high = float(out.min()), float(out.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise RangeError("images must be finite; got NaN or infinite values")
        if low < 0.0 or high > 1.0:
            raise RangeError(
                f"float images must have values in [0, 1]; got values in [{low:.6g}, {high:.6g}]"
                " (pass uint8 arrays as they are: they are divided by 255)"
            )
    return torch.from_numpy(out)


def _labels(labels: Any, n: int) -> torch.Tensor:
    array = _as_numpy(labels, "labels")
    if array.ndim == 0 or array.ndim > 2 or array.shape[0] != n:
        raise ShapeError(
            f"labels must be (N,), (N, 1) or (N, K) with N={n} images; got shape {array.shape}"
        )
    if array.dtype.kind not in "iub" and not (
        array.dtype.kind == "f" and bool(np.all(array == np.round(array)))
    ):
        raise TypeError(f"labels must hold integers (or 0/1 per label); got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] > 1:
        if array.size and not bool(np.isin(array, (0, 1)).all()):
            raise RangeError("multi-label labels (N, K) must hold only 0 and 1")
        return torch.from_numpy(array.astype(np.float32))
    flat = array.reshape(-1).astype(np.int64)
    if flat.size and flat.min() < 0:
        raise RangeError(f"labels must be non-negative class indices; got {int(flat.min())}")
    return torch.from_numpy(flat)
