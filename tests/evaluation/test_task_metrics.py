"""AUROC per class and accuracy per task, against references hermes does not call.

hermes computes each class's AUROC with sklearn, so sklearn cannot be the only reference: every
AUROC here is also checked against the Mann-Whitney U statistic written out below in numpy (ranks
of the pooled scores, ties given their average rank), and the multi-class and multi-label results
against ``roc_auc_score(multi_class="ovr")`` and ``average=None`` as the issue asks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from hermes.errors import RangeError, ShapeError
from hermes.evaluation.task_metrics import accuracy, auroc_per_class
from hermes.tasks import task_scores


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    sorted_values = values[order]
    start = 0
    while start < values.size:
        end = start
        while end + 1 < values.size and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1  # mean of ranks start+1..end+1
        start = end + 1
    return ranks


def mann_whitney_auroc(positive: np.ndarray, scores: np.ndarray) -> float:
    """AUROC as U / (n_pos * n_neg), U from the rank sum of the positives."""
    positive = np.asarray(positive).astype(bool)
    ranks = average_ranks(np.asarray(scores, dtype=np.float64))
    n_pos, n_neg = positive.sum(), (~positive).sum()
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def test_the_reference_itself_on_a_hand_count() -> None:
    # pairs (pos, neg): (.35,.1) 1, (.35,.4) 0, (.8,.1) 1, (.8,.4) 1, and a tie: (.4 pos, .4 neg) 1/2
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    assert mann_whitney_auroc(labels, scores) == pytest.approx((1 + 0 + 1 + 1 + 1 + 0.5) / 6)


def random_probabilities(n: int, k: int, seed: int, ties: bool) -> np.ndarray:
    """``(n, k)`` rows summing to 1; with ``ties``, drawn from a coarse grid so columns tie often."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 4, size=(n, k)).astype(np.float64) if ties else rng.random((n, k))
    return weights / weights.sum(axis=1, keepdims=True)


def multiclass_labels(n: int, k: int, seed: int) -> np.ndarray:
    """``(n,)`` class indices in which every class occurs."""
    rng = np.random.default_rng(seed + 100)
    labels = rng.integers(0, k, size=n)
    labels[:k] = np.arange(k)
    return labels


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_auroc_is_the_mann_whitney_statistic(seed, ties) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=25)
    labels[:2] = [0, 1]
    scores = rng.integers(0, 5, size=25) / 4 if ties else rng.random(25)
    result = auroc_per_class(labels, scores, "binary")
    expected = mann_whitney_auroc(labels, scores)
    assert result["macro"] == pytest.approx(expected, abs=1e-12)
    assert result["per_class"] == [result["macro"]]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("n", "k", "seed"), [(12, 3, 0), (30, 4, 1), (40, 6, 2)])
def test_multiclass_auroc_is_one_vs_rest(n, k, seed, ties) -> None:
    labels = multiclass_labels(n, k, seed)
    scores = random_probabilities(n, k, seed, ties)
    if ties:
        assert any(np.unique(scores[:, c]).size < n for c in range(k))  # the case has ties
    result = auroc_per_class(labels, scores, "multiclass")
    expected = [mann_whitney_auroc(labels == c, scores[:, c]) for c in range(k)]
    np.testing.assert_allclose(result["per_class"], expected, rtol=0, atol=1e-12)
    assert result["macro"] == pytest.approx(np.mean(expected), abs=1e-12)
    assert result["macro"] == pytest.approx(
        roc_auc_score(labels, scores, multi_class="ovr", average="macro"), abs=1e-12
    )


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("n", "k", "seed"), [(10, 2, 0), (30, 5, 1), (50, 14, 2)])
def test_multilabel_auroc_is_per_label(n, k, seed, ties) -> None:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, k)) > 0.6).astype(np.float32)
    labels[0], labels[1] = 0, 1  # every label has both values
    scores = rng.integers(0, 4, size=(n, k)) / 3 if ties else rng.random((n, k))
    result = auroc_per_class(labels, scores, "multilabel")
    expected = [mann_whitney_auroc(labels[:, c], scores[:, c]) for c in range(k)]
    np.testing.assert_allclose(result["per_class"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        result["per_class"], roc_auc_score(labels, scores, average=None), rtol=0, atol=1e-12
    )
    assert result["macro"] == pytest.approx(np.mean(expected), abs=1e-12)
    assert result["macro"] == pytest.approx(roc_auc_score(labels, scores, average="macro"))


def test_takes_the_tensors_task_scores_returns() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 3, generator=g)
    labels = torch.tensor(multiclass_labels(20, 3, 0))
    from_tensors = auroc_per_class(labels, task_scores(logits, "multiclass"), "multiclass")
    probabilities = torch.softmax(logits.double(), dim=1).numpy()
    assert from_tensors == auroc_per_class(labels.numpy(), probabilities, "multiclass")
    binary = auroc_per_class(labels.clamp(max=1), task_scores(logits[:, :2], "binary"), "binary")
    assert binary["macro"] == pytest.approx(
        mann_whitney_auroc(labels.clamp(max=1).numpy(), (logits[:, 1] - logits[:, 0]).numpy())
    )


