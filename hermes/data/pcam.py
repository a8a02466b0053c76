"""PatchCamelyon as a lazily read, worker-safe torch ``Dataset`` with a fast batched path."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from hermes._random import GeneratorLike, check_seed, deprecated_generator_seed
from hermes._validation import check_bool, check_positive_int
from hermes.data._batched import BatchedDataset
from hermes.data._checks import check_images_dataset, get_dataset, open_h5, read_labels
from hermes.data._inflate import inflatable_rows_per_chunk, read_inflated
from hermes.data._pcam_files import DOWNLOAD_HINT, check_split, find_split_files, resolve_path
from hermes.data._positions import as_positions
from hermes.data.subset import stratified_indices
from hermes.errors import DataFileError, RangeError

__all__ = ["PCam"]

# Rows at most this far apart are read in one slice (the few rows between are read and dropped):
# one large read beats many small ones, and the waste is bounded by _MAX_GAP patches per gap.
_MAX_GAP = 16


def _to_float(images: np.ndarray) -> torch.Tensor:
    """``uint8 (N, 96, 96, 3)`` to float32 ``(N, 3, 96, 96)`` in ``[0, 1]`` (contiguous)."""
    channels_first = torch.from_numpy(images).permute(0, 3, 1, 2)
    return channels_first.to(torch.float32, memory_format=torch.contiguous_format).div_(255)


class PCam(BatchedDataset):
    """The PatchCamelyon (PCam) HDF5 files of one split, as a torch ``Dataset``.

    Items are ``(image, label)``: a float32 ``(3, 96, 96)`` tensor in ``[0, 1]`` and a Python
    ``int`` (0 or 1), with ``transform`` (if any) applied to the image.

    Files are found under ``root`` in the original release's layout
    (``root/camelyonpatch_level_2_split_{split}_{x,y}.h5``) or torchvision's (``root/pcam/...``);
    ``.h5.gz`` downloads are decompressed once, next to themselves. Or pass ``x_path`` and
    ``y_path``. The files are checked when the dataset is built (keys, shapes, dtypes, lengths,
    label values), and bad files raise :class:`~hermes.errors.DataFileError` naming the file.

    Images are read lazily: the labels (one byte per patch) are read once, the image file is
    opened on first use in each process (so ``DataLoader(num_workers > 0)`` is safe: every worker
    opens its own handle, and the dataset pickles without one). :meth:`load` and
    :meth:`iter_batches` read many patches in a few contiguous slices; a ``DataLoader`` with
    ``batch_size`` uses the same path through ``__getitems__``.

    Args:
        root: the folder holding the files (or ``None`` with ``x_path`` and ``y_path``).
        split: ``"train"``, ``"valid"`` (or torchvision's ``"val"``) or ``"test"``.
        transform: a callable applied to each image tensor.
        x_path, y_path: explicit files (``.h5`` or ``.h5.gz``), instead of ``root``.
        limit: keep only ``limit`` patches: the first ones, or a stratified sample with
            ``stratify=True``.
        indices: keep only these rows of the files, in this order (instead of ``limit``).
        stratify: with ``limit``, draw a seeded sample that keeps the class proportions.
        seed: int seed of the stratified sample (``None``: not reproducible). A
            ``torch.Generator`` here is deprecated (it still works, with a
            ``DeprecationWarning``).

    Example:
        >>> import tempfile
        >>> import torch
        >>> from hermes.data import make_synthetic_pcam
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = make_synthetic_pcam(tmp.name, n_train=8, n_valid=8, n_test=20, seed=0)
        >>> test = PCam(tmp.name, "test")
        >>> image, label = test[0]
        >>> image.shape, image.dtype, label in (0, 1)
        (torch.Size([3, 96, 96]), torch.float32, True)
        >>> images, labels = test.load(slice(0, 16))
        >>> images.shape, labels.dtype
        (torch.Size([16, 3, 96, 96]), torch.int64)
        >>> half = PCam(tmp.name, "test", limit=10, stratify=True, seed=0)  # classes kept 9:11
        >>> torch.bincount(test.labels).tolist(), torch.bincount(half.labels).tolist()
        ([9, 11], [5, 5])
        >>> tmp.cleanup()
    """

    noun = "patches"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        transform: Callable[[torch.Tensor], Any] | None = None,
        *,
        x_path: str | os.PathLike | None = None,
        y_path: str | os.PathLike | None = None,
        limit: int | None = None,
        indices: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        stratify: bool = False,
        seed: int | None = 0,
    ) -> None:
        legacy = deprecated_generator_seed(seed, "PCam", "pass an int seed")
        seed = legacy if legacy is not None else check_seed(seed, optional=True)
        self.split = check_split(split)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None; got {type(transform).__name__}")
        self.transform = transform
        self.x_path, self.y_path = self._locate(root, self.split, x_path, y_path)

        with open_h5(self.x_path) as fx:
            images = get_dataset(fx, "x", self.x_path)
            n = check_images_dataset(images, self.x_path)
            if n:
                _read_rows_checked(images, np.array([0, n - 1]), self.x_path)
        with open_h5(self.y_path) as fy:
            file_labels = read_labels(get_dataset(fy, "y", self.y_path), self.y_path)
        if file_labels.size != n:
            raise DataFileError(
                f"x and y disagree in length: '{self.x_path}' holds {n} images but "
                f"'{self.y_path}' holds {file_labels.size} labels"
            )
        self.rows = self._select(file_labels, limit, indices, stratify, seed)
        #: ``(len,)`` int64 labels of the selected patches, in item order.
        self.labels = torch.from_numpy(file_labels[self.rows].astype(np.int64))
        self._file: h5py.File | None = None
        self._images: h5py.Dataset | None = None
        self._pid: int | None = None
        self._rows_per_chunk: int | None = None  # the open dataset's layout (see _inflate)

    @staticmethod
    def _locate(root: Any, split: str, x_path: Any, y_path: Any) -> tuple[Path, Path]:
        if x_path is None and y_path is None:
            if root is None:
                raise TypeError("PCam needs root (a folder holding the files) or x_path and y_path")
            return find_split_files(root, split)
        if x_path is None or y_path is None:
            missing = "x_path" if x_path is None else "y_path"
            raise TypeError(f"x_path and y_path go together; {missing} is missing")
        if root is not None:
            raise TypeError("give root or x_path/y_path, not both")
        return resolve_path(x_path, "x_path"), resolve_path(y_path, "y_path")

    @staticmethod
    def _select(
        labels: np.ndarray, limit: Any, indices: Any, stratify: Any, seed: GeneratorLike
    ) -> np.ndarray:
        """The file rows to keep; ``seed`` is checked (an int, None or a legacy generator)."""
        n = labels.size
        check_bool(stratify, "stratify")
        if indices is not None:
            if limit is not None or stratify:
                raise TypeError("indices cannot be combined with limit or stratify")
            return as_positions(indices, n, "indices", RangeError)
        if limit is None:
            if stratify:
                raise TypeError("stratify=True needs limit (the size of the sample)")
            return np.arange(n, dtype=np.int64)
        limit = check_positive_int(limit, "limit", minimum=0)
        if limit > n:
            raise RangeError(f"limit must be at most the split's {n} patches; got {limit}")
        if stratify:
            return stratified_indices(labels, limit, generator=seed, seed=None)
        return np.arange(limit, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.rows.size)

    def close(self) -> None:
        """Close this process's image file handle (it reopens on the next read)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = self._images = self._pid = self._rows_per_chunk = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = state["_images"] = state["_pid"] = state["_rows_per_chunk"] = None
        return state

    def __repr__(self) -> str:
        return f"PCam(split={self.split!r}, patches={len(self)}, x_path='{self.x_path}')"

    def _dataset(self) -> h5py.Dataset:
        """The image dataset, opened once per process (a forked worker opens its own)."""
        pid = os.getpid()
        if self._images is None or self._pid != pid:
            # A handle inherited through fork belongs to the parent: leave it alone.
            self._file = open_h5(self.x_path)
            self._images = self._file["x"]
            self._pid = pid
            self._rows_per_chunk = inflatable_rows_per_chunk(self._images)
        return self._images

    def _load(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        positions = as_positions(index, len(self), "index", IndexError)
        rows = self.rows[positions]
        images = _to_float(self._read_checked(rows))
        return images, self.labels[torch.from_numpy(positions)]

    def _read_checked(self, rows: np.ndarray) -> np.ndarray:
        images = self._dataset()
        return _read_rows_checked(images, rows, self.x_path, self._rows_per_chunk)


def _read_rows_checked(
    images: h5py.Dataset, rows: np.ndarray, path: Path, rows_per_chunk: int | str | None = "detect"
) -> np.ndarray:
    """:func:`_read_rows`, with a read failure reported as a ``DataFileError`` naming ``path``."""
    try:
        return _read_rows(images, rows, rows_per_chunk)
    except OSError as error:
        raise DataFileError(
            f"'{path}': reading images failed ({error}); the file is truncated or corrupt. "
            f"{DOWNLOAD_HINT}"
        ) from error


def _read_rows(
    images: h5py.Dataset, rows: np.ndarray, rows_per_chunk: int | str | None = "detect"
) -> np.ndarray:
    """Read ``images[rows]`` (any order, repeats allowed) with as few slice reads as possible.

    ``rows_per_chunk`` is the dataset's :func:`inflatable_rows_per_chunk`, looked up when
    ``"detect"`` (callers that read the same dataset often pass it once found).
    """
    out = np.empty((rows.size, *images.shape[1:]), dtype=np.uint8)
    if rows.size == 0:
        return out
    ordered = rows.size == 1 or bool((np.diff(rows) > 0).all())
    order = None if ordered else np.argsort(rows, kind="stable")
    wanted = rows if order is None else rows[order]
    target = out if order is None else np.empty_like(out)
    if rows_per_chunk == "detect":
        rows_per_chunk = inflatable_rows_per_chunk(images)
    cuts = np.flatnonzero(np.diff(wanted) > _MAX_GAP) + 1
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, wanted.size]):
        first, last = int(wanted[start]), int(wanted[stop - 1])
        if bool((np.diff(wanted[start:stop]) == 1).all()):  # consecutive rows, none repeated
            _read_span(images, first, last + 1, target[start:stop], rows_per_chunk)
        else:
            span = np.empty((last + 1 - first, *images.shape[1:]), dtype=np.uint8)
            _read_span(images, first, last + 1, span, rows_per_chunk)
            target[start:stop] = span[wanted[start:stop] - first]
    if order is not None:
        out[order] = target
    return out


def _read_span(
    images: h5py.Dataset, first: int, stop: int, out: np.ndarray, rows_per_chunk: int | None
) -> None:
    """``out[:] = images[first:stop]``: gzip chunks inflated on torch's thread count, else h5py."""
    if rows_per_chunk is not None and read_inflated(
        images, first, stop, out, rows_per_chunk, workers=torch.get_num_threads()
    ):
        return
    images.read_direct(out, np.s_[first:stop])
