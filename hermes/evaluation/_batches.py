"""Turn the ``data`` argument of the evaluation into batches of (images, labels)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from hermes._data_args import as_tensor_pair, check_batch
from hermes.evaluation._cache import fingerprint_tensors

__all__ = ["BatchSource"]


class BatchSource:
    """Re-iterable batches from a ``(images, labels)`` pair, a ``Dataset`` or a ``DataLoader``.

    A tensor pair is validated as a whole up front; other sources are validated batch by batch
    (the first batch as soon as the source is built, so bad data fails before any work).
    ``label_check``, once set (by the caller that knows the task), is run on the labels of every
    batch a loader yields. ``first_batch`` is the first ``(images, labels)`` batch, read once.
    """

    def __init__(self, data: Any, batch_size: int) -> None:
        self.batch_size = batch_size
        self.label_check: Callable[[torch.Tensor], object] | None = None
        pair = as_tensor_pair(data, "data")
        if pair is not None:
            self._pair: tuple[torch.Tensor, torch.Tensor] | None = pair
            self._loader = None
        elif isinstance(data, DataLoader):
            self._pair, self._loader = None, data
        elif isinstance(data, Dataset) and callable(getattr(data, "iter_batches", None)):
            # A dataset with a batched reader (hermes.data.PCam) reads contiguous slices.
            self._pair = None
            self._loader = _BatchedReader(data, batch_size)
        elif isinstance(data, Dataset):
            self._pair = None
            self._loader = DataLoader(data, batch_size=batch_size, shuffle=False)
        else:
            raise TypeError(
                "data must be a (images, labels) pair of tensors, a torch Dataset or a DataLoader; "
                f"got {type(data).__name__}"
            )
        # validate the first batch now, and keep it for those who look at the data before the run
        self.first_batch: tuple[torch.Tensor, torch.Tensor] = next(iter(self))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._pair is not None:
            images, labels = self._pair
            for start in range(0, images.shape[0], self.batch_size):
                yield (
                    images[start : start + self.batch_size],
                    labels[start : start + self.batch_size],
                )
            return
        for batch in self._loader:
            images, labels = check_batch(batch, "data")
            if self.label_check is not None:
                self.label_check(labels)
            yield images, labels

    @property
    def all_labels(self) -> torch.Tensor | None:
        """Every label, for a tensor pair (checked whole up front); ``None`` for a loader."""
        return None if self._pair is None else self._pair[1]

    def fingerprint(self) -> str:
        """A short hash of every image and label, in order.

        A dataset or loader is read once through for it (only done for a ``cache_dir``, where a
        change anywhere in the data must be caught, not just in its first batch).
        """
        if self._pair is not None:
            return fingerprint_tensors(*self._pair)
        digest = hashlib.sha256()
        for images, labels in self:
            digest.update(fingerprint_tensors(images, labels).encode())
        return f"{len(self)} batches, {digest.hexdigest()[:16]}"

    def __len__(self) -> int:
        if self._pair is not None:
            return -(-self._pair[0].shape[0] // self.batch_size)
        return len(self._loader)


class _BatchedReader:
    """Re-iterable view of a dataset's own ``iter_batches(batch_size)``."""

    def __init__(self, dataset: Any, batch_size: int) -> None:
        self.dataset, self.batch_size = dataset, batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.dataset.iter_batches(self.batch_size))

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)
