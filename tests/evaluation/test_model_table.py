"""models_table lines up several models' reports; plot_tradeoff draws them."""

from __future__ import annotations

import numpy as np
import pytest

from hermes.evaluation import MetricGrid, RobustnessReport, models_table
from hermes.plotting import plot_tradeoff


def make_report(clean: float, attacked: float, labels=(0, 1, 1, 0), threat="gray-box"):
    cells = {
        ("None", "PGD", 0.0): clean,
        ("None", "PGD", 0.03): attacked,
        ("JPEG", "PGD", 0.0): clean - 0.01,
        ("JPEG", "PGD", 0.03): attacked + 0.1,
    }
    return RobustnessReport(
        auroc=MetricGrid("auroc", cells),
        accuracy=MetricGrid("accuracy", {k: v / 2 for k, v in cells.items()}),
        threat_model=threat,
        n_samples=len(labels),
        labels=np.array(labels),
    )


def test_rows_hold_each_reports_own_cells() -> None:
    reports = {"standard": make_report(0.95, 0.1), "PGD-AT": make_report(0.9, 0.6)}
    table = models_table(reports, attack="PGD", defense="JPEG", metric="accuracy", digits=4)
    rows = table.splitlines()[2:]
    for row, (name, report) in zip(rows, reports.items()):
        cells = [c.strip() for c in row.strip("|").split("|")]
        grid = report.accuracy
        assert cells == [
            name,
            f"{grid['JPEG', 'PGD', 0.0]:.4f}",
            f"{grid['JPEG', 'PGD', 0.03]:.4f}",
        ]


def test_refuses_reports_of_other_samples_or_threat_models() -> None:
    base = make_report(0.95, 0.1)
    with pytest.raises(ValueError, match=r"reports\['b'\].*labels differ"):
        models_table({"a": base, "b": make_report(0.9, 0.6, labels=(1, 0, 1, 0))}, attack="PGD")
    with pytest.raises(ValueError, match="threat_model 'gray-box' vs 'adaptive'"):
        models_table({"a": base, "b": make_report(0.9, 0.6, threat="adaptive")}, attack="PGD")
    with pytest.raises(KeyError, match="FGSM"):
        models_table({"a": base}, attack="FGSM")
    with pytest.raises(ValueError, match="reports must be a non-empty mapping"):
        models_table({}, attack="PGD")


def test_tradeoff_plot_places_each_model_at_its_clean_and_attacked_values(tmp_path) -> None:
    reports = {"standard": make_report(0.95, 0.1), "PGD-AT": make_report(0.9, 0.6)}
    fig = plot_tradeoff(reports, attack="PGD", eps=0.03, path=tmp_path / "tradeoff.png")
    points = [float(v) for c in fig.axes[0].collections for v in c.get_offsets()[0]]
    assert points == pytest.approx([0.95, 0.1, 0.9, 0.6])
