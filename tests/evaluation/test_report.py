"""RobustnessReport: indexing, tables, comparison, and exports that round-trip."""

from __future__ import annotations

import csv
import math

import pytest

from hermes.attacks import FGSM
from hermes.evaluation import MetricGrid, RobustnessReport, evaluate_robustness
from tests.evaluation.conftest import Blur


@pytest.fixture(scope="module")
def report(classifier, test_set) -> RobustnessReport:
    return evaluate_robustness(
        classifier,
        test_set,
        attacks={"FGSM": FGSM},
        epsilons=[0, 0.02, 0.05],
        defenses={"Blur": Blur()},
        progress=False,
        bootstrap=50,
    )


def test_indexing_by_defense_attack_epsilon(report) -> None:
    curve = report.auroc["Blur", "FGSM"]
    assert list(curve) == [0.0, 0.02, 0.05]
    assert report.auroc["Blur"]["FGSM"] == curve
    assert report.auroc["Blur", "FGSM", 0.02] == curve[0.02]
    assert report.auroc["Blur", "FGSM", 0.01 + 0.01] == curve[0.02]  # float noise tolerated
    with pytest.raises(KeyError, match="unknown defense 'JPEG'"):
        report.auroc["JPEG", "FGSM", 0.02]
    with pytest.raises(KeyError, match=r"unknown epsilon 0\.3"):
        report.auroc["Blur", "FGSM", 0.3]


def test_table_has_the_study_layout(report) -> None:
    lines = report.table(epsilons=[0.02, 0.05]).splitlines()
    assert lines[0] == "| Defense | Clean | FGSM ε=0.02 | FGSM ε=0.05 |"
    assert lines[2].startswith("| None | ") and lines[3].startswith("| Blur | ")
    cells = lines[3].strip("|").split("|")
    assert float(cells[2]) == pytest.approx(report.auroc["Blur", "FGSM", 0.02], abs=5e-4)
    with_ci = report.table(epsilons=[0.02], show_ci=True)
    assert "[" in with_ci.splitlines()[2]
    with pytest.raises(KeyError, match="unknown epsilon"):
        report.table(epsilons=[0.3])
    with pytest.raises(ValueError, match="metric must be one of"):
        report.table(metric="f1")


def test_records_csv_and_json_round_trip(report, tmp_path) -> None:
    records = report.to_records()
    assert len(records) == 2 * 3
    with report.to_csv(tmp_path / "grid.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["defense"] for r in rows] == [r["defense"] for r in records]
    assert float(rows[1]["auroc"]) == pytest.approx(records[1]["auroc"])
    restored = RobustnessReport.from_json(report.to_json(tmp_path / "r.json"))
    assert restored == report
    assert RobustnessReport.from_json(tmp_path / "r.json") == report
    with_scores = RobustnessReport.from_json(report.to_json(include_scores=True))
    assert (with_scores.scores["Blur", "FGSM", 0.05] == report.scores["Blur", "FGSM", 0.05]).all()


def test_compare_gives_cellwise_differences(report) -> None:
    shifted = RobustnessReport(
        auroc=MetricGrid("auroc", {k: v - 0.1 for k, v in report.auroc.items()}),
        accuracy=report.accuracy,
        success_rate=report.success_rate,
    )
    diff = report.compare(shifted)
    assert all(math.isclose(v, 0.1) for v in diff.auroc.values())
    assert all(v == 0 for v in diff.accuracy.values())
    assert "| Blur | 0.100 |" in diff.table()
    with pytest.raises(TypeError, match="other must be a RobustnessReport"):
        report.compare({"auroc": 1})


def test_nan_survives_json_and_repr_is_readable() -> None:
    grid = MetricGrid("auroc", {("None", "PGD", 0.0): float("nan"), ("None", "PGD", 0.1): 0.5})
    report = RobustnessReport(auroc=grid, n_samples=10)
    restored = RobustnessReport.from_json(report.to_json())
    assert math.isnan(restored.auroc["None", "PGD", 0.0])
    assert "defenses=['None']" in repr(report)
    assert report._repr_markdown_().splitlines()[2].startswith("| Defense |")
    with pytest.raises(ValueError, match="not a hermes RobustnessReport"):
        RobustnessReport.from_json('{"format": "other"}')
