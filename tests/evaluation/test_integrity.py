"""The grid's numbers stay right in the corners: confident models, stateful defenses, and a cache
that must notice every change (a lambda's body, data past the first batch)."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import TensorDataset

from hermes.attacks import PGD
from hermes.evaluation import evaluate_robustness
from hermes.evaluation._cache import factory_identity
from tests.evaluation.conftest import binary_data

EPS = [0.05]


def linear(seed: int = 0, scale: float = 1.0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))
    with torch.no_grad():
        model[1].weight.mul_(scale)
    return model.eval()


def run(model, data, **kwargs):
    kwargs = {"attacks": {"PGD": lambda m, e: PGD(m, e, steps=2)}, "epsilons": EPS, **kwargs}
    return evaluate_robustness(model, data, batch_size=8, progress=False, **kwargs)


def test_confident_logits_do_not_tie_at_probability_one() -> None:
    x, y = binary_data(40, seed=2)
    model = linear(scale=60.0)
    with torch.no_grad():
        model[1].bias.add_(22.0 - model(x).mean())  # most logits now between 17 and 36
        logits = model(x).view(-1)
    assert (logits > 17).sum() >= 4  # float32 sigmoid is exactly 1.0 for these
    assert logits.abs().max() < 36  # float64 sigmoid still tells them apart
    report = run(model, (x, y))
    assert report.auroc["None", "PGD", 0.0] == pytest.approx(roc_auc_score(y, logits), abs=1e-12)


def test_defenses_are_scored_in_eval_mode_and_left_unchanged() -> None:
    x, y = binary_data(40, seed=2)
    torch.manual_seed(1)
    defense = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3), nn.Sigmoid())  # train mode
    with torch.no_grad():
        defense[1].running_mean.fill_(0.3)
    before = {k: v.clone() for k, v in defense.state_dict().items()}
    model = linear()
    report = run(model, (x, y), defenses={"Learned": defense})
    after = defense.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "evaluation changed the defense"
    assert defense.training and defense[1].training  # its own mode is given back
    with torch.no_grad():
        expected = roc_auc_score(y, model(defense.eval()(x)).view(-1))
    assert report.auroc["Learned", "PGD", 0.0] == pytest.approx(expected, abs=1e-12)


def test_a_changed_lambda_factory_reruns_its_cells(tmp_path) -> None:
    x, y = binary_data(40, seed=2)
    model = linear()
    weak = {"PGD": lambda m, e: PGD(m, e, steps=1, alpha=1e-4, random_start=False)}
    strong = {"PGD": lambda m, e: PGD(m, e, steps=5, random_start=False)}
    assert factory_identity(weak["PGD"]) != factory_identity(strong["PGD"])
    run(model, (x, y), attacks=weak, cache_dir=tmp_path)
    resumed = run(model, (x, y), attacks=strong, cache_dir=tmp_path)
    fresh = run(model, (x, y), attacks=strong)
    assert resumed.auroc == fresh.auroc


def test_closures_are_told_apart_by_what_they_captured() -> None:
    def make(steps: int):
        return lambda m, e: PGD(m, e, steps=steps)

    assert factory_identity(make(1)) != factory_identity(make(10))
    assert factory_identity(make(3)) == factory_identity(make(3))


def test_a_change_past_the_first_batch_is_caught_by_the_cache(tmp_path) -> None:
    x, y = binary_data(40, seed=2)
    model = linear()
    run(model, TensorDataset(x, y), cache_dir=tmp_path)
    flipped = y.clone()
    flipped[30:] = 1 - flipped[30:]  # the fourth and fifth batches of 8
    with pytest.raises(ValueError, match="changed: data"):
        run(model, TensorDataset(x, flipped), cache_dir=tmp_path)
