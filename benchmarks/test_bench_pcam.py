"""Reading 2048 PCam patches for evaluation: hermes' batched reads against torchvision's PCAM.

torchvision's ``datasets.PCAM`` opens the HDF5 files again for every item, reads one patch and
builds a PIL image, which ``ToTensor`` turns back into a tensor; a ``DataLoader`` then stacks
256 of them. hermes keeps one handle per process and reads each batch of 256 as one slice.

Two versions of the same patches: gzip-compressed datasets (``make_synthetic_pcam``'s default;
both readers inflate all 2048 patches, hermes on ``torch.get_num_threads()`` threads) and
contiguous uncompressed ones (where only the per-item overhead differs). Compare the rows of each
group; the goal is >= 10x.

    pytest benchmarks/test_bench_pcam.py --benchmark-group-by=group
"""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision.transforms import ToTensor

from hermes.data import PCam, make_synthetic_pcam

N = 2048
BATCH = 256


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"gzip": root, "uncompressed": root}``: the same patches, under ``root/pcam/``."""
    gzip_root = tmp_path_factory.mktemp("bench-pcam-gzip")
    files = make_synthetic_pcam(gzip_root / "pcam", n_train=1, n_valid=1, n_test=N, seed=0)
    plain_root = tmp_path_factory.mktemp("bench-pcam-uncompressed")
    (plain_root / "pcam").mkdir()
    for path, key in zip(files["test"], ("x", "y")):  # a contiguous, uncompressed copy
        with h5py.File(path, "r") as src, h5py.File(plain_root / "pcam" / path.name, "w") as dst:
            dst.create_dataset(key, data=src[key][()])
    return {"gzip": gzip_root, "uncompressed": plain_root}


def hermes_iter_batches(root: Path) -> int:
    dataset = PCam(root, "test")
    return sum(len(labels) for _, labels in dataset.iter_batches(BATCH))


def hermes_dataloader(root: Path) -> int:
    loader = DataLoader(PCam(root, "test"), batch_size=BATCH)
    return sum(len(labels) for _, labels in loader)


def torchvision_dataloader(root: Path) -> int:
    dataset = torchvision.datasets.PCAM(root, split="test", transform=ToTensor())
    return sum(len(labels) for _, labels in DataLoader(dataset, batch_size=BATCH))


READERS = {
    "hermes-iter_batches": hermes_iter_batches,
    "hermes-DataLoader": hermes_dataloader,
    "torchvision-PCAM": torchvision_dataloader,
}


@pytest.mark.parametrize("storage", ["gzip", "uncompressed"])
@pytest.mark.parametrize("reader", list(READERS))
def test_bench_eval_read(benchmark, roots, storage, reader) -> None:
    benchmark.group = f"pcam-eval-read-{N}-{storage}"
    with torch.inference_mode():
        count = benchmark.pedantic(
            READERS[reader], args=(roots[storage],), rounds=3, warmup_rounds=1
        )
    assert count == N


def test_readers_agree(roots) -> None:
    """The benchmarked readers return the same images (so the timings compare like with like)."""
    ours = PCam(roots["gzip"], "test", limit=BATCH).load(slice(None))[0]
    theirs = torchvision.datasets.PCAM(roots["uncompressed"], split="test", transform=ToTensor())
    torch.testing.assert_close(
        ours, torch.stack([theirs[i][0] for i in range(BATCH)]), rtol=0, atol=0
    )
