"""APGD-20 on a ResNet-18 at 96x96: hermes against torchattacks' APGD and the raw floor.

The raw loop (20 forward+backward passes, nothing else) is what any 20-step APGD must do at
least, so the ratio to it measures hermes' overhead: the momentum step, projections, the per-sample
best point and step-size schedule, and the one extra forward pass that scores the last iterate.
torchattacks 3.5.1's ``APGD`` with the same steps and one restart is what a user would otherwise
run (it does 21 forward+backward passes). Both get 2 logits: torchattacks needs ``K >= 2``. The
labels are the model's own predictions: torchattacks attacks only the examples classified
correctly at the start (hermes attacks every example, since pushing misclassified ones further
lowers AUROC), so with random labels it would do half the work.

    pytest benchmarks/test_bench_apgd.py --benchmark-group-by=group

On a machine shared with other work, wall time swings by 2x between rounds; the CPU time of one
thread is steadier:

    OMP_NUM_THREADS=1 pytest benchmarks/test_bench_apgd.py --benchmark-group-by=group \
        --benchmark-timer=time.process_time
"""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import nn

from benchmarks._inputs import random_images, seeded_resnet18
from hermes.attacks.apgd import APGD

BATCH = 16
STEPS = 20
EPS = 8 / 255
GROUP = "apgd20-resnet18-96px-b16"


@pytest.fixture(scope="module")
def resnet_and_batch() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = seeded_resnet18(2)
    x, _ = random_images(BATCH, 96)
    with torch.no_grad():
        y = model(x).argmax(1)  # every example starts classified correctly
    return model, x, y


def raw_forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    for _ in range(STEPS):
        leaf = x.detach().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(leaf), y)
        (grad,) = torch.autograd.grad(loss, leaf)
    return grad


def run_torchattacks(attack: torchattacks.APGD, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.random.fork_rng():  # torchattacks' APGD reseeds the global RNG
        return attack(x, y)


@pytest.mark.benchmark(group=GROUP)
def test_bench_raw_forward_backward(benchmark, resnet_and_batch) -> None:
    model, x, y = resnet_and_batch
    benchmark.pedantic(raw_forward_backward, args=(model, x, y), rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group=GROUP)
def test_bench_torchattacks_apgd(benchmark, resnet_and_batch) -> None:
    model, x, y = resnet_and_batch
    attack = torchattacks.APGD(model, norm="Linf", eps=EPS, steps=STEPS, n_restarts=1, seed=0)
    x_adv = benchmark.pedantic(run_torchattacks, args=(attack, x, y), rounds=3, warmup_rounds=1)
    assert float((x_adv.detach() - x).abs().max()) <= EPS + 1e-6


@pytest.mark.benchmark(group=GROUP)
def test_bench_hermes_apgd(benchmark, resnet_and_batch) -> None:
    model, x, y = resnet_and_batch
    attack = APGD(model, eps=EPS, steps=STEPS, generator=0)
    x_adv = benchmark.pedantic(attack, args=(x, y), rounds=3, warmup_rounds=1)
    assert float((x_adv - x).abs().max()) <= EPS + 1e-6
