"""Turning a dataset index (slice, ints, array, tensor) into checked int64 positions."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["as_positions"]


def as_positions(
    index: Any, n: int, name: str = "index", error: type[Exception] = IndexError
) -> np.ndarray:
    """``index`` (slice, sequence, array or tensor of ints) as int64 positions in ``[0, n)``.

    Negative positions count from the end, as in Python. A wrong type is a ``TypeError``, a
    position outside ``[-n, n)`` is ``error``; both messages name ``name``.

    Example:
        >>> as_positions(slice(1, None, 2), 5).tolist()
        [1, 3]
        >>> as_positions([0, -1], 5).tolist()
        [0, 4]
    """
    if isinstance(index, slice):
        return np.arange(*index.indices(n), dtype=np.int64)
    if isinstance(index, torch.Tensor):
        values = index.detach().cpu().numpy()
    elif isinstance(index, (np.ndarray, list, tuple, range)):
        values = np.asarray(index)
    else:
        raise TypeError(
            f"{name} must be a slice or a 1-D sequence of ints; got {type(index).__name__}"
        )
    if values.size == 0:
        values = values.astype(np.int64)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be a 1-D sequence of ints; got an array of shape {values.shape} "
            f"and dtype {values.dtype}"
        )
    values = values.astype(np.int64)
    bad = (values < -n) | (values >= n)
    if bad.any():
        raise error(
            f"{name} must hold positions in [{-n}, {n}) for {n} patches; got {int(values[bad][0])}"
        )
    return np.where(values < 0, values + n, values)
