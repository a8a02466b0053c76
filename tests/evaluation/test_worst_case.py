"""The adaptive threat model's per-example worst case: never weaker than any of its candidates
(the gray-box transfer image and every gradient mode included), and what it records."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from hermes.attacks import PGD
from hermes.defenses import JPEG, TVM, GaussianSmoothing, MedianSmoothing
from hermes.evaluation import AdaptiveSettings, evaluate_robustness
from tests.evaluation.conftest import train_small_cnn
from tests.evaluation.test_adaptive import patches

EPS = 0.05
LARGE_EPS = 0.15
FAST = {"eot_samples": 2, "selection_draws": 2, "apgd_steps": 10}
RANDOMISED = {"TVM"}


def make_defenses() -> dict[str, torch.nn.Module]:
    return {
        "Gaussian": GaussianSmoothing(3, 0.8),
        "Median": MedianSmoothing(3),
        "JPEG": JPEG(50),
        "TVM": TVM(keep_prob=0.5, lamb=0.05, steps=8),
    }


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return train_small_cnn(*patches(512, seed=1))


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return patches(96, seed=2)


def evaluate(model, data, settings: AdaptiveSettings, **kwargs):
    options = {
        "attacks": {"PGD": partial(PGD, steps=5)},
        "epsilons": [EPS],
        "defenses": make_defenses(),
        "threat_model": "both",
        "batch_size": 96,
        "progress": False,
        "adaptive": settings,
        **kwargs,
    }
    return evaluate_robustness(model, data, **options)


@pytest.fixture(scope="module")
def ensemble(model, data):
    return evaluate(model, data, AdaptiveSettings(**FAST), sanity_eps=LARGE_EPS)


def tolerance(defense: str) -> float:
    # A deterministic defense's worst case is below every candidate by construction; a randomised
    # one is judged over a few draws and scored under a fresh one.
    return 0.03 if defense in RANDOMISED else 1e-12


@pytest.mark.parametrize("defense", ["None", *make_defenses()])
def test_worst_case_is_below_every_candidate_and_gray_box(ensemble, defense) -> None:
    adaptive = ensemble.auroc[defense, "PGD [adaptive]", EPS]
    candidates = ensemble.candidate_auroc[defense, "PGD [adaptive]", EPS]
    assert "transfer" in candidates
    assert adaptive <= min(candidates.values()) + tolerance(defense), candidates
    assert adaptive <= ensemble.auroc[defense, "PGD", EPS] + tolerance(defense)
    accuracy = ensemble.accuracy[defense, "PGD [adaptive]", EPS]
    assert accuracy <= ensemble.accuracy[defense, "PGD", EPS] + tolerance(defense)
    assert not [d for d in ensemble.diagnostics if d.check == "adaptive-weaker"]


@pytest.mark.parametrize("mode", ["exact", "identity", "surrogate", "unrolled"])
def test_worst_case_is_below_each_single_mode_run(model, data, ensemble, mode) -> None:
    """A separate evaluation pinned to one gradient mode reproduces that mode's candidate, and
    the default worst case is never above it."""
    defenses = [d for d, m in make_defenses().items() if mode in type(m).gradient_modes]
    pinned = evaluate(
        model,
        data,
        AdaptiveSettings(gradient_modes=[mode], transfer=False, apgd_steps=None, **_eot(FAST)),
        defenses={d: make_defenses()[d] for d in defenses},
    )
    for d in defenses:
        single = pinned.auroc[d, "PGD [adaptive]", EPS]
        assert pinned.selection[d, "PGD [adaptive]", EPS] == {f"PGD/{mode}": 96}
        if d not in RANDOMISED:  # same seeds, same images, same scores
            assert ensemble.candidate_auroc[d, "PGD [adaptive]", EPS][f"PGD/{mode}"] == single
        assert ensemble.auroc[d, "PGD [adaptive]", EPS] <= single + tolerance(d)


def _eot(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k != "apgd_steps"}


def test_large_budget_breaks_every_defense(ensemble) -> None:
    assert ensemble.sanity["epsilon"] == LARGE_EPS
    for (defense, column), value in ensemble.sanity["auroc"].items():
        if column == "PGD [adaptive]":
            assert value <= 0.1, (defense, value)
    assert LARGE_EPS not in ensemble.epsilons  # the probe stays out of the grid


def test_selection_counts_every_example_once(ensemble) -> None:
    for (defense, column, eps), wins in ensemble.selection.items():
        assert column == "PGD [adaptive]" and eps == EPS
        assert sum(wins.values()) == ensemble.n_samples
        assert wins.keys() == ensemble.candidate_auroc[defense, column, eps].keys()
    names = ensemble.selection["TVM", "PGD [adaptive]", EPS].keys()
    assert names == {"transfer", "PGD/identity", "APGD/identity", "PGD/unrolled", "APGD/unrolled"}
    assert ensemble.selection["None", "PGD [adaptive]", EPS].keys() == {"transfer", "APGD/as-given"}


def test_configured_mode_is_the_single_attack_of_before(model, data) -> None:
    settings = AdaptiveSettings(gradient_modes="configured", transfer=False, apgd_steps=None)
    report = evaluate(model, data, settings, threat_model="adaptive")
    assert report.selection["JPEG", "PGD", EPS] == {"PGD/surrogate": 96}
    assert report.selection["TVM", "PGD", EPS] == {"PGD/identity": 96}
    assert report.metadata["adaptive"]["gradient_modes"] == "configured"


def test_report_keeps_selection_through_json(ensemble) -> None:
    again = type(ensemble).from_json(ensemble.to_json())
    assert again == ensemble
    assert again.selection == ensemble.selection
    assert again.candidate_auroc == ensemble.candidate_auroc
    assert again.sanity == ensemble.sanity


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gradient_modes": ["identity", "magic"]}, ValueError, "unknown gradient mode 'magic'"),
        ({"gradient_modes": "every"}, ValueError, "gradient_modes must be 'all', 'configured'"),
        ({"gradient_modes": []}, ValueError, "non-empty list"),
        ({"eot_samples": 0}, ValueError, "eot_samples must be an integer >= 1"),
        ({"selection_draws": 0}, ValueError, "selection_draws must be an integer >= 1"),
        ({"apgd_steps": 0}, ValueError, "apgd_steps must be an integer >= 1"),
        ({"transfer": "yes"}, TypeError, "transfer must be a bool"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        AdaptiveSettings(**kwargs)


@pytest.mark.parametrize("sanity_eps", [0.0, -0.1, 1.5, float("nan")])
def test_sanity_eps_outside_unit_interval_is_refused(model, sanity_eps) -> None:
    x, y = patches(8, seed=5)
    with pytest.raises(ValueError, match="sanity_eps"):
        evaluate_robustness(
            model, (x, y), attacks={"PGD": PGD}, epsilons=[0.01], sanity_eps=sanity_eps
        )


def test_a_pinned_mode_no_defense_has_is_refused_before_any_work(model) -> None:
    x, y = patches(8, seed=5)
    with pytest.raises(ValueError, match="has none of the modes defense 'Gaussian' supports"):
        evaluate_robustness(
            model,
            (x, y),
            attacks={"PGD": PGD},
            epsilons=[0.01],
            defenses={"Gaussian": GaussianSmoothing()},
            threat_model="adaptive",
            adaptive=AdaptiveSettings(gradient_modes=["unrolled"]),
        )
    with pytest.raises(TypeError, match=r"adaptive must be a hermes\.evaluation\.AdaptiveSettings"):
        evaluate_robustness(
            model, (x, y), attacks={"PGD": PGD}, epsilons=[0.01], adaptive={"transfer": True}
        )


def test_eot_draws_are_raised_for_the_call_and_the_users_attack_is_given_back(model) -> None:
    x, y = patches(8, seed=6)
    seen = []

    class Spy(PGD):
        def forward(self, x, y):
            seen.append(self.eot_samples)
            return super().forward(x, y)

    shared = {}

    def factory(target, eps):  # hands out one object per target, as a cache of attacks might
        return shared.setdefault(id(target), Spy(target, eps, steps=1, generator=0))

    evaluate_robustness(
        model,
        (x, y),
        attacks={"PGD": factory},
        epsilons=[0.05],
        defenses={"TVM": TVM(keep_prob=0.5, steps=2)},
        threat_model="adaptive",
        progress=False,
        adaptive=AdaptiveSettings(eot_samples=3, apgd_steps=None),
    )
    assert sorted(seen) == [1, 3, 3]  # transfer as built; both TVM modes with 3 draws
    assert all(attack.eot_samples == 1 for attack in shared.values())
