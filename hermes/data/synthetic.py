"""Synthetic PatchCamelyon files: the tissue of :mod:`hermes.data.tissue`, written in exactly the
original release's HDF5 format, so that :class:`~hermes.data.PCam` and torchvision read them
like the real files.

Each file is written under a temporary name and renamed when complete; the arguments are recorded
next to the files, so that ``reuse=True`` keeps a set only if it was written with the same ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from hermes._files import atomic_path, check_unchanged, write_atomic
from hermes._random import check_seed
from hermes._validation import check_bool, check_choice, check_number, check_positive_int
from hermes.data._pcam_files import file_name
from hermes.data.tissue import (  # re-exported: importable from here as before the split
    SIZE,
    SyntheticPatches,
    draw_blocks,
    generate_synthetic_patches,
    synthetic_pcam_arrays,
)

__all__ = [
    "PCamFiles",
    "SyntheticPatches",
    "generate_synthetic_patches",
    "make_synthetic_pcam",
    "synthetic_pcam_arrays",
]

_CHUNK = 1  # patches per HDF5 chunk when compressed


class PCamFiles(NamedTuple):
    """The image and label files of one split."""

    x: Path
    y: Path


def _write_split(
    folder: Path, split: str, n: int, seed: int, label_noise: float, compression: str | None
) -> PCamFiles:
    paths = PCamFiles(folder / file_name(split, "x"), folder / file_name(split, "y"))
    # Compressed: one patch per chunk, so a random read inflates one patch. Uncompressed:
    # h5py's default contiguous layout.
    gz = {"compression": "gzip", "compression_opts": 4} if compression else {}
    x_chunks = (_CHUNK, SIZE, SIZE, 3) if compression else None
    with atomic_path(paths.x) as x_path, atomic_path(paths.y) as y_path:
        with h5py.File(x_path, "w") as fx, h5py.File(y_path, "w") as fy:
            xs = fx.create_dataset("x", (n, SIZE, SIZE, 3), np.uint8, chunks=x_chunks, **gz)
            ys = fy.create_dataset("y", (n, 1, 1, 1), np.uint8, **gz)
            for start, out in draw_blocks(n, seed, split, label_noise, keep_mask=False):
                stop = start + out["x"].shape[0]
                xs[start:stop] = out["x"].numpy()
                ys[start:stop] = out["y"].numpy()
    return paths


def make_synthetic_pcam(
    root: str | os.PathLike,
    n_train: int = 2048,
    n_valid: int = 512,
    n_test: int = 512,
    seed: int = 0,
    *,
    label_noise: float = 0.03,
    compression: str | None = "gzip",
    reuse: bool = False,
) -> dict[str, PCamFiles]:
    """Write synthetic PatchCamelyon files to ``root``, in exactly the original release's format.

    For each split: ``camelyonpatch_level_2_split_{split}_x.h5`` (dataset ``x``, uint8
    ``(N, 96, 96, 3)``) and ``..._y.h5`` (dataset ``y``, uint8 ``(N, 1, 1, 1)``), stored as
    gzip-compressed HDF5 datasets (one patch per chunk) or, with ``compression=None``,
    uncompressed. :class:`~hermes.data.PCam` and ``torchvision.datasets.PCAM`` (with the files
    under ``root/pcam/``) read them like the real files. The content is synthetic; see the module
    docstring and ``docs/data.md`` for what it is and is not.

    Each file is written under a temporary name and renamed when complete; existing files of
    the same name are replaced, unless ``reuse=True``. The arguments are recorded in
    ``root/hermes_synthetic.json`` once every file is written.

    Args:
        root: folder to write to (created if needed).
        n_train, n_valid, n_test: patches per split (each ``>= 1``).
        seed: a non-negative int; the same seed always writes the same files.
        label_noise: probability that a label is flipped (``0 <= label_noise <= 0.5``).
        compression: ``"gzip"`` (one patch per chunk) or ``None`` (contiguous, uncompressed:
            faster to read, about 20% larger).
        reuse: keep a set this function already wrote to ``root`` with the same arguments
            instead of writing it again (for scripts that are run more than once). A set written
            with other arguments, or PCam files it did not write, raise ``ValueError``.

    Returns:
        ``{"train": PCamFiles(x, y), "valid": ..., "test": ...}``: the paths written.

    Example:
        >>> import tempfile
        >>> from hermes.data import PCam
        >>> tmp = tempfile.TemporaryDirectory()
        >>> files = make_synthetic_pcam(tmp.name, n_train=8, n_valid=4, n_test=4, seed=0)
        >>> files["test"].x.name
        'camelyonpatch_level_2_split_test_x.h5'
        >>> len(PCam(tmp.name, "test"))
        4
        >>> tmp.cleanup()
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike); got {type(root).__name__}")
    sizes = {
        "train": check_positive_int(n_train, "n_train"),
        "valid": check_positive_int(n_valid, "n_valid"),
        "test": check_positive_int(n_test, "n_test"),
    }
    seed = check_seed(seed)
    label_noise = check_number(label_noise, "label_noise", low=0.0, high=0.5)
    compression = check_choice(compression, "compression", ("gzip", None))
    check_bool(reuse, "reuse")
    folder = Path(root)
    settings = {
        **{f"n_{k}": v for k, v in sizes.items()},
        "seed": seed,
        "label_noise": label_noise,
        "compression": compression,
    }
    existing = {
        split: PCamFiles(folder / file_name(split, "x"), folder / file_name(split, "y"))
        for split in sizes
    }
    if reuse and _reusable(folder, settings, existing):
        return existing
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _SETTINGS_FILE).unlink(missing_ok=True)
    files = {
        split: _write_split(folder, split, n, seed, label_noise, compression)
        for split, n in sizes.items()
    }
    write_atomic(folder / _SETTINGS_FILE, json.dumps(settings, sort_keys=True).encode())
    return files


_SETTINGS_FILE = "hermes_synthetic.json"


def _reusable(folder: Path, settings: dict, files: dict[str, PCamFiles]) -> bool:
    """Whether ``folder`` holds a complete set written with ``settings`` (False: nothing there)."""
    present = [p for pair in files.values() for p in pair if p.exists()]
    record = folder / _SETTINGS_FILE
    if not present and not record.exists():
        return False
    if not record.exists() or len(present) < 2 * len(files):
        raise ValueError(
            f"root '{folder}' holds PCam files that make_synthetic_pcam did not finish writing "
            "(or real ones); reuse=True will not overwrite them: choose another root"
        )
    check_unchanged(
        json.loads(record.read_text()),
        settings,
        f"root '{folder}' holds a synthetic set written with other arguments",
        "delete it or choose another root",
    )
    return True
