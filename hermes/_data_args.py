"""Turning a ``data`` argument into checked ``(images, labels)`` batches: one place for training
and evaluation.

Both accept a pair of tensors, a ``Dataset`` or a ``DataLoader``; a pair is checked whole up
front, anything else batch by batch as it is read.
"""

from __future__ import annotations

from typing import Any

import torch

from hermes._validation import check_images, check_same_batch, check_targets

__all__ = ["as_tensor_pair", "check_batch"]


def as_tensor_pair(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(images, labels)`` checked whole if ``data`` is a pair of tensors; ``None`` otherwise.

    Example:
        >>> x, y = as_tensor_pair((torch.zeros(2, 1, 2, 2), torch.tensor([0, 1])), "data")
        >>> y.tolist()
        [0, 1]
        >>> as_tensor_pair([1, 2, 3], "data") is None
        True
    """
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        return None
    images, labels = data
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        if isinstance(images, torch.Tensor) or isinstance(labels, torch.Tensor):
            raise TypeError(
                f"{name} as a pair must be (images tensor, labels tensor); got "
                f"({type(images).__name__}, {type(labels).__name__})"
            )
        return None
    check_images(images, f"{name} images", volumes=True)
    labels = check_targets(labels, images.shape[0], f"{name} labels")
    check_same_batch(images, labels, (f"{name} images", f"{name} labels"))
    return images, labels


def check_batch(batch: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch a loader yielded, as checked ``(images, labels)`` (extra items are ignored).

    Example:
        >>> x, y = check_batch((torch.zeros(2, 3, 4, 4), [1, 0]), "data")
        >>> y
        tensor([1, 0])
        >>> check_batch(torch.zeros(2), "data")
        Traceback (most recent call last):
        ...
        TypeError: data must yield (images, labels) batches; got Tensor
    """
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"{name} must yield (images, labels) batches; got {type(batch).__name__}")
    images, labels = batch[0], batch[1]
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} images must be tensors; got {type(images).__name__}")
    check_images(images, f"{name} images", volumes=True)
    return images, check_targets(torch.as_tensor(labels), images.shape[0], f"{name} labels")
