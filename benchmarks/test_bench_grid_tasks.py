"""The grid on a K-class model against the same grid on a binary model of the same size
(goal: <= 1.1x).

Both models are ResNet-18 bodies at 32x32 with one head: 1 logit (binary) or 9 logits (PathMNIST's
classes). Attacks, defenses, batches and epsilons are the same, so the ratio measures what the
task adds: softmax scores, one-vs-rest macro and per-class AUROC, and the bootstrap of the macro
AUROC (which runs one weighted AUROC per class).

    pytest benchmarks/test_bench_grid_tasks.py --benchmark-group-by=group
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from benchmarks._inputs import random_images, seeded_resnet18
from hermes import evaluate_robustness
from hermes.attacks import FGSM, PGD
from hermes.defenses import GaussianSmoothing, MedianSmoothing

N, K = 128, 9


def _model(outputs: int) -> torch.nn.Module:
    return seeded_resnet18(outputs)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return random_images(N, 32)[0]


def grid(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    evaluate_robustness(
        model,
        (x, y),
        attacks={"FGSM": FGSM, "PGD": partial(PGD, steps=3)},
        epsilons=[0.01, 0.03],
        defenses={"Gaussian": GaussianSmoothing(3, 0.8), "Median": MedianSmoothing(3)},
        batch_size=64,
        bootstrap=200,
        progress=False,
    )


@pytest.mark.benchmark(group="grid-resnet18-32px-n128-binary-vs-9-class")
def test_bench_binary_grid(benchmark, images) -> None:
    y = torch.arange(N) % 2
    benchmark.pedantic(grid, args=(_model(1), images, y), rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="grid-resnet18-32px-n128-binary-vs-9-class")
def test_bench_hermes_multiclass_grid(benchmark, images) -> None:
    y = torch.arange(N) % K
    benchmark.pedantic(grid, args=(_model(K), images, y), rounds=3, warmup_rounds=1)
