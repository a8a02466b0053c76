"""evaluate_certified on a linear classifier, whose smoothed classifier is known in closed form.

For ``f(x) = w.x + b`` and Gaussian noise, ``P(f(x + e) > 0) = Phi((w.x + b) / (sigma ||w||))``:
the smoothed classifier decides like ``f`` itself, and an image is misclassified under an L2
attack of size ``r`` exactly when its distance ``|w.x + b| / ||w||`` to the boundary is below
``r`` (images kept in ``[0.3, 0.7]`` and ``r <= 0.25``, so the box never binds).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from hermes.certify import CertificationReport, RandomizedSmoothing, evaluate_certified

SIGMA = 0.25
RADII = [0.0, 0.05, 0.1, 0.2]


@pytest.fixture(scope="module")
def linear_task():
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.4 * torch.rand(48, 1, 4, 4, generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(1, 16, generator=g))
        model[1].bias.copy_(-(model[1].weight @ x.flatten(1).T).median())
    logits = model(x).detach().reshape(-1)
    y = (logits > 0).long()
    y[:6] = 1 - y[:6]  # a few images the classifier gets wrong
    distance = logits.abs() / model[1].weight.norm()
    return model, x, y, distance


@pytest.fixture(scope="module")
def report(linear_task) -> CertificationReport:
    model, x, y, _ = linear_task
    smoothed = RandomizedSmoothing(model, SIGMA, batch_size=512)
    return evaluate_certified(
        smoothed, (x, y), radii=RADII, n0=50, n=500, attack_steps=20, eot_samples=2,
        vote_draws=400, batch_size=16, progress=False,
    )  # fmt: skip


def test_no_certificate_is_refuted_and_certified_lies_below_empirical(report) -> None:
    assert report.diagnostics == []
    for name in ("accuracy", "auroc"):
        certified = getattr(report, f"certified_{name}")
        empirical = getattr(report, f"empirical_{name}")
        assert all(c <= e + 1e-9 for c, e in zip(certified, empirical)), (name, certified, empirical)


def test_certified_radius_is_below_the_distance_to_the_boundary(linear_task, report) -> None:
    _, _, y, distance = linear_task
    certified = report.classes >= 0
    assert bool((report.radius[certified] <= distance[certified] + 1e-6).all())
    assert bool((report.classes[certified] == y[certified]).any())


def test_empirical_accuracy_matches_the_closed_form_attack(linear_task, report) -> None:
    _, _, y, distance = linear_task
    correct = torch.ones_like(y, dtype=torch.bool)
    correct[:6] = False
    for r, accuracy in zip(RADII, report.empirical_accuracy):
        analytic = float((correct & (distance > r)).double().mean())
        # Images within a few vote standard errors of the boundary may go either way.
        near = float((correct & ((distance - r).abs() < 0.05 * SIGMA)).double().mean())
        assert abs(accuracy - analytic) <= near + 1e-9, (r, accuracy, analytic)
    assert report.empirical_accuracy[-1] < report.empirical_accuracy[0]


def test_repeats_with_a_seed_and_round_trips_through_json(linear_task, report, tmp_path) -> None:
    model, x, y, _ = linear_task
    again = evaluate_certified(
        RandomizedSmoothing(model, SIGMA, batch_size=512), (x, y), radii=RADII, n0=50, n=500,
        attack_steps=20, eot_samples=2, vote_draws=400, batch_size=16, progress=False,
    )  # fmt: skip
    assert again == report
    path = tmp_path / "certified.json"
    report.to_json(path)
    assert CertificationReport.from_json(path) == report
    assert "certified auroc" in report.table()


def test_certified_only_and_multiclass(linear_task) -> None:
    _, x, _, _ = linear_task
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    y = torch.arange(x.shape[0]) % 3
    report = evaluate_certified(
        RandomizedSmoothing(model, SIGMA), (x, y), radii=[0.0, 0.1], n0=10, n=50,
        attack_steps=None, progress=False,
    )  # fmt: skip
    assert report.empirical_accuracy is None and report.certified_auroc is None
    assert len(report.certified_accuracy) == 2


def test_plot_draws_certified_and_empirical_lines(report, tmp_path) -> None:
    fig = report.plot(path=tmp_path / "curves.png")
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_bad_arguments_name_them(linear_task) -> None:
    model, x, y, _ = linear_task
    smoothed = RandomizedSmoothing(model, SIGMA)
    with pytest.raises(TypeError, match="smoothed must be"):
        evaluate_certified(model, (x, y))
    with pytest.raises(ValueError, match="attack_steps"):
        evaluate_certified(smoothed, (x, y), attack_steps=0)
    with pytest.raises(ValueError, match="radii"):
        evaluate_certified(smoothed, (x, y), radii=[-0.1])
    with pytest.raises(ValueError, match="n0 must be <= n"):
        evaluate_certified(smoothed, (x, y), n0=20, n=10, attack_steps=None, progress=False)


def test_a_one_class_smoothed_classifier_is_reported(linear_task) -> None:
    model, x, y, _ = linear_task
    constant = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
    with torch.no_grad():
        constant[1].weight.copy_(model[1].weight)
        constant[1].bias.fill_(100.0)  # every vote goes to class 1, AUROC of the logits unchanged
    report = evaluate_certified(
        RandomizedSmoothing(constant, SIGMA), (x, y), radii=RADII, n0=20, n=100,
        attack_steps=None, progress=False,
    )  # fmt: skip
    assert report.certified_accuracy[0] == pytest.approx(float(y.double().mean()))
    assert len(report.diagnostics) == 1
    assert "predicts class 1 for every image" in report.diagnostics[0]
    assert "Sanity check failed" in report.table()


def test_empirical_curves_never_rise_with_the_radius(report) -> None:
    for curve in (report.empirical_accuracy, report.empirical_auroc):
        assert all(b <= a for a, b in itertools.pairwise(curve)), curve