def test_a_class_without_both_label_values_is_nan_and_named() -> None:
    labels = np.array([0, 0, 2, 2, 0])  # class 1 never occurs
    scores = random_probabilities(5, 3, 0, ties=False)
    with pytest.warns(RuntimeWarning, match=r"class\(es\) \[1\]"):
        result = auroc_per_class(labels, scores, "multiclass")
    assert np.isnan(result["per_class"][1]) and np.isnan(result["macro"])
    assert result["per_class"][0] == pytest.approx(mann_whitney_auroc(labels == 0, scores[:, 0]))
    multilabel = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 0]])
    with pytest.warns(RuntimeWarning, match=r"class\(es\) \[1, 2\]"):
        result = auroc_per_class(multilabel, scores[:3], "multilabel")
    assert np.isnan(result["per_class"][1:]).all() and np.isnan(result["macro"])
    with pytest.warns(RuntimeWarning, match="only one label value"):
        assert np.isnan(auroc_per_class(np.ones(4), np.linspace(0, 1, 4), "binary")["macro"])


def test_accuracy_per_task_by_hand() -> None:
    assert accuracy(np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.2, 0.1]), "binary") == 0.5 + 0.25
    scores = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.7, 0.2, 0.1]])
    assert accuracy(np.array([0, 1, 2, 1]), scores, "multiclass") == 0.75
    # per-label (Hamming) accuracy: the mean over (sample, label) pairs, threshold 0.5 exclusive
    labels = np.array([[1, 0, 1], [0, 0, 1]])
    probabilities = np.array([[0.9, 0.5, 0.4], [0.6, 0.1, 0.51]])
    hits = [[1, 1, 0], [0, 1, 1]]
    assert accuracy(labels, probabilities, "multilabel") == pytest.approx(np.mean(hits))
    hits_at_03 = [[1, 0, 1], [0, 1, 1]]  # predictions [[1, 1, 1], [1, 0, 1]]
    assert accuracy(labels, probabilities, "multilabel", threshold=0.3) == pytest.approx(
        np.mean(hits_at_03)
    )
    assert np.isnan(accuracy(np.zeros((0, 3)), np.zeros((0, 3)), "multilabel"))


def test_bad_input_is_refused_with_the_arguments_name() -> None:
    scores = random_probabilities(4, 3, 0, ties=False)
    with pytest.raises(RangeError, match=r"labels must be class indices in 0\.\.2"):
        auroc_per_class(np.array([0, 1, 3, 1]), scores, "multiclass")
    with pytest.raises(ShapeError, match="same number of samples"):
        auroc_per_class(np.array([0, 1, 2]), scores, "multiclass")
    with pytest.raises(ShapeError, match=r"labels must be \(N,\) class indices"):
        auroc_per_class(np.zeros((4, 3)), scores, "multiclass")
    with pytest.raises(ShapeError, match=r"labels must be \(N, K\) like scores"):
        auroc_per_class(np.zeros((4, 2)), scores, "multilabel")
    with pytest.raises(RangeError, match="multi-label targets 0 or 1"):
        accuracy(np.full((4, 3), 2), scores, "multilabel")
    with pytest.raises(ShapeError, match="task='binary' needs"):
        auroc_per_class(np.array([0, 1, 1, 0]), scores, "binary")
    with pytest.raises(RangeError, match="labels must be 0 or 1 for task='binary'"):
        auroc_per_class(np.array([0, 1, 2, 0]), scores[:, 0], "binary")
    with pytest.raises(RangeError, match="scores must be finite"):
        auroc_per_class(np.array([0, 1, 1, 0]), np.array([0.1, np.nan, 0.2, 0.3]), "binary")
    with pytest.raises(ValueError, match="did you mean 'multiclass'"):
        accuracy(np.array([0, 1, 2, 1]), scores, "multi_class")
