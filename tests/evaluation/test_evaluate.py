"""evaluate_robustness against hand computation, and its bookkeeping."""

from __future__ import annotations

import itertools
from functools import partial

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hermes.attacks import FGSM, PGD
from hermes.evaluation import evaluate_robustness
from hermes.models.scores import positive_class_scores
from tests.evaluation.conftest import Blur, NoisyDefense

EPS = [0.0, 0.02, 0.05]


def scores(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return positive_class_scores(model(x)).numpy()


def run(model, data, **kwargs):
    kwargs.setdefault("attacks", {"FGSM": FGSM})
    kwargs.setdefault("epsilons", EPS)
    kwargs.setdefault("defenses", {"Blur": Blur()})
    kwargs.setdefault("batch_size", 32)
    return evaluate_robustness(model, data, progress=False, **kwargs)


def test_clean_auroc_equals_sklearn_by_hand(classifier, test_set) -> None:
    x, y = test_set
    report = run(classifier, test_set)
    assert report.auroc["None", "FGSM", 0.0] == roc_auc_score(y.numpy(), scores(classifier, x))
    assert report.auroc["Blur", "FGSM", 0.0] == roc_auc_score(
        y.numpy(), scores(classifier, Blur()(x))
    )
    assert 0.75 < report.auroc["None", "FGSM", 0.0] < 1.0


def test_gray_box_grid_equals_crafting_each_cell_by_hand(classifier, test_set) -> None:
    x, y = test_set
    report = run(classifier, test_set)
    for eps in EPS[1:]:
        # crafted on the undefended model, batch by batch, then scored through each defense
        x_adv = torch.cat(
            [FGSM(classifier, eps)(x[i : i + 32], y[i : i + 32]) for i in range(0, 96, 32)]
        )
        for name, defense in {"None": nn.Identity(), "Blur": Blur()}.items():
            expected = roc_auc_score(y.numpy(), scores(classifier, defense(x_adv)))
            assert report.auroc[name, "FGSM", eps] == pytest.approx(expected, abs=1e-12)
            predicted = scores(classifier, defense(x_adv)) > 0.5
            assert report.accuracy[name, "FGSM", eps] == pytest.approx(
                np.mean(predicted == y.numpy().astype(bool))
            )


def test_pgd_auroc_decreases_with_eps(classifier, test_set) -> None:
    report = run(
        classifier,
        test_set,
        attacks={"PGD": partial(PGD, steps=10)},
        epsilons=[0, 0.01, 0.03, 0.1],
        defenses={},
    )
    curve = list(report.auroc["None", "PGD"].values())
    assert all(a > b for a, b in itertools.pairwise(curve)), curve
    assert curve[-1] < 0.1
    assert report.success_rate["None", "PGD", 0.1] > 0.8


def test_attacks_are_crafted_once_per_cell_and_batch(classifier, test_set) -> None:
    calls = []

    def counting_fgsm(model, eps):
        attack = FGSM(model, eps)

        def run_attack(x, y):
            calls.append(eps)
            return attack(x, y)

        return run_attack

    run(
        classifier,
        test_set,
        attacks={"A": counting_fgsm, "B": counting_fgsm},
        defenses={"Blur": Blur(), "Blur2": Blur(), "Noise": NoisyDefense()},
    )
    n_batches = 3
    assert len(calls) == 2 * (len(EPS) - 1) * n_batches


def test_same_call_same_grid_with_randomised_defense_and_attack(classifier, test_set) -> None:
    kwargs = dict(attacks={"PGD": partial(PGD, steps=3)}, defenses={"Noise": NoisyDefense()})
    first, second = run(classifier, test_set, **kwargs), run(classifier, test_set, **kwargs)
    assert first.auroc == second.auroc and first.accuracy == second.accuracy
    assert run(classifier, test_set, seed=1, **kwargs).auroc != first.auroc


def test_dataset_dataloader_and_tensors_agree(classifier, test_set) -> None:
    base = run(classifier, test_set)
    dataset = TensorDataset(*test_set)
    assert run(classifier, dataset).auroc == base.auroc
    assert run(classifier, DataLoader(dataset, batch_size=32)).auroc == base.auroc


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate(classifier, test_set) -> None:
    report = run(classifier, test_set, bootstrap=200)
    again = run(classifier, test_set, bootstrap=200)
    assert report.ci == again.ci
    for key, (low, high) in report.ci.items():
        assert low <= report.auroc[key] <= high
        assert high - low > 0.0


def test_timing_is_recorded_per_image(classifier, test_set) -> None:
    report = run(classifier, test_set)
    assert set(report.timing["defense"]) == {"None", "Blur"}
    assert all(t > 0 for t in report.timing["defense"].values())
    assert set(report.timing["attack"]["FGSM"]) == {"0.02", "0.05"}


class FailAfter(nn.Module):
    """Blur that raises after ``limit`` calls (the counter is not part of its state or repr)."""

    calls = 0
    limit = 10**9

    def forward(self, x):
        type(self).calls += 1
        if type(self).calls > type(self).limit:
            raise KeyboardInterrupt("simulated interruption")
        return Blur()(x)


def test_interrupted_run_resumes_to_the_uninterrupted_result(
    classifier, test_set, tmp_path
) -> None:
    kwargs = dict(attacks={"FGSM": FGSM, "PGD": partial(PGD, steps=2)}, defenses={"F": FailAfter()})
    uninterrupted = run(classifier, test_set, **kwargs)
    FailAfter.calls, FailAfter.limit = 0, 9  # dies inside the 4th (attack, eps) unit
    with pytest.raises(KeyboardInterrupt):
        run(classifier, test_set, cache_dir=tmp_path, **kwargs)
    assert len(list(tmp_path.glob("unit-*.pt"))) == 3
    FailAfter.calls, FailAfter.limit = 0, 10**9
    resumed = run(classifier, test_set, cache_dir=tmp_path, **kwargs)
    assert FailAfter.calls == 3 * 2  # only the two missing units ran (3 batches each)
    assert resumed.auroc == uninterrupted.auroc
    assert resumed.success_rate == uninterrupted.success_rate


def test_cache_fingerprints_models_with_scalar_buffers(test_set, tmp_path) -> None:
    # BatchNorm's num_batches_tracked is a 0-d int64 buffer.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(1))
    model(test_set[0][:2])
    first = run(model.eval(), test_set, cache_dir=tmp_path)
    assert run(model, test_set, cache_dir=tmp_path).auroc == first.auroc


def test_changed_arguments_are_detected_in_the_cache(classifier, test_set, tmp_path) -> None:
    run(classifier, test_set, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="changed: seed"):
        run(classifier, test_set, cache_dir=tmp_path, seed=3)
    with pytest.raises(ValueError, match="changed: defenses"):
        run(classifier, test_set, cache_dir=tmp_path, defenses={"Noise": NoisyDefense()})
    x, y = test_set
    with pytest.raises(ValueError, match="changed: data"):
        run(classifier, (x.flip(0), y.flip(0)), cache_dir=tmp_path)
    # Adding an epsilon reuses the finished units and computes only the new ones.
    more = run(classifier, test_set, cache_dir=tmp_path, epsilons=[*EPS, 0.1])
    assert more.epsilons == [0.0, 0.02, 0.05, 0.1]


class CountingModel(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threat_model": "white-box"}, ValueError, "threat_model must be one of 'gray-box'"),
        ({"epsilons": []}, ValueError, "epsilons must be a non-empty list"),
        ({"epsilons": [0.0, -0.01]}, ValueError, r"epsilons\[1\] must be >= 0"),
        (
            {"defenses": {"Blur": lambda x: x}},
            TypeError,
            r"defenses\['Blur'\] must be a torch.nn.Module",
        ),
        ({"defenses": {"None": Blur()}}, ValueError, "reserved name 'None'"),
        ({"attacks": {}}, ValueError, "attacks must be a non-empty mapping"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
        ({"bootstrap": -5}, ValueError, "bootstrap must be an integer >= 0"),
    ],
)
def test_bad_arguments_fail_before_any_work(classifier, test_set, kwargs, error, match) -> None:
    model = CountingModel(classifier)
    with pytest.raises(error, match=match):
        run(model, test_set, **kwargs)
    assert model.calls == 0


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ((torch.rand(4, 8, 8), torch.zeros(4, dtype=torch.long)), "data images must be a 4-D"),
        (
            (torch.rand(4, 3, 8, 8) + 1, torch.zeros(4, dtype=torch.long)),
            r"data images must have values in \[0, 1\]",
        ),
        ((torch.rand(4, 3, 8, 8), torch.zeros(5, dtype=torch.long)), "expected 4 labels, got 5"),
        (
            (torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 1])),
            "data labels must be class indices in 0..1 for a model with 1 output;",
        ),
        ((torch.rand(4, 3, 8, 8), torch.ones(4, 3)), "data labels hold 3 multi-label targets per sample but the model has 1 output"),
        ([1, 2, 3], "data must be a"),
    ],
)
def test_bad_data_fails_before_any_work(classifier, data, match) -> None:
    model = CountingModel(classifier)
    with pytest.raises((ValueError, TypeError), match=match):
        run(model, data)
    # at most one forward pass of one image: how the model's output width (the task) is read
    assert model.calls <= 1


def test_pcam_batched_reader_equals_dataloader(tmp_path) -> None:
    from hermes.data import PCam, make_synthetic_pcam

    make_synthetic_pcam(tmp_path, 4, 4, 40, seed=0)
    dataset = PCam(tmp_path, "test")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, 1))
    kwargs = dict(attacks={"FGSM": FGSM}, epsilons=[0.01], progress=False)
    direct = evaluate_robustness(model, dataset, batch_size=16, **kwargs)
    loader = evaluate_robustness(model, DataLoader(dataset, batch_size=16), **kwargs)
    assert direct.auroc == loader.auroc and direct.n_samples == 40
