"""PGD-10 on a ResNet-18 at 96x96 against the floor: 10 raw forward+backward passes.

The raw loop is what any PGD must do at least (one forward and one input-gradient backward per
step), so the ratio measures hermes' overhead: validation, projection, clipping, mode handling.

    pytest benchmarks/test_bench_attacks.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks._inputs import random_images, seeded_resnet18
from hermes.attacks import PGD

BATCH = 16
STEPS = 10


@pytest.fixture(scope="module")
def resnet_and_batch() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = seeded_resnet18(1)
    x, g = random_images(BATCH, 96)
    y = torch.randint(0, 2, (BATCH,), generator=g)
    return model, x, y


def raw_forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    target = y.float()
    for _ in range(STEPS):
        leaf = x.detach().requires_grad_(True)
        loss = nn.functional.binary_cross_entropy_with_logits(model(leaf).view(-1), target)
        (grad,) = torch.autograd.grad(loss, leaf)
    return grad


@pytest.mark.benchmark(group="pgd10-resnet18-96px-b16")
def test_bench_raw_forward_backward(benchmark, resnet_and_batch) -> None:
    model, x, y = resnet_and_batch
    benchmark.pedantic(raw_forward_backward, args=(model, x, y), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="pgd10-resnet18-96px-b16")
def test_bench_hermes_pgd(benchmark, resnet_and_batch) -> None:
    model, x, y = resnet_and_batch
    attack = PGD(model, eps=8 / 255, steps=STEPS, generator=0)
    x_adv = benchmark.pedantic(attack, args=(x, y), rounds=5, warmup_rounds=1)
    assert float((x_adv - x).abs().max()) <= 8 / 255 + 1e-6
