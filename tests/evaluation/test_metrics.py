"""Metrics against independent references, and the timing bookkeeping against a controlled clock.

hermes computes AUROC with sklearn, so sklearn cannot be the reference for ``auroc``: these tests
count concordant pairs directly (the Mann-Whitney definition: the probability that a positive
outscores a negative, ties counting one half). ``weighted_auroc`` is hermes' own vectorised code,
so there sklearn (``roc_auc_score(sample_weight=...)``) is an independent reference, and so is
the pair count with weights.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from hermes.evaluation import evaluate_robustness
from hermes.evaluation.metrics import auroc, bootstrap_counts, bootstrap_interval, weighted_auroc
from hermes.models.scores import positive_class_scores
from tests.evaluation.conftest import Blur


def pair_count_auroc(labels, scores, weights=None) -> float:
    """Weighted fraction of (positive, negative) pairs ordered correctly, ties counting 1/2."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    weights = np.ones(labels.size) if weights is None else np.asarray(weights, dtype=np.float64)
    pos, neg = labels == 1, labels == 0
    total = 0.0
    for i in np.flatnonzero(pos):
        for j in np.flatnonzero(neg):
            order = 1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
            total += weights[i] * weights[j] * order
    return total / (weights[pos].sum() * weights[neg].sum())


def tied_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores with many ties (scores on a coarse grid), both classes present."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2] = (0, 1)
    scores = np.round(rng.random(n) * 0.6 + 0.3 * labels, 1)
    return labels, scores


@pytest.mark.parametrize("seed", range(4))
def test_auroc_equals_the_pair_count(seed: int) -> None:
    labels, scores = tied_sample(40, seed)
    assert auroc(labels, scores) == pytest.approx(pair_count_auroc(labels, scores), abs=1e-12)


def test_auroc_of_hand_made_cases() -> None:
    assert auroc([0, 1], [0.2, 0.9]) == 1.0
    assert auroc([0, 1], [0.9, 0.2]) == 0.0
    assert auroc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5  # all tied
    # 3 positives x 2 negatives: pairs (0.8>0.3, 0.8>0.6, 0.6>0.3, 0.6=0.6, 0.1<both) = 3.5 / 6
    assert auroc([1, 1, 1, 0, 0], [0.8, 0.6, 0.1, 0.3, 0.6]) == pytest.approx(3.5 / 6)
    with pytest.warns(RuntimeWarning, match="single class"):
        assert np.isnan(auroc([1, 1, 1], [0.1, 0.2, 0.3]))


@pytest.mark.parametrize("seed", range(3))
def test_weighted_auroc_equals_sklearn_with_sample_weight(seed: int) -> None:
    labels, scores = tied_sample(60, seed)
    counts = bootstrap_counts(labels.size, 25, seed)
    counts[0] = np.random.default_rng(seed).random(labels.size)  # non-integer weights too
    values = weighted_auroc(labels, scores, counts)
    assert values.shape == (25,)
    for r in range(25):
        expected = roc_auc_score(labels, scores, sample_weight=counts[r])
        assert values[r] == pytest.approx(expected, abs=1e-12)
    for r in (0, 1, 2):
        assert values[r] == pytest.approx(pair_count_auroc(labels, scores, counts[r]), abs=1e-12)


def test_weighted_auroc_with_unit_weights_is_the_auroc_and_one_class_is_nan() -> None:
    labels, scores = tied_sample(30, 7)
    assert weighted_auroc(labels, scores, np.ones(30))[0] == pytest.approx(auroc(labels, scores))
    only_negatives = (labels == 0).astype(float)  # a weighting that drops every positive
    assert np.isnan(weighted_auroc(labels, scores, only_negatives)[0])


def test_bootstrap_interval_holds_the_resampled_aurocs() -> None:
    labels, scores = tied_sample(80, 3)
    counts = bootstrap_counts(80, 400, seed=0)
    assert counts.sum(axis=1).tolist() == [80.0] * 400
    low, high = bootstrap_interval(labels, scores, counts, level=0.9)
    values = np.array([pair_count_auroc(labels, scores, c) for c in counts[:40]])
    assert low < auroc(labels, scores) < high
    assert low <= np.median(values) <= high
    assert (bootstrap_interval(labels, scores, counts, level=0.9)) == (low, high)  # same counts


def test_report_auroc_equals_the_pair_count(classifier, test_set) -> None:
    x, y = test_set
    report = evaluate_robustness(
        classifier,
        test_set,
        attacks={"noop": lambda model, eps: lambda images, labels: images},
        epsilons=[0.0],
        defenses={"Blur": Blur()},
        progress=False,
    )
    for name, defense in {"None": nn.Identity(), "Blur": Blur()}.items():
        with torch.no_grad():
            scores = positive_class_scores(classifier(defense(x)).double()).numpy()
        expected = pair_count_auroc(y.numpy(), scores)
        assert report.auroc[name, "noop", 0.0] == pytest.approx(expected, abs=1e-12)


# --- timing --------------------------------------------------------------------------------------


class Clock:
    """A stand-in for ``time.perf_counter`` that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowDefense(nn.Module):
    """The identity, costing ``seconds`` of the clock per image."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.seconds * x.shape[0]
        return x


def slow_attack(clock: Clock, seconds: float):
    """A factory of attacks that change nothing and cost ``seconds`` per image."""

    def factory(model: nn.Module, eps: float):
        def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            clock.now += seconds * x.shape[0]
            return x

        return attack

    return factory


@pytest.mark.parametrize("batch_size", [96, 32])  # one batch, and three
def test_timing_is_seconds_per_image_of_each_defense_and_attack(
    classifier, test_set, monkeypatch, batch_size: int
) -> None:
    # Every timed span costs a known, exact amount of a fake clock, so the report must show
    # exactly that per image: a change in what is timed, or in how it is divided (by batches,
    # by passes, by images), shows up as a different number.
    clock = Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    report = evaluate_robustness(
        classifier,
        test_set,
        attacks={"Slow": slow_attack(clock, 2.0), "Slower": slow_attack(clock, 5.0)},
        epsilons=[0.0, 0.02, 0.05],
        defenses={"Fast": SlowDefense(clock, 0.25), "Heavy": SlowDefense(clock, 3.0)},
        batch_size=batch_size,
        progress=False,
    )
    assert report.timing["defense"] == {"None": 0.0, "Fast": 0.25, "Heavy": 3.0}
    assert report.timing["attack"] == {
        "Slow": {"0.02": 2.0, "0.05": 2.0},
        "Slower": {"0.02": 5.0, "0.05": 5.0},
    }
