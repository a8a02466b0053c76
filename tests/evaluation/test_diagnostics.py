"""Sanity diagnostics (Carlini et al. 2019): each fires on a grid built to fail it, names its
cell, and stays quiet where the evaluation is sound."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from hermes.attacks import PGD, Square
from hermes.defenses import GaussianSmoothing
from hermes.evaluation import AdaptiveSettings, Diagnostic, RobustnessReport, evaluate_robustness
from hermes.evaluation.diagnostics import find_diagnostics
from hermes.evaluation.metric_grid import MetricGrid
from tests.evaluation.conftest import binary_data, train_small_cnn

GRAY = {"attack": "PGD", "threat_model": "gray-box", "gradient_free": False}


def checks(found: list[Diagnostic]) -> list[tuple[str, str, str, float]]:
    return [(d.check, d.defense, d.attack, d.epsilon) for d in found]


def test_auroc_rising_with_eps_is_flagged_at_the_larger_budget() -> None:
    cells = {("TVM", "PGD", 0.0): 0.98, ("TVM", "PGD", 0.01): 0.3, ("TVM", "PGD", 0.02): 0.35}
    assert checks(find_diagnostics(cells, {"PGD": GRAY})) == [
        ("rises-with-eps", "TVM", "PGD", 0.02)
    ]
    cells[("TVM", "PGD", 0.02)] = 0.305  # within the noise tolerance
    assert find_diagnostics(cells, {"PGD": GRAY}) == []


def test_gradient_free_beating_every_gradient_attack_is_masking() -> None:
    columns = {
        "PGD": {"attack": "PGD", "threat_model": "adaptive", "gradient_free": False},
        "FGSM": {"attack": "FGSM", "threat_model": "adaptive", "gradient_free": False},
        "Square": {"attack": "Square", "threat_model": "adaptive", "gradient_free": True},
    }
    cells = {}
    for column, value in {"PGD": 0.5, "FGSM": 0.6, "Square": 0.2}.items():
        cells[("JPEG", column, 0.0)] = 0.9
        cells[("JPEG", column, 0.05)] = value
    assert checks(find_diagnostics(cells, columns)) == [
        ("gradient-masking", "JPEG", "Square", 0.05)
    ]
    cells[("JPEG", "PGD", 0.05)] = 0.19  # one gradient attack does as well: no masking
    assert find_diagnostics(cells, columns) == []


def test_adaptive_above_gray_box_or_a_candidate_is_flagged() -> None:
    columns = {
        "PGD": GRAY,
        "PGD [adaptive]": {"attack": "PGD", "threat_model": "adaptive", "gradient_free": False},
    }
    cells = {
        ("TVM", "PGD", 0.0): 0.98,
        ("TVM", "PGD [adaptive]", 0.0): 0.98,
        ("TVM", "PGD", 0.03): 0.87,
        ("TVM", "PGD [adaptive]", 0.03): 0.97,
    }
    found = find_diagnostics(cells, columns)
    assert checks(found) == [("adaptive-weaker", "TVM", "PGD [adaptive]", 0.03)]
    assert "gray-box PGD's 0.870" in found[0].message
    cells[("TVM", "PGD [adaptive]", 0.03)] = 0.80
    candidates = {("TVM", "PGD [adaptive]", 0.03): {"PGD/unrolled": 0.5}}
    found = find_diagnostics(cells, columns, candidate_auroc=candidates)
    assert checks(found) == [("adaptive-weaker", "TVM", "PGD [adaptive]", 0.03)]
    assert "PGD/unrolled" in found[0].message


def test_sanity_probe_that_leaves_auroc_up_is_flagged() -> None:
    cells = {("None", "PGD", 0.0): 0.9, ("None", "PGD", 0.01): 0.5}
    found = find_diagnostics(cells, {"PGD": GRAY}, sanity={("None", "PGD"): 0.4}, sanity_eps=0.5)
    assert checks(found) == [("sanity-eps", "None", "PGD", 0.5)]
    # a gray-box image scored through a defense it never saw may rightly survive the probe
    through_defense = {("TVM", "PGD"): 0.9}
    assert find_diagnostics(cells, {"PGD": GRAY}, sanity=through_defense, sanity_eps=0.5) == []
    adaptive = {"PGD": {**GRAY, "threat_model": "adaptive"}}
    found = find_diagnostics(cells, adaptive, sanity=through_defense, sanity_eps=0.5)
    assert checks(found) == [("sanity-eps", "TVM", "PGD", 0.5)]
    assert (
        find_diagnostics(cells, {"PGD": GRAY}, sanity={("None", "PGD"): 0.0}, sanity_eps=0.5) == []
    )


def weak_through_defenses(model: nn.Module, eps: float):
    """PGD on the bare model, but nothing at all when the target has a defense in front: the
    kind of broken adaptive attack the diagnostics exist to catch."""
    if isinstance(model, nn.Sequential) and len(model) == 2:
        return lambda x, y: x.clone()
    return PGD(model, eps, steps=5)


@pytest.fixture(scope="module")
def small_model() -> nn.Module:
    return train_small_cnn(*binary_data(256, seed=1))


def run(model, **kwargs) -> RobustnessReport:
    options = {
        "epsilons": [0.05],
        "defenses": {"Gaussian": GaussianSmoothing(3, 0.8)},
        "threat_model": "both",
        "batch_size": 64,
        "progress": False,
    }
    return evaluate_robustness(model, binary_data(64, seed=2), **{**options, **kwargs})


def test_a_broken_single_mode_attack_fires_and_the_ensemble_is_quiet(small_model) -> None:
    pinned = AdaptiveSettings(gradient_modes="configured", transfer=False, apgd_steps=None)
    broken = run(small_model, attacks={"W": weak_through_defenses}, adaptive=pinned)
    assert ("adaptive-weaker", "Gaussian", "W [adaptive]", 0.05) in checks(broken.diagnostics)
    assert "Sanity checks that failed" in broken.table()
    assert "[adaptive-weaker] Gaussian / W [adaptive] / ε=0.05" in broken.table()

    ensemble = run(small_model, attacks={"W": weak_through_defenses})
    assert [d for d in ensemble.diagnostics if d.check == "adaptive-weaker"] == []
    assert "Sanity checks" not in ensemble.table()


def test_grid_diagnostics_for_rising_auroc_and_the_probe(small_model) -> None:
    shrinking = partial(PGD, steps=5)

    def weaker_with_budget(model, eps):
        return shrinking(model, max(0.0, 0.06 - eps))  # a bug that spends less as eps grows

    report = run(
        small_model,
        attacks={"Bug": weaker_with_budget},
        epsilons=[0.01, 0.05],
        defenses={},
        threat_model="gray-box",
        sanity_eps=0.06,
    )
    found = checks(report.diagnostics)
    assert ("rises-with-eps", "None", "Bug", 0.05) in found
    assert ("sanity-eps", "None", "Bug", 0.06) in found
    assert RobustnessReport.from_json(report.to_json()).diagnostics == report.diagnostics


def test_report_equality_ignores_timing_and_compare_checks_samples() -> None:
    cells = {("None", "PGD", 0.0): 0.9, ("None", "PGD", 0.01): 0.4}
    a = RobustnessReport(auroc=MetricGrid("auroc", cells), n_samples=10, timing={"x": 1})
    b = RobustnessReport(auroc=MetricGrid("auroc", cells), n_samples=10, timing={"x": 2})
    assert a == b
    assert a.compare(b).auroc["None", "PGD", 0.01] == 0.0
    other_threat = RobustnessReport(
        auroc=MetricGrid("auroc", cells), n_samples=10, threat_model="adaptive"
    )
    with pytest.raises(ValueError, match="threat_model 'gray-box' vs 'adaptive'"):
        a.compare(other_threat)
    fewer = RobustnessReport(auroc=MetricGrid("auroc", cells), n_samples=8)
    with pytest.raises(ValueError, match="n_samples 10 vs 8"):
        a.compare(fewer)
    c = RobustnessReport(auroc=MetricGrid("auroc", cells), n_samples=2, labels=np.array([0, 1]))
    d = RobustnessReport(auroc=MetricGrid("auroc", cells), n_samples=2, labels=np.array([1, 0]))
    with pytest.raises(ValueError, match="labels differ"):
        c.compare(d)


class Quantize(nn.Module):
    """Rounds pixels to 5 levels: autograd gives a zero gradient almost everywhere (masking)."""

    def forward(self, x):
        return torch.round(x * 4) / 4


def test_square_beating_masked_gradients_fires_in_a_real_grid(small_model) -> None:
    masked = nn.Sequential(Quantize(), small_model).eval()
    report = run(
        masked,
        attacks={"PGD": partial(PGD, steps=5), "Square": partial(Square, queries=200)},
        epsilons=[0.15],
        defenses={},
        threat_model="gray-box",
    )
    assert report.metadata["columns"]["Square"]["gradient_free"]
    assert report.auroc["None", "Square", 0.15] < report.auroc["None", "PGD", 0.15]
    assert ("gradient-masking", "None", "Square", 0.15) in checks(report.diagnostics)
    unmasked = run(
        small_model,
        attacks={"PGD": partial(PGD, steps=5), "Square": partial(Square, queries=200)},
        epsilons=[0.15],
        defenses={},
        threat_model="gray-box",
    )
    assert [d for d in unmasked.diagnostics if d.check == "gradient-masking"] == []
