"""Adaptive (BPDA/EOT) evaluation against the four defenses, next to the gray-box one."""

from __future__ import annotations

from collections import Counter
from functools import partial

import pytest
import torch
from torch import nn

from hermes.attacks import PGD
from hermes.defenses import JPEG, TVM, GaussianSmoothing, MedianSmoothing
from hermes.evaluation import AdaptiveSettings, evaluate_robustness
from tests.evaluation.conftest import train_small_cnn

EPS = 0.05


def patches(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """3x16x16 images with a darker centre for positives (overlapping classes)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.3 + 0.4 * torch.rand(n, 3, 16, 16, generator=g)
    x[:, :, 4:12, 4:12] += (0.08 * torch.randn(n, generator=g) - 0.15 * y).view(-1, 1, 1, 1)
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def both_report():
    model = train_small_cnn(*patches(512, seed=1))
    defenses = {
        "Gaussian": GaussianSmoothing(3, 0.8),
        "Median": MedianSmoothing(3),
        "JPEG": JPEG(50),
        "TVM": TVM(keep_prob=0.5, lamb=0.05, steps=10, gradient="unrolled"),
    }
    return evaluate_robustness(
        model.eval(),
        patches(128, seed=2),
        attacks={"PGD": partial(PGD, steps=10, eot_samples=2)},
        epsilons=[EPS],
        defenses=defenses,
        threat_model="both",
        batch_size=64,
        progress=False,
        adaptive=AdaptiveSettings(eot_samples=2, selection_draws=2, apgd_steps=10),
    )


def test_both_report_has_gray_box_and_adaptive_columns(both_report) -> None:
    assert both_report.attacks == ["PGD", "PGD [adaptive]"]
    clean = both_report.auroc["JPEG", "PGD", 0.0]
    assert both_report.auroc["JPEG", "PGD [adaptive]", 0.0] == clean
    # With no defense, the adaptive attack is the gray-box attack.
    assert both_report.auroc["None", "PGD [adaptive]", EPS] == both_report.auroc["None", "PGD", EPS]
    assert "PGD [adaptive] ε=0.05" in both_report.table()


@pytest.mark.parametrize("defense", ["Gaussian", "Median", "JPEG", "TVM"])
def test_adaptive_pgd_is_at_least_as_strong_as_gray_box(both_report, defense) -> None:
    gap = both_report.threat_model_gap()[defense, "PGD", EPS]
    assert gap <= 0.0, gap
    if defense in ("JPEG", "Median", "TVM"):  # TVM attacked through its unrolled solver
        assert gap < -0.005, gap


@pytest.mark.parametrize("threat_model", ["adaptive", "both"])
def test_each_image_is_crafted_once(threat_model) -> None:
    """The transfer image is crafted once per batch and shared by the gray-box columns and every
    defense's worst case; each defense adds one attack per gradient mode, nothing more."""
    calls = []

    def counting(model, eps):
        attack = PGD(model, eps, steps=1)

        def run(x, y):
            calls.append(type(model[0]).__name__)  # what the attack differentiates first
            return attack(x, y)

        return run

    x, y = patches(40, seed=3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1))
    report = evaluate_robustness(
        model,
        (x, y),
        attacks={"A": counting},
        epsilons=[0.01, 0.02],
        defenses={"G": GaussianSmoothing(), "J": JPEG()},
        threat_model=threat_model,
        batch_size=20,
        progress=False,
    )
    # 2 epsilons x 2 batches: one transfer image each, then 2 gradient modes for each defense
    # (the baseline's only candidate is the transfer image; a plain function gets no APGD twin)
    assert Counter(calls) == {"Flatten": 4, "GaussianSmoothing": 8, "JPEG": 8}
    column = "A [adaptive]" if threat_model == "both" else "A"
    assert report.selection["G", column, 0.01].keys() == {"transfer", "A/exact", "A/identity"}
    assert report.selection["J", column, 0.02].keys() == {"transfer", "A/surrogate", "A/identity"}
    assert report.selection["None", column, 0.02] == {"transfer": 40}


def test_gap_needs_a_both_report(both_report) -> None:
    x, y = patches(20, seed=4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1))
    gray = evaluate_robustness(model, (x, y), attacks={"PGD": PGD}, epsilons=[0.01], progress=False)
    with pytest.raises(ValueError, match="needs a report made with threat_model='both'"):
        gray.threat_model_gap()
