"""What every file-backed dataset of hermes does on top of a batched read: items, ``DataLoader``
batches, ``load`` with a transform, and iteration in order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hermes._validation import check_positive_int

__all__ = ["BatchedDataset"]


class BatchedDataset(Dataset, ABC):
    """A map-style dataset whose subclass reads many images at once.

    A subclass sets ``transform`` and ``noun`` (how messages name its images) and implements
    ``__len__``, ``_load`` (positions to untransformed ``(images, labels)`` tensors) and, where
    a label item is not an ``int``, ``_item_label``.
    """

    transform: Callable[[torch.Tensor], Any] | None = None
    noun: str = "images"

    @abstractmethod
    def _load(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels at ``index`` (as :meth:`load` takes it), untransformed."""

    def _item_label(self, label: torch.Tensor) -> Any:
        """A label as an item holds it: a Python ``int`` (class index)."""
        return int(label)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"index must be an int; got {type(index).__name__} (use load() for many "
                f"{self.noun})"
            )
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a dataset of {n} {self.noun}")
        images, labels = self._load([int(index)])
        return self._transformed(images[0]), self._item_label(labels[0])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, Any]]:
        """Many items with one batched read (``DataLoader`` calls this with a batch's indices)."""
        images, labels = self._load(indices)
        return [
            (self._transformed(image), self._item_label(label))
            for image, label in zip(images, labels)
        ]

    def load(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Read many images at once.

        Args:
            index: a ``slice`` or a 1-D sequence, array or tensor of integer positions
                (negative positions count from the end).

        Returns:
            ``(images, labels)``: float32 ``(K, C, ...)`` in ``[0, 1]`` and the matching
            labels, in the order asked. With a ``transform``, it is applied to each image and
            the results are stacked.
        """
        images, labels = self._load(index)
        if self.transform is not None and len(images):
            images = torch.stack([self.transform(image) for image in images])
        return images, labels

    def iter_batches(
        self, batch_size: int, *, drop_last: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate over the dataset in order, ``batch_size`` images at a time (see :meth:`load`)."""
        batch_size = check_positive_int(batch_size, "batch_size")
        n = len(self)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield self.load(slice(start, min(start + batch_size, n)))

    def _transformed(self, image: torch.Tensor) -> Any:
        return image if self.transform is None else self.transform(image)
