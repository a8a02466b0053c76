"""Synthetic MedMNIST files: small ``.npz`` files in exactly the release's format, with a signal.

Each class (or, for multi-label flags, each finding) owns a fixed place in the image or volume
and a colour; an image of that class has a bright blob there, jittered in position and
brightness, over a smooth noisy background. Labels therefore depend on the image, so a small
network learns them in a few epochs, and the files exercise every code path of
:class:`~hermes.data.MedMNIST` (keys, dtypes, shapes, label convention) without the real data.
The content is not medical in any way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hermes._files import write_atomic
from hermes._random import check_seed
from hermes._validation import check_positive_int
from hermes.data._medmnist_flags import (
    SPLITS,
    MedMNISTInfo,
    check_size,
    file_keys,
    file_name,
    flag_info,
)

__all__ = ["make_synthetic_medmnist", "synthetic_medmnist_arrays"]

_POSITIVE_RATE = 0.25  # multi-label: chance of each finding


def _places(info: MedMNISTInfo, size: int, seed: int) -> np.ndarray:
    """``(K, ndim)`` blob centres: distinct cells of a grid over the image, in seeded order."""
    k, ndim = info.num_classes, info.ndim
    per_axis = max(2, math.ceil(k ** (1 / ndim) - 1e-9))
    cells = np.stack(np.meshgrid(*[np.arange(per_axis)] * ndim, indexing="ij"), axis=-1).reshape(
        -1, ndim
    )
    order = np.random.default_rng([seed, 7]).permutation(len(cells))[:k]
    return (cells[order] + 0.5) * (size / per_axis)


def _draw_labels(info: MedMNISTInfo, n: int, rng: np.random.Generator) -> np.ndarray:
    """Labels as the release stores them: uint8 ``(n, 1)`` or ``(n, K)`` 0/1."""
    k = info.num_classes
    if info.multilabel:
        return (rng.random((n, k)) < _POSITIVE_RATE).astype(np.uint8)
    labels = np.arange(n) % k  # balanced, then shuffled
    rng.shuffle(labels)
    return labels.astype(np.uint8)[:, None]


def synthetic_medmnist_arrays(
    flag: str, n: int, size: int = 28, seed: int = 0, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """One split's ``(images, labels)`` arrays, exactly as the release stores them.

    Args:
        flag: a MedMNIST flag (``"pathmnist"``, ``"organmnist3d"``, ...).
        n: number of samples (``>= 0``).
        size: image size released for the flag.
        seed: a non-negative int; with ``split`` it fixes the arrays.
        split: ``"train"``, ``"val"`` or ``"test"`` (each draws different samples).

    Returns:
        uint8 images ``(n, S, S)``, ``(n, S, S, 3)`` or ``(n, S, S, S)`` and uint8 labels
        ``(n, 1)`` or ``(n, K)``.

    Example:
        >>> images, labels = synthetic_medmnist_arrays("bloodmnist", 5, seed=0)
        >>> images.shape, images.dtype, labels.shape
        ((5, 28, 28, 3), dtype('uint8'), (5, 1))
    """
    info = flag_info(flag)
    size = check_size(size, info)
    n = check_positive_int(n, "n", minimum=0)
    seed = check_seed(seed)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}; got {split!r}")
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    labels = _draw_labels(info, n, rng)
    present = (
        labels.astype(bool)
        if info.multilabel
        else np.eye(info.num_classes, dtype=bool)[labels[:, 0]]
    )
    ndim, channels = info.ndim, info.n_channels
    places = _places(info, size, seed)  # (K, ndim)
    colours = 0.55 + 0.45 * np.random.default_rng([seed, 11]).random((info.num_classes, channels))
    grid = np.arange(size, dtype=np.float32) + 0.5
    width = size / (2.5 * max(2, math.ceil(info.num_classes ** (1 / ndim) - 1e-9)))
    shape = (n, *(size,) * ndim)
    # Smooth background: coarse noise upsampled, plus fine noise.
    coarse = rng.random((n, *(4,) * ndim, channels), dtype=np.float32)
    for axis in range(1, ndim + 1):
        coarse = np.repeat(coarse, -(-size // 4), axis=axis)
    background = coarse[(slice(None), *[slice(0, size)] * ndim)] * 0.25 + 0.1
    image = background + 0.05 * rng.standard_normal((*shape, channels), dtype=np.float32)
    jitter = rng.uniform(-0.08, 0.08, (n, info.num_classes, ndim)) * size
    brightness = rng.uniform(0.6, 1.0, (n, info.num_classes)).astype(np.float32)
    for k in range(info.num_classes):
        rows = np.flatnonzero(present[:, k])
        if rows.size == 0:
            continue
        centre = places[k] + jitter[rows, k]  # (m, ndim)
        squared = 0.0
        for axis in range(ndim):
            d = grid[None, :] - centre[:, axis : axis + 1].astype(np.float32)  # (m, S)
            view = [rows.size] + [1] * ndim
            view[axis + 1] = size
            squared = squared + (d**2).reshape(view)
        blob = np.exp(-squared / (2 * width**2)) * brightness[rows, k].reshape(-1, *[1] * ndim)
        image[rows] += blob[..., None] * colours[k].astype(np.float32)
    pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    if channels == 1:
        pixels = pixels[..., 0]
    return pixels, labels


def make_synthetic_medmnist(
    root: str | os.PathLike,
    flag: str,
    size: int = 28,
    n_per_split: int | Mapping[str, int] = 64,
    seed: int = 0,
) -> Path:
    """Write a small synthetic ``{flag}.npz`` / ``{flag}_{size}.npz`` in the release's format.

    The file holds ``train_images``, ``train_labels``, ``val_images``, ``val_labels``,
    ``test_images`` and ``test_labels`` with the release's dtypes and shapes (see
    :func:`synthetic_medmnist_arrays`), written with ``np.savez_compressed`` under a temporary
    name and renamed when complete (an existing file of that name is replaced).
    :class:`~hermes.data.MedMNIST` (and the ``medmnist`` package) read it like the real file.

    Args:
        root: folder to write to (created if needed).
        flag: a MedMNIST flag.
        size: an image size released for the flag (2D: 28, 64, 128, 224; 3D: 28, 64).
        n_per_split: samples per split: one int for all, or ``{"train": ..., "val": ...,
            "test": ...}``.
        seed: a non-negative int; the same arguments always write the same arrays.

    Returns:
        The path written.

    Example:
        >>> import tempfile
        >>> from hermes.data import MedMNIST
        >>> tmp = tempfile.TemporaryDirectory()
        >>> make_synthetic_medmnist(tmp.name, "organmnist3d", n_per_split=6).name
        'organmnist3d.npz'
        >>> volume, label = MedMNIST(tmp.name, "organmnist3d", "train")[0]
        >>> volume.shape
        torch.Size([1, 28, 28, 28])
        >>> tmp.cleanup()
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike); got {type(root).__name__}")
    info = flag_info(flag)
    size = check_size(size, info)
    counts = _split_counts(n_per_split)
    seed = check_seed(seed)
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        images, labels = synthetic_medmnist_arrays(info.flag, counts[split], size, seed, split)
        image_key, label_key = file_keys(split)
        arrays[image_key], arrays[label_key] = images, labels
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(
        folder / file_name(info.flag, size), lambda file: np.savez_compressed(file, **arrays)
    )


def _split_counts(n_per_split: Any) -> dict[str, int]:
    if isinstance(n_per_split, Mapping):
        if set(n_per_split) != set(SPLITS):
            raise ValueError(
                f"n_per_split as a mapping must have exactly the keys {', '.join(SPLITS)}; got "
                f"{', '.join(map(repr, n_per_split))}"
            )
        return {
            s: check_positive_int(n_per_split[s], f"n_per_split[{s!r}]", minimum=0) for s in SPLITS
        }
    n = check_positive_int(n_per_split, "n_per_split", minimum=0)
    return dict.fromkeys(SPLITS, n)
