"""Randomized smoothing's ``certify`` against the floor: the same number of noisy copies pushed
through the model in raw batched forwards.

``certify`` (n0 = 64 then n = 512 noisy copies of each of 8 images, in forwards of 256 copies)
must spend its time in the model: the issue's bound is a throughput (noise draws
per second) at least 0.95x that of the raw forwards, i.e. a time ratio of at most about 1.05.
The floor draws its noise with the same generator kind and adds it, so only hermes' own
bookkeeping (counting, Clopper-Pearson bounds) separates the two.

    pytest benchmarks/test_bench_certify.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest
import torch

from benchmarks._inputs import random_images, seeded_resnet18
from hermes.certify import RandomizedSmoothing

IMAGES, N0, N, BATCH = 8, 64, 512, 256
SIGMA = 0.25


@pytest.fixture(scope="module")
def model_and_images() -> tuple[torch.nn.Module, torch.Tensor]:
    return seeded_resnet18(2), random_images(IMAGES, 32)[0]


def raw_noisy_forwards(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    copies = x.repeat_interleave(N0 + N, dim=0)
    with torch.no_grad():
        for start in range(0, copies.shape[0], BATCH):
            chunk = copies[start : start + BATCH]
            logits = model(chunk + SIGMA * torch.randn(chunk.shape, generator=generator))
    return logits


@pytest.mark.benchmark(group="certify: 8 images x 576 noise draws, ResNet-18 32x32")
def test_hermes_certify(benchmark, model_and_images) -> None:
    model, x = model_and_images
    smoothed = RandomizedSmoothing(model, SIGMA, batch_size=BATCH, generator=0)
    classes, radius = benchmark(smoothed.certify, x, n0=N0, n=N, alpha=0.001)
    assert classes.shape == radius.shape == (IMAGES,)


@pytest.mark.benchmark(group="certify: 8 images x 576 noise draws, ResNet-18 32x32")
def test_raw_forwards_floor(benchmark, model_and_images) -> None:
    model, x = model_and_images
    logits = benchmark(raw_noisy_forwards, model, x)
    assert logits.shape[1] == 2
