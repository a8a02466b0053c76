"""Reading a whole MedMNIST split: hermes' ``MedMNIST`` against numpy's own ``np.load``.

The file is a PathMNIST-sized test split (7,180 RGB 28x28 images, smooth content so that it
compresses like real images) written with ``np.savez_compressed``, as the release is. Two groups:

- ``arrays``: the uint8 images as stored. numpy's ``np.load(path)["test_images"]`` against
  ``MedMNIST(...).arrays()`` (hermes inflates the zip member straight into its array).
- ``tensors``: float ``[0, 1]`` channels-first tensors, what evaluation needs. numpy's load
  followed by the conversion a user would write, and numpy's load alone (the issue's bound:
  hermes within 1.2x of it), against ``MedMNIST(...).tensors()``, which converts on a second
  thread while the file inflates.

    pytest benchmarks/test_bench_medmnist.py --benchmark-group-by=group
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hermes.data import MedMNIST

N = 7180


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench-medmnist")
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (N, 7, 7, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2).astype(np.int16)
    images = np.clip(images + rng.integers(-8, 8, images.shape), 0, 255).astype(np.uint8)
    labels = rng.integers(0, 9, (N, 1), dtype=np.uint8)
    small = {"images": images[:8], "labels": labels[:8]}
    splits = {"train": small, "val": small, "test": {"images": images, "labels": labels}}
    arrays = {f"{split}_{kind}": a for split, part in splits.items() for kind, a in part.items()}
    np.savez_compressed(folder / "pathmnist.npz", **arrays)
    return folder


def numpy_load(root: Path) -> np.ndarray:
    with np.load(root / "pathmnist.npz") as stored:
        return stored["test_images"]


def numpy_load_and_convert(root: Path) -> torch.Tensor:
    images = torch.from_numpy(numpy_load(root))
    return images.permute(0, 3, 1, 2).float().div(255)


def hermes_arrays(root: Path) -> np.ndarray:
    return MedMNIST(root, "pathmnist", "test").arrays()[0]


def hermes_tensors(root: Path) -> torch.Tensor:
    return MedMNIST(root, "pathmnist", "test").tensors()[0]


GROUPS = {
    "arrays": {"numpy-np.load": numpy_load, "hermes-arrays": hermes_arrays},
    "tensors": {
        "numpy-np.load": numpy_load,
        "numpy-np.load+convert": numpy_load_and_convert,
        "hermes-tensors": hermes_tensors,
    },
}


@pytest.mark.parametrize(
    "group, reader", [(g, r) for g, readers in GROUPS.items() for r in readers]
)
def test_bench_read_split(benchmark, root, group, reader) -> None:
    benchmark.group = f"medmnist-read-{group}-{N}"
    result = benchmark.pedantic(GROUPS[group][reader], args=(root,), rounds=10, warmup_rounds=1)
    assert len(result) == N


def test_readers_agree(root) -> None:
    """The benchmarked readers return the same values (so the timings compare like with like)."""
    assert np.array_equal(hermes_arrays(root), numpy_load(root))
    assert torch.equal(hermes_tensors(root), numpy_load_and_convert(root))
