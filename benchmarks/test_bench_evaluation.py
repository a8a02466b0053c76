"""A whole evaluate_robustness grid against the sum of its parts (goal: <= 1.15x).

The parts are what a user would write by hand for the same gray-box grid: craft each (attack,
epsilon) once per batch on the undefended model, push it through every defense, score it, and
compute AUROC with sklearn. The ratio measures the grid's bookkeeping: validation, seeding,
timing, progress, metrics and the report.

    pytest benchmarks/test_bench_evaluation.py --benchmark-group-by=group
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from benchmarks._inputs import random_images, seeded_resnet18
from hermes import evaluate_robustness
from hermes.attacks import FGSM, PGD
from hermes.defenses import JPEG, GaussianSmoothing, MedianSmoothing

N, BATCH, EPSILONS = 64, 32, [0.0, 0.01, 0.03]


@pytest.fixture(scope="module")
def grid_inputs():
    model = seeded_resnet18(1)
    x, _ = random_images(N, 96)
    y = torch.arange(N) % 2
    attacks = {"FGSM": FGSM, "PGD": partial(PGD, steps=3, random_start=False)}
    defenses = {
        "Gaussian": GaussianSmoothing(3, 0.8),
        "Median": MedianSmoothing(3),
        "JPEG": JPEG(50),
    }
    return model, x, y, attacks, defenses


def by_hand(model, x, y, attacks, defenses) -> dict:
    """The same grid written directly: no validation, seeding, caching or report."""
    chain = {"None": nn.Identity(), **defenses}
    results = {}
    units = [(None, 0.0)] + [(a, e) for a in attacks for e in EPSILONS if e > 0]
    for attack_name, eps in units:
        scores = {d: [] for d in chain}
        attack = attacks[attack_name](model, eps) if attack_name else None
        for start in range(0, N, BATCH):
            xb, yb = x[start : start + BATCH], y[start : start + BATCH]
            if attack is not None:
                xb = attack(xb, yb)
            with torch.no_grad():
                for d, defense in chain.items():
                    scores[d].append(torch.sigmoid(model(defense(xb))).view(-1))
        for d in chain:
            results[(d, attack_name, eps)] = roc_auc_score(y.numpy(), torch.cat(scores[d]).numpy())
    return results


@pytest.mark.benchmark(group="grid-resnet18-64img-2attacks-2eps-4defenses")
def test_bench_grid_by_hand(benchmark, grid_inputs) -> None:
    benchmark.pedantic(by_hand, args=grid_inputs, rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="grid-resnet18-64img-2attacks-2eps-4defenses")
def test_bench_hermes_evaluate_robustness(benchmark, grid_inputs) -> None:
    model, x, y, attacks, defenses = grid_inputs

    def grid():
        return evaluate_robustness(
            model,
            (x, y),
            attacks=attacks,
            epsilons=EPSILONS,
            defenses=defenses,
            batch_size=BATCH,
            progress=False,
        )

    report = benchmark.pedantic(grid, rounds=3, warmup_rounds=1)
    expected = by_hand(*grid_inputs)
    assert report.auroc["JPEG", "PGD", 0.03] == pytest.approx(expected[("JPEG", "PGD", 0.03)])
