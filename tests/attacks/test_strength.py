"""Attacks must actually hurt a trained classifier, more with more budget and more steps."""

from __future__ import annotations

import itertools

import torch

from hermes.attacks import FGSM, PGD


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_trained_classifier_is_accurate(trained_classifier) -> None:
    model, x, y = trained_classifier
    assert accuracy(model, x, y) >= 0.95


def test_accuracy_falls_with_eps_and_pgd_beats_fgsm(trained_classifier) -> None:
    model, x, y = trained_classifier
    epsilons = [0.02, 0.05, 0.1, 0.2]
    fgsm_acc = [accuracy(model, FGSM(model, e)(x, y), y) for e in epsilons]
    pgd_acc = [accuracy(model, PGD(model, e, steps=20, generator=0)(x, y), y) for e in epsilons]
    assert all(a >= b for a, b in itertools.pairwise(pgd_acc)), pgd_acc
    assert all(a >= b for a, b in itertools.pairwise(fgsm_acc)), fgsm_acc
    assert all(p <= f for p, f in zip(pgd_acc, fgsm_acc)), (pgd_acc, fgsm_acc)
    assert pgd_acc[-1] < 0.2 < accuracy(model, x, y)


def test_targeted_pgd_reaches_the_target(trained_classifier) -> None:
    model, x, y = trained_classifier
    target = 1 - y
    x_adv = PGD(model, 0.2, steps=20, targeted=True, generator=0)(x, target)
    assert accuracy(model, x_adv, target) > 0.9
