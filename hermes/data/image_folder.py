"""Images in class folders (torchvision's ``ImageFolder`` layout) as ``[0, 1]`` tensors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from hermes._validation import check_choice, check_positive_int
from hermes.errors import DataFileError, ShapeError

__all__ = ["ImageFolderDataset", "image_folder"]

_GRAY_MODES = ("1", "L", "LA", "I;16", "I;16B", "I;16L")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L")


class ImageFolderDataset(Dataset):
    """Images in ``root/<class>/<image>`` folders, as float ``(C, H, W)`` tensors in ``[0, 1]``.

    The layout of ``torchvision.datasets.ImageFolder``: one sub-folder per class, classes sorted
    by name and numbered from 0 (so for a binary task name the negative class's folder so that it
    sorts first, e.g. ``0_benign`` and ``1_malignant``). Files with the usual image extensions
    are read with Pillow, converted to ``channels`` channels (8-bit images are divided by 255,
    16-bit grayscale ones by 65535) and, with ``size``, resized (bilinear, antialiased).

    Args:
        root: the folder holding one sub-folder per class.
        size: ``None`` (images are used as they are and must all have the first image's size),
            an int (square) or ``(height, width)``.
        channels: 1 (grayscale) or 3 (RGB); ``None`` takes the first image's (1 for grayscale
            modes, 3 otherwise).
        transform: a callable applied to each image tensor.

    Attributes:
        classes: class names (folder names), in label order.
        class_to_idx: ``{name: label}``.
        samples: ``[(path, label), ...]`` in reading order.
        targets: the labels, in the same order.

    Raises:
        DataFileError: ``root`` is missing, has no class folders or no images, or an image cannot
            be read or has an unsupported pixel format (the message names the file).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for label in ("0_normal", "1_tumour"):
        ...     (root / label).mkdir()
        ...     Image.new("L", (12, 10), 200).save(root / label / "a.png")
        >>> data = image_folder(root)
        >>> image, label = data[1]
        >>> image.shape, round(float(image.max()), 4), label, data.classes
        (torch.Size([1, 10, 12]), 0.7843, 1, ['0_normal', '1_tumour'])
        >>> image_folder(root, size=8, channels=3)[0][0].shape
        torch.Size([3, 8, 8])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: int | tuple[int, int] | None = None,
        channels: int | None = None,
        transform: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path (str or os.PathLike); got {type(root).__name__}")
        self.root = Path(root)
        self.size = _check_size(size)
        if channels is not None:
            channels = check_choice(channels, "channels", (1, 3, None))
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None; got {type(transform).__name__}")
        self.transform = transform
        if not self.root.is_dir():
            raise DataFileError(f"root '{self.root}' is not an existing folder")
        try:
            self.classes, self.class_to_idx = find_classes(str(self.root))
            found = make_dataset(str(self.root), self.class_to_idx, extensions=IMG_EXTENSIONS)
        except FileNotFoundError as error:
            raise DataFileError(
                f"root '{self.root}' must hold one folder of images per class "
                f"(extensions {', '.join(IMG_EXTENSIONS)}): {error}"
            ) from error
        self.samples: list[tuple[str, int]] = [(str(p), int(t)) for p, t in found]
        self.targets = [t for _, t in self.samples]
        with self._open(0) as first:
            self.channels = channels if channels is not None else _channels_of(first)
            self._first_size = first.size  # (width, height), for images used as they are

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int; got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} images")
        index = int(index) % len(self)
        with self._open(index) as picture:
            image = self._to_tensor(picture, self.samples[index][0])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images stacked as float32 ``(N, C, H, W)`` and int64 labels ``(N,)``."""
        items = [self[i] for i in range(len(self))]
        return torch.stack([image for image, _ in items]), torch.tensor(self.targets)

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset(root='{self.root}', images={len(self)}, classes={self.classes}, "
            f"channels={self.channels}, size={self.size})"
        )

    def _open(self, index: int) -> Image.Image:
        path = self.samples[index][0]
        try:
            picture = Image.open(path)
            picture.load()
        except (OSError, ValueError) as error:
            raise DataFileError(f"cannot read image '{path}': {error}") from error
        return picture

    def _to_tensor(self, picture: Image.Image, path: str) -> torch.Tensor:
        if self.size is None and picture.size != self._first_size:
            w0, h0 = self._first_size
            raise ShapeError(
                f"image '{path}' is {picture.size[1]}x{picture.size[0]} (HxW) but the first image "
                f"is {h0}x{w0}; images must share one size, or pass size= to resize them"
            )
        if picture.mode in _SIXTEEN_BIT:
            array = np.asarray(picture, dtype=np.uint16)
            scale = 65535.0
            if self.size is not None:
                resized = Image.fromarray(array.astype(np.float32), mode="F")
                array = np.asarray(_resize(resized, self.size))
            array = array[..., None] if self.channels == 1 else np.repeat(array[..., None], 3, -1)
        elif picture.mode in ("I", "F"):
            raise DataFileError(
                f"image '{path}' has pixel mode {picture.mode!r} (32-bit), whose range is not "
                "known; save it as 8- or 16-bit, or load it yourself and use from_arrays"
            )
        else:
            picture = picture.convert("L" if self.channels == 1 else "RGB")
            if self.size is not None:
                picture = _resize(picture, self.size)
            array = np.asarray(picture)
            array = array[..., None] if array.ndim == 2 else array
            scale = 255.0
        out = np.empty((array.shape[2], array.shape[0], array.shape[1]), np.float32)
        np.divide(np.moveaxis(array, -1, 0), np.float32(scale), out=out, dtype=np.float32)
        return torch.from_numpy(np.clip(out, 0.0, 1.0, out=out))


def image_folder(
    root: str | os.PathLike,
    size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    transform: Callable[[torch.Tensor], Any] | None = None,
) -> ImageFolderDataset:
    """Images in class folders as a ``Dataset`` of ``([0, 1] tensor, int label)``.

    Shorthand for :class:`ImageFolderDataset`; see it for the arguments. The dataset feeds
    :func:`~hermes.evaluate_robustness` and :func:`~hermes.models.fine_tune` directly.
    """
    return ImageFolderDataset(root, size=size, channels=channels, transform=transform)


def _channels_of(picture: Image.Image) -> int:
    return 1 if picture.mode in _GRAY_MODES else 3


def _resize(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    return picture.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=None)


def _check_size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return (check_positive_int(size[0], "size[0]"), check_positive_int(size[1], "size[1]"))
    if isinstance(size, (tuple, list)):
        raise ValueError(f"size must be an int or (height, width); got {size!r}")
    side = check_positive_int(size, "size")
    return (side, side)
