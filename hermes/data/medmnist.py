"""MedMNIST v2 / MedMNIST+ (2D and 3D) as a torch ``Dataset`` with a fast whole-split path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hermes._validation import check_bool, check_choice
from hermes.data._batched import BatchedDataset
from hermes.data._medmnist_files import NpzArchive, download_with_medmnist, locate
from hermes.data._medmnist_flags import (
    SPLITS,
    MedMNISTInfo,
    check_size,
    file_keys,
    flag_info,
)
from hermes.data._positions import as_positions
from hermes.errors import DataFileError

__all__ = ["MedMNIST"]

_SPLIT_ALIASES = {"valid": "val", "validation": "val"}


def check_split(split: Any) -> str:
    """``"train"``, ``"val"`` or ``"test"`` (``"valid"`` is accepted for ``"val"``)."""
    if isinstance(split, str) and split in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[split]
    return check_choice(split, "split", SPLITS)


def image_shape(info: MedMNISTInfo, size: int) -> tuple[int, ...]:
    """Per-sample shape of the images as stored: ``(S, S)``, ``(S, S, 3)`` or ``(S, S, S)``."""
    if info.ndim == 3:
        return (size, size, size)
    return (size, size) if info.n_channels == 1 else (size, size, 3)


def _converter(info: MedMNISTInfo) -> Callable[[np.ndarray, np.ndarray], None]:
    """``convert(uint8 rows as stored, float32 rows (N, C, ...))``: channels first, ``/ 255``."""
    rgb = info.n_channels == 3

    def convert(rows: np.ndarray, out: np.ndarray) -> None:
        source = np.moveaxis(rows, -1, 1) if rgb else rows[:, None]
        np.divide(source, np.float32(255), out=out, dtype=np.float32)

    return convert


class MedMNIST(BatchedDataset):
    """One split of a MedMNIST v2 / MedMNIST+ dataset (2D or 3D), read from its ``.npz`` file.

    The file is ``root/{flag}.npz`` at size 28 and ``root/{flag}_{size}.npz`` otherwise, as the
    release names them. It holds ``{train,val,test}_images`` (uint8 ``(N, S, S)`` gray,
    ``(N, S, S, 3)`` RGB, ``(N, S, S, S)`` 3D) and ``{train,val,test}_labels`` (integer
    ``(N, 1)``, or ``(N, 14)`` 0/1 for the multi-label ChestMNIST). Nothing is downloaded unless
    ``download=True`` (which needs the ``medmnist`` package); the file is checked when the
    dataset is built (keys, dtypes, shapes, label values) and problems raise
    :class:`~hermes.errors.DataFileError` naming the file.

    Items are ``(image, label)``: a float32 tensor in ``[0, 1]`` (``value / 255``), ``(C, S, S)``
    for 2D flags and ``(1, S, S, S)`` for 3D flags; the label is an ``int`` class index for
    binary and multi-class flags (ordinal regression, RetinaMNIST, is treated as multi-class) and
    a float32 ``(K,)`` 0/1 tensor for multi-label flags. The images of the split are read once,
    on first use, and kept as uint8 (a stored member of an uncompressed ``.npz`` is
    memory-mapped instead). :meth:`tensors` reads the whole split as tensors, converting while
    it inflates; :meth:`load` and :meth:`iter_batches` (used by
    :func:`~hermes.evaluate_robustness`) read batches.

    Args:
        root: the folder holding the ``.npz`` files.
        flag: the dataset's name in the release, e.g. ``"pathmnist"``, ``"chestmnist"``,
            ``"organmnist3d"`` (case-insensitive; see :data:`hermes.data.MEDMNIST_FLAGS`).
        split: ``"train"``, ``"val"`` (or ``"valid"``) or ``"test"``.
        size: image size: 28, 64, 128 or 224 for 2D flags; 28 or 64 for 3D flags.
        transform: a callable applied to each image tensor by ``__getitem__``/``load``.
        download: fetch the file with the ``medmnist`` package if it is not in ``root``.

    Attributes:
        labels: all labels of the split: int64 ``(N,)`` or, for multi-label flags, float32
            ``(N, K)``.
        info: the flag's :class:`~hermes.data.MedMNISTInfo` (task, channels, label names).
        path: the file read.

    Raises:
        TypeError, ValueError: a bad argument (unknown flag, with the closest names suggested;
            a size not released for the flag; an unknown split).
        DataFileError: the file is missing (the message says how to get it) or not in the
            release's format.

    Example:
        >>> import tempfile
        >>> from hermes.data import make_synthetic_medmnist
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = make_synthetic_medmnist(tmp.name, "dermamnist", n_per_split=10, seed=0)
        >>> test = MedMNIST(tmp.name, "dermamnist", "test")
        >>> image, label = test[0]
        >>> image.shape, image.dtype, type(label).__name__
        (torch.Size([3, 28, 28]), torch.float32, 'int')
        >>> test.task, test.num_classes, test.n_channels
        ('multiclass', 7, 3)
        >>> images, labels = test.tensors()
        >>> images.shape, labels.shape
        (torch.Size([10, 3, 28, 28]), torch.Size([10]))
        >>> _ = make_synthetic_medmnist(tmp.name, "chestmnist", n_per_split=4, seed=0)
        >>> MedMNIST(tmp.name, "chestmnist", "val")[0][1].shape
        torch.Size([14])
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        root: str | os.PathLike,
        flag: str,
        split: str = "train",
        size: int = 28,
        *,
        transform: Callable[[torch.Tensor], Any] | None = None,
        download: bool = False,
    ) -> None:
        self.info = flag_info(flag)
        self.flag = self.info.flag
        self.split = check_split(split)
        self.size = check_size(size, self.info)
        check_bool(download, "download")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None; got {type(transform).__name__}")
        self.transform = transform
        try:
            self.path = locate(root, self.flag, self.size)
        except DataFileError:
            if not download:
                raise
            self.path = download_with_medmnist(self.flag, self.size, Path(root))
        self._archive = NpzArchive(self.path)
        self._image_key, self._label_key = file_keys(self.split)
        n = self._check_images()
        self.labels = self._read_labels(n)
        self._images: np.ndarray | None = None

    # -- facts of the flag ------------------------------------------------------------------

    @property
    def task(self) -> str:
        """``"binary"``, ``"multiclass"`` (ordinal regression included) or ``"multilabel"``."""
        if self.info.multilabel:
            return "multilabel"
        return "binary" if self.info.task == "binary" else "multiclass"

    @property
    def num_classes(self) -> int:
        """Classes (for multi-label flags: labels per sample)."""
        return self.info.num_classes

    @property
    def label_names(self) -> tuple[str, ...]:
        """The class (or finding) names, in label order."""
        return self.info.label_names

    @property
    def n_channels(self) -> int:
        """Image channels: 1 (gray) or 3 (RGB)."""
        return self.info.n_channels

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image tensor: ``(C, S, S)`` or ``(1, S, S, S)``."""
        return (self.n_channels, *(self.size,) * self.info.ndim)

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _load(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        positions = as_positions(index, len(self))
        images = self._convert(self._array()[positions])
        return images, self.labels[torch.from_numpy(positions)]

    def _item_label(self, label: torch.Tensor) -> Any:
        return label.clone() if self.info.multilabel else int(label)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as ``(images, labels)`` tensors (no ``transform`` applied).

        Images are float32 ``(N, C, ...)`` in ``[0, 1]``, converted on a second thread while
        the file inflates (the first time), so this costs little more than ``np.load``.
        Labels are :attr:`labels`. The pair is what :func:`~hermes.evaluate_robustness` and
        :func:`~hermes.models.fine_tune` take as data.
        """
        out = np.empty((len(self), *self.image_shape), np.float32)
        convert = _converter(self.info)
        if self._images is None:
            self._images = self._archive.read_converted(self._image_key, convert, out)
        else:
            convert(self._images, out)
        return torch.from_numpy(out), self.labels

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The split's images and labels as stored in the file (uint8 images, integer labels)."""
        return self._array(), self._archive.read(self._label_key)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_images"] = None  # a worker started by spawn reads the file itself
        return state

    def __repr__(self) -> str:
        return (
            f"MedMNIST(flag={self.flag!r}, split={self.split!r}, size={self.size}, "
            f"images={len(self)}, task={self.task!r}, path='{self.path}')"
        )

    # -- internals --------------------------------------------------------------------------

    def _array(self) -> np.ndarray:
        if self._images is None:
            self._images = self._archive.read(self._image_key)
        return self._images

    def _convert(self, rows: np.ndarray) -> torch.Tensor:
        out = np.empty((rows.shape[0], *self.image_shape), np.float32)
        _converter(self.info)(rows, out)
        return torch.from_numpy(out)

    def _missing(self, key: str) -> DataFileError:
        return DataFileError(
            f"'{self.path}' has no array {key!r} (it holds {', '.join(self._archive.keys) or 'none'}); "
            "a MedMNIST file holds {train,val,test}_{images,labels}"
        )

    def _check_images(self) -> int:
        key = self._image_key
        if key not in self._archive.keys:
            raise self._missing(key)
        shape, dtype, _ = self._archive.header(key)
        expected = image_shape(self.info, self.size)
        if dtype != np.uint8 or len(shape) != 1 + len(expected) or shape[1:] != expected:
            layout = "(N, " + ", ".join(map(str, expected)) + ")"
            raise DataFileError(
                f"'{self.path}': {key} must be uint8 {layout} for {self.flag!r} at size "
                f"{self.size}; got {dtype} {tuple(shape)}"
            )
        return shape[0]

    def _read_labels(self, n: int) -> torch.Tensor:
        key = self._label_key
        if key not in self._archive.keys:
            raise self._missing(key)
        labels = np.asarray(self._archive.read(key))
        k = self.num_classes
        width = k if self.info.multilabel else 1
        if labels.dtype.kind not in "iub" or labels.shape != (n, width):
            raise DataFileError(
                f"'{self.path}': {key} must be integer ({n}, {width}) labels for "
                f"{self.flag!r} ({n} images); got {labels.dtype} {labels.shape}"
            )
        high = 1 if self.info.multilabel else k - 1
        if labels.size and (labels.min() < 0 or labels.max() > high):
            raise DataFileError(
                f"'{self.path}': {key} must hold values in [0, {high}] for {self.flag!r}; got "
                f"values in [{labels.min()}, {labels.max()}]"
            )
        if self.info.multilabel:
            return torch.from_numpy(labels.astype(np.float32))
        return torch.from_numpy(labels.reshape(-1).astype(np.int64))
