"""Certified accuracy and certified AUROC against brute force and sklearn on worst-case scores."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import roc_auc_score

from hermes.certify import certified_accuracy, certified_auroc
from hermes.errors import RangeError, ShapeError


def random_certificates(seed: int, n: int = 60):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    labels[:2] = torch.tensor([0, 1])
    classes = torch.randint(-1, 2, (n,), generator=g)
    radius = torch.rand(n, generator=g) * (classes >= 0)
    return classes, radius, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_certified_accuracy_equals_a_loop_over_images(seed: int) -> None:
    classes, radius, labels = random_certificates(seed)
    radii = [0.0, 0.1, 0.33, 0.5, 0.9]
    expected = [
        sum(
            1
            for c, rad, y in zip(classes.tolist(), radius.tolist(), labels.tolist())
            if c == y and rad >= r
        )
        / len(labels)
        for r in radii
    ]
    assert certified_accuracy(classes, radius, labels, radii).tolist() == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_certified_auroc_is_sklearns_auroc_of_the_worst_scores_the_certificates_allow(
    seed: int,
) -> None:
    classes, radius, labels = random_certificates(seed)
    radii = [0.0, 0.2, 0.6]
    bounds = certified_auroc(classes, radius, labels, radii)
    for r, bound in zip(radii, bounds.tolist()):
        sure = (classes == labels) & (radius >= r)
        # The attacker's best: a certified image sits just on its right side of 1/2, every other
        # image at the wrong extreme.
        worst = torch.where(labels == 1, torch.where(sure, 0.6, 0.0), torch.where(sure, 0.4, 1.0))
        assert bound == pytest.approx(roc_auc_score(labels.numpy(), worst.numpy()))
        # Any score consistent with the certificates ranks at least that well.
        g = torch.Generator().manual_seed(seed)
        for _ in range(5):
            free = torch.rand(len(labels), generator=g)
            scores = torch.where(sure, torch.where(labels == 1, 0.5 + free / 2, free / 2), free)
            assert roc_auc_score(labels.numpy(), scores.numpy()) >= bound - 1e-12


def test_curves_fall_with_the_radius_and_abstentions_never_count() -> None:
    classes, radius, labels = random_certificates(3)
    radii = [0.0, 0.25, 0.5, 0.75, 1.0]
    for curve in (certified_accuracy, certified_auroc):
        values = curve(classes, radius, labels, radii)
        assert bool((values[1:] <= values[:-1]).all())
    abstained = torch.full_like(classes, -1)
    assert certified_accuracy(abstained, radius * 0, abstained, [0.0]).item() == 0.0


def test_bad_inputs_name_the_argument() -> None:
    classes, radius, labels = random_certificates(0, n=6)
    with pytest.raises(ShapeError, match="labels"):
        certified_accuracy(classes, radius, labels[:3], [0.0])
    with pytest.raises(ShapeError, match="radius must be a 1-D tensor"):
        certified_accuracy(classes, radius[None], labels, [0.0])
    with pytest.raises(RangeError, match="radius must be >= 0"):
        certified_accuracy(classes, -radius - 1, labels, [0.0])
    with pytest.raises(ValueError, match=r"radii\[1\]"):
        certified_accuracy(classes, radius, labels, [0.0, -1.0])
    with pytest.raises(ValueError, match="radii must be a non-empty"):
        certified_accuracy(classes, radius, labels, [])
    with pytest.raises(RangeError, match="labels must be 0 or 1"):
        certified_auroc(classes, radius, labels + 1, [0.0])
    with pytest.raises(RangeError, match="both classes"):
        certified_auroc(classes, radius, torch.ones_like(labels), [0.0])
