"""Helpers shared by the data tests: reading files back with h5py, writing broken ones."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from hermes.data import PCamFiles


def read_raw(files: PCamFiles) -> tuple[np.ndarray, np.ndarray]:
    """A split's arrays as h5py reads them: ``x (N, 96, 96, 3)`` and ``y (N,)``."""
    with h5py.File(files.x, "r") as fx, h5py.File(files.y, "r") as fy:
        return fx["x"][()], fy["y"][()][:, 0, 0, 0]


def write_h5(path: Path, key: str, data: np.ndarray) -> Path:
    """One dataset ``key`` holding ``data``, uncompressed."""
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)
    return path
