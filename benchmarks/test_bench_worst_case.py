"""The adaptive worst case against the sum of its candidates (goal: <= 1.05x).

The parts are what the ensemble must do at least: craft the transfer image once, then for every
defense run the attack and APGD through each of its gradient modes, and push every candidate
through the defense once to score it. Nothing may be crafted twice (the transfer image is shared
by every defense), so the ratio measures the selection and the bookkeeping.

    pytest benchmarks/test_bench_worst_case.py --benchmark-group-by=group
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from benchmarks._inputs import random_images, seeded_resnet18
from hermes import evaluate_robustness
from hermes.attacks import PGD
from hermes.attacks.apgd import APGD
from hermes.defenses import JPEG, GaussianSmoothing
from hermes.evaluation import AdaptiveSettings

N, EPS, STEPS, APGD_STEPS = 32, 0.03, 3, 3
SETTINGS = AdaptiveSettings(apgd_steps=APGD_STEPS)


@pytest.fixture(scope="module")
def inputs():
    model = seeded_resnet18(1)
    x, _ = random_images(N, 64)
    y = torch.arange(N) % 2
    defenses = {"Gaussian": GaussianSmoothing(3, 0.8), "JPEG": JPEG(50)}
    return model, x, y, defenses


def candidates_by_hand(model, x, y, defenses) -> list[torch.Tensor]:
    """Every candidate crafted once and scored once; no selection, seeding or report."""
    x_transfer = PGD(model, EPS, steps=STEPS, generator=0)(x, y)
    scores = [torch.sigmoid(model(x)).view(-1), torch.sigmoid(model(x_transfer)).view(-1)]
    apgd = APGD(model, EPS, steps=APGD_STEPS, loss="margin", generator=0)(x, y)
    with torch.no_grad():
        scores.append(torch.sigmoid(model(apgd)).view(-1))
    for defense in defenses.values():
        target = nn.Sequential(defense, model)
        images = [x_transfer]
        for mode in type(defense).gradient_modes:
            defense.gradient = mode
            images.append(PGD(target, EPS, steps=STEPS, generator=0)(x, y))
            images.append(APGD(target, EPS, steps=APGD_STEPS, loss="margin", generator=0)(x, y))
        defense.gradient = type(defense).gradient_modes[0]
        with torch.no_grad():
            scores.append(torch.sigmoid(model(defense(x))).view(-1))
            scores += [torch.sigmoid(model(defense(image))).view(-1) for image in images]
    return scores


@pytest.mark.benchmark(group="adaptive-worst-case-resnet18-64px-n32")
def test_bench_candidates_by_hand(benchmark, inputs) -> None:
    model, x, y, defenses = inputs
    benchmark.pedantic(candidates_by_hand, args=(model, x, y, defenses), rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="adaptive-worst-case-resnet18-64px-n32")
def test_bench_hermes_worst_case(benchmark, inputs) -> None:
    model, x, y, defenses = inputs
    run = partial(
        evaluate_robustness,
        model,
        (x, y),
        attacks={"PGD": partial(PGD, steps=STEPS)},
        epsilons=[EPS],
        defenses=defenses,
        threat_model="adaptive",
        batch_size=N,
        progress=False,
        adaptive=SETTINGS,
    )
    report = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert sum(report.selection["JPEG", "PGD", EPS].values()) == N
