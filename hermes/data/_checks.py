"""Opening PCam HDF5 files and checking they hold what the release promises.

Every failure is a :class:`~hermes.errors.DataFileError` that names the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from hermes.data._pcam_files import DOWNLOAD_HINT
from hermes.errors import DataFileError

__all__ = ["IMAGE_SHAPE", "check_images_dataset", "get_dataset", "open_h5", "read_labels"]

IMAGE_SHAPE = (96, 96, 3)


def open_h5(path: Path) -> h5py.File:
    """Open ``path`` read-only; a file HDF5 cannot read becomes a ``DataFileError``."""
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataFileError(
            f"'{path}' cannot be read as HDF5 ({error}); the file is truncated, corrupt or not an "
            f"HDF5 file. {DOWNLOAD_HINT}"
        ) from error


def get_dataset(file: h5py.File, key: str, path: Path) -> h5py.Dataset:
    """Return ``file[key]``, which must be a dataset."""
    node = file.get(key)
    if not isinstance(node, h5py.Dataset):
        found = ", ".join(repr(k) for k in file) or "nothing"
        what = "has no dataset" if node is None else "has a group, not a dataset, at"
        raise DataFileError(
            f"'{path}' {what} key '{key}' (it holds: {found}); PCam files keep images under 'x' "
            "and labels under 'y'."
        )
    return node


def check_images_dataset(images: h5py.Dataset, path: Path) -> int:
    """Check a ``uint8 (N, 96, 96, 3)`` image dataset and return ``N``."""
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise DataFileError(
            f"'{path}': dataset 'x' must have shape (N, 96, 96, 3) (channels last); "
            f"got {images.shape}"
        )
    if images.dtype != np.uint8:
        raise DataFileError(f"'{path}': dataset 'x' must have dtype uint8; got {images.dtype}")
    return int(images.shape[0])


def read_labels(labels: h5py.Dataset, path: Path) -> np.ndarray:
    """Read a ``(N, 1, 1, 1)`` (or ``(N,)``) integer label dataset of zeros and ones.

    Returns:
        The labels as a ``(N,)`` uint8 array (labels are small: one byte per patch).
    """
    shape = tuple(labels.shape)
    if not (len(shape) == 1 or (len(shape) == 4 and shape[1:] == (1, 1, 1))):
        raise DataFileError(f"'{path}': dataset 'y' must have shape (N, 1, 1, 1); got {shape}")
    if labels.dtype.kind not in "iub":
        raise DataFileError(
            f"'{path}': dataset 'y' must hold integer labels (uint8); got dtype {labels.dtype}"
        )
    try:
        values = np.asarray(labels[()]).reshape(-1)
    except OSError as error:
        raise DataFileError(
            f"'{path}': dataset 'y' cannot be read ({error}). {DOWNLOAD_HINT}"
        ) from error
    if values.size and not np.isin(values, (0, 1)).all():
        bad = np.unique(values[~np.isin(values, (0, 1))])[:5].tolist()
        raise DataFileError(f"'{path}': dataset 'y' must hold labels 0 and 1; found {bad}")
    return values.astype(np.uint8)
