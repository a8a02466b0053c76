"""The grid on multi-class and multi-label models: macro and per-class AUROC against sklearn,
the attacked cells against attacks run by hand, bootstrap intervals against an independent
resampling, and the report's exports."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from hermes.attacks import FGSM
from hermes.attacks.functional import fgsm
from hermes.defenses import GaussianSmoothing
from hermes.evaluation import RobustnessReport, evaluate_robustness
from hermes.evaluation.metrics import bootstrap_counts

EPS = 0.03


def _model(outputs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, outputs)
    )


@pytest.fixture(scope="module")
def multiclass():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(60, 3, 8, 8, generator=g)
    model = _model(3, 0).eval()
    with torch.no_grad():  # labels that the model mostly gets right, with some noise
        y = model(x).argmax(1)
    y[::5] = (y[::5] + 1) % 3
    return model, x, y


@pytest.fixture(scope="module")
def multilabel():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(60, 3, 8, 8, generator=g)
    model = _model(4, 1).eval()
    with torch.no_grad():
        logits = model(x)
    y = (logits > logits.median(0).values).float()
    y[::4, 0] = 1 - y[::4, 0]
    return model, x, y


def _grid(model, x, y, **kwargs) -> RobustnessReport:
    return evaluate_robustness(
        model, (x, y), attacks={"FGSM": FGSM}, epsilons=[EPS],
        defenses={"Gaussian": GaussianSmoothing(3, 1.0)}, batch_size=16, progress=False, **kwargs,
    )  # fmt: skip


def _sklearn(y: torch.Tensor, scores: torch.Tensor, task: str) -> tuple[float, list[float]]:
    y_np, s = y.numpy(), scores.double().numpy()
    if task == "multiclass":
        macro = roc_auc_score(y_np, s, multi_class="ovr", average="macro")
        per = roc_auc_score(np.eye(s.shape[1])[y_np], s, average=None)
    else:
        macro = roc_auc_score(y_np, s, average="macro")
        per = roc_auc_score(y_np, s, average=None)
    return float(macro), [float(v) for v in per]


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_cells_equal_sklearn_on_the_same_images(task, multiclass, multilabel) -> None:
    model, x, y = multiclass if task == "multiclass" else multilabel
    report = _grid(model, x, y)
    assert report.task == task and report.n_classes == (3 if task == "multiclass" else 4)
    squash = (lambda z: torch.softmax(z, 1)) if task == "multiclass" else torch.sigmoid
    defense = GaussianSmoothing(3, 1.0)
    x_adv = fgsm(model, x, y, EPS)  # the gray-box image, crafted on the undefended model
    cells = {
        ("None", 0.0): x, ("Gaussian", 0.0): defense(x),
        ("None", EPS): x_adv, ("Gaussian", EPS): defense(x_adv),
    }  # fmt: skip
    for (d, e), images in cells.items():
        with torch.no_grad():
            scores = squash(model(images).double())
        macro, per = _sklearn(y, scores, task)
        assert report.auroc[d, "FGSM", e] == pytest.approx(macro, abs=1e-9), (d, e)
        assert report.per_class_auroc[d, "FGSM", e] == pytest.approx(per, abs=1e-9), (d, e)
    assert report.auroc["None", "FGSM", EPS] < report.auroc["None", "FGSM", 0.0]


def test_multiclass_accuracy_and_success_rate_follow_the_top_class(multiclass) -> None:
    model, x, y = multiclass
    report = _grid(model, x, y)
    with torch.no_grad():
        clean_ok = model(x).argmax(1) == y
        adv_ok = model(fgsm(model, x, y, EPS)).argmax(1) == y
    assert report.accuracy["None", "FGSM", 0.0] == pytest.approx(float(clean_ok.double().mean()))
    assert report.accuracy["None", "FGSM", EPS] == pytest.approx(float(adv_ok.double().mean()))
    expected = float((~adv_ok[clean_ok]).double().mean())
    assert report.success_rate["None", "FGSM", EPS] == pytest.approx(expected)


def test_multilabel_success_means_some_label_flipped(multilabel) -> None:
    model, x, y = multilabel
    report = _grid(model, x, y)
    with torch.no_grad():
        clean_ok = ((model(x) > 0).float() == y).all(1)
        adv = model(fgsm(model, x, y, EPS)) > 0
    hamming = float((adv.float() == y).double().mean())
    assert report.accuracy["None", "FGSM", EPS] == pytest.approx(hamming)
    expected = float((~(adv.float() == y).all(1))[clean_ok].double().mean())
    assert report.success_rate["None", "FGSM", EPS] == pytest.approx(expected)


def test_macro_interval_equals_weighted_sklearn_resamples(multiclass) -> None:
    model, x, y = multiclass
    report = _grid(model, x, y, bootstrap=40, ci_level=0.9, seed=3)
    with torch.no_grad():
        scores = torch.softmax(model(x).double(), 1).numpy()
    counts = bootstrap_counts(len(y), 40, 3)
    onehot = np.eye(3)[y.numpy()]
    values = [
        np.mean([roc_auc_score(onehot[:, k], scores[:, k], sample_weight=w) for k in range(3)])
        for w in counts
        if all(0 < (onehot[:, k] * w).sum() < w.sum() for k in range(3))
    ]
    low, high = np.percentile(values, [5, 95])
    assert report.ci["None", "FGSM", 0.0] == pytest.approx((low, high), abs=1e-9)
    lo, hi = report.ci["None", "FGSM", EPS]
    assert lo <= report.auroc["None", "FGSM", EPS] <= hi


def test_adaptive_worst_case_is_never_more_accurate_than_the_transfer_image(multiclass) -> None:
    model, x, y = multiclass
    report = _grid(model, x, y, threat_model="both")
    assert report.per_class_auroc["Gaussian", "FGSM [adaptive]", EPS] is not None
    for d in report.defenses:
        assert report.accuracy[d, "FGSM [adaptive]", EPS] <= report.accuracy[d, "FGSM", EPS]
        won = report.selection[d, "FGSM [adaptive]", EPS]
        assert sum(won.values()) == len(y)


def test_exports_carry_the_per_class_numbers(multilabel, tmp_path) -> None:
    model, x, y = multilabel
    report = _grid(model, x, y, bootstrap=10)
    again = RobustnessReport.from_json(report.to_json())
    assert again == report and again.task == "multilabel"
    assert again.per_class_auroc == report.per_class_auroc
    rows = list(csv.DictReader(report.to_csv(tmp_path / "grid.csv").open()))
    assert {f"auroc_class_{k}" for k in range(4)} <= set(rows[0])
    first = rows[0]
    key = (first["defense"], first["attack"], float(first["epsilon"]))
    assert float(first["auroc_class_2"]) == pytest.approx(report.per_class_auroc[key][2])
    table = report.class_table("Gaussian", class_names=["a", "b", "c", "d"])
    assert table.splitlines()[2].startswith("| a | ") and table.splitlines()[-1].startswith(
        "| macro"
    )
    difference = report.compare(report)
    assert all(v == 0 for per in difference.per_class_auroc.values() for v in per)


def test_bad_tasks_and_binary_only_views(multiclass) -> None:
    model, x, y = multiclass
    with pytest.raises(Exception, match="task='binary' needs a model with 1 or 2 outputs"):
        _grid(model, x, y, task="binary")
    with pytest.raises(ValueError, match="did you mean 'multiclass'"):
        _grid(model, x, y, task="multi-class")
    binary = _grid(_model(1, 2).eval(), x, (y == 0).long())
    assert binary.task == "binary" and binary.per_class_auroc is None
    with pytest.raises(ValueError, match="class_table\\(\\) needs a multi-class"):
        binary.class_table()


def test_a_class_missing_from_the_labels_gives_nan_with_a_warning(multiclass) -> None:
    model, x, y = multiclass
    y = y.clone()
    y[y == 2] = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = _grid(model, x, y, task="multiclass")
    assert any("undefined" in str(w.message) for w in caught)
    per = report.per_class_auroc["None", "FGSM", 0.0]
    assert np.isnan(per[2]) and not np.isnan(per[0]) and np.isnan(report.auroc["None", "FGSM", 0.0])


def test_volumes_run_the_same_grid_with_3d_smoothing() -> None:
    from hermes.defenses import JPEG, MedianSmoothing
    from hermes.errors import ShapeError

    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv3d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 216, 3)
    ).eval()
    x = torch.rand(24, 1, 6, 6, 6, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[::4] = (y[::4] + 1) % 3
    defenses = {"Gaussian": GaussianSmoothing(3, 1.0), "Median": MedianSmoothing(3)}
    report = evaluate_robustness(
        model, (x, y), attacks={"FGSM": FGSM}, epsilons=[EPS], defenses=defenses,
        threat_model="both", batch_size=8, progress=False,
    )  # fmt: skip
    assert report.task == "multiclass"
    x_adv = fgsm(model, x, y, EPS)
    for name, defense in {"None": nn.Identity(), **defenses}.items():
        with torch.no_grad():
            scores = torch.softmax(model(defense(x_adv)).double(), 1)
        macro, _ = _sklearn(y, scores, "multiclass")
        assert report.auroc[name, "FGSM", EPS] == pytest.approx(macro, abs=1e-9), name
        adaptive = report.accuracy[name, "FGSM [adaptive]", EPS]
        assert adaptive <= report.accuracy[name, "FGSM", EPS]
    with pytest.raises(ShapeError, match="JPEG"):
        evaluate_robustness(
            model, (x, y), attacks={"FGSM": FGSM}, epsilons=[EPS], defenses={"JPEG": JPEG(75)},
            progress=False,
        )  # fmt: skip


def test_an_adaptive_cell_is_never_weaker_than_an_attack_hermes_ran(multiclass) -> None:
    model, x, y = multiclass
    report = evaluate_robustness(
        model, (x, y), attacks={"FGSM": FGSM}, epsilons=[0.02, 0.05, 0.1],
        defenses={"Gaussian": GaussianSmoothing(3, 1.0)}, threat_model="adaptive",
        batch_size=16, progress=False,
    )  # fmt: skip
    for d in report.defenses:
        previous = 1.0
        for e in report.epsilons[1:]:
            cell = report.auroc[d, "FGSM", e]
            assert cell <= min(report.candidate_auroc[d, "FGSM", e].values()) + 1e-12
            assert cell <= previous + 1e-12
            previous = cell
    assert not [g for g in report.diagnostics if g.check in ("adaptive-weaker", "rises-with-eps")]


def test_strongest_takes_a_whole_candidate_or_a_smaller_budget_when_lower() -> None:
    from hermes.evaluation._assemble import strongest

    labels = np.array([0, 1, 2, 0, 1, 2])
    eye = np.eye(3) * 0.7 + 0.1
    perfect, wrong = eye[labels], eye[(labels + 1) % 3]
    mixed = np.where(np.arange(6)[:, None] < 3, wrong, perfect)
    scores, chosen = strongest(labels, "multiclass", mixed, {"a": 4, "b": 2}, {"b": wrong}, {})
    assert np.array_equal(scores, wrong) and chosen == {"b": 6}
    scores, chosen = strongest(labels, "multiclass", mixed, {"a": 6}, {"a": perfect}, {})
    assert np.array_equal(scores, mixed) and chosen == {"a": 6}  # the worst case holds
    scores, chosen = strongest(
        labels, "multiclass", mixed, {"a": 6}, {"a": mixed}, {"ε=0.01": (wrong, {"b": 6})}
    )
    assert np.array_equal(scores, wrong) and chosen == {"b (ε=0.01)": 6}
