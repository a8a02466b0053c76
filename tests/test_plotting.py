"""Plots render headless to non-empty PNG files with the expected panels and lines."""

from __future__ import annotations

import pytest
import torch

from hermes.evaluation import MetricGrid, RobustnessReport
from hermes.plotting import (
    plot_adversarial_examples,
    plot_auroc_curves,
    plot_class_curves,
    plot_defense_gallery,
    plot_difference_heatmap,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEFENSES, ATTACKS, EPS = ["None", "JPEG", "TVM"], ["FGSM", "PGD"], [0.0, 0.01, 0.05, 0.1]


def make_report(offset: float = 0.0, ci: bool = True) -> RobustnessReport:
    cells = {
        (d, a, e): max(0.0, 0.9 - 5 * e * (i + 1) / 3 + offset)
        for i, d in enumerate(DEFENSES)
        for a in ATTACKS
        for e in EPS
    }
    intervals = {k: (v - 0.05, v + 0.05) for k, v in cells.items()} if ci else None
    return RobustnessReport(
        auroc=MetricGrid("auroc", cells),
        accuracy=MetricGrid("accuracy", cells),
        success_rate=MetricGrid("success_rate", cells),
        ci=MetricGrid("ci", intervals) if ci else None,
    )


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000


def test_auroc_curves_one_panel_per_attack_one_line_per_defense(tmp_path) -> None:
    fig = plot_auroc_curves(make_report(), path=tmp_path / "curves.png")
    assert_png(tmp_path / "curves.png")
    assert len(fig.axes) == len(ATTACKS)
    for ax in fig.axes:
        data_lines = [line for line in ax.get_lines() if len(line.get_xdata()) == len(EPS)]
        assert len(data_lines) == len(DEFENSES)
        assert len(ax.collections) == len(DEFENSES)  # CI bands
    assert len(plot_auroc_curves(make_report(ci=False)).axes[0].collections) == 0
    assert len(make_report().plot(attacks=["PGD"]).axes) == 1


def test_difference_heatmap_is_annotated_and_centred(tmp_path) -> None:
    fig = plot_difference_heatmap(
        make_report(0.05), make_report(), attack="PGD", path=tmp_path / "heat.png"
    )
    assert_png(tmp_path / "heat.png")
    ax = fig.axes[0]
    assert len(ax.texts) == len(DEFENSES) * len(EPS)
    norm = ax.images[0].norm
    assert norm.vcenter == 0.0 and norm.vmin == -norm.vmax
    augmented, plain = make_report(0.05), make_report()
    augmented.metadata["name"], plain.metadata["name"] = "augmented", "no-augmentation"
    title = plot_difference_heatmap(augmented, plain, attack="PGD").axes[0].get_title()
    assert title == "auroc: augmented - no-augmentation, PGD"  # which way the sign goes


def test_both_threat_models_are_named_per_panel() -> None:
    report = make_report()
    report.threat_model = "both"
    report.metadata["columns"] = {
        "FGSM": {"attack": "FGSM", "threat_model": "gray-box"},
        "PGD": {"attack": "FGSM", "threat_model": "adaptive"},
    }
    titles = [ax.get_title() for ax in plot_auroc_curves(report).axes]
    assert titles == ["FGSM (gray-box)", "PGD (adaptive)"]


def test_defense_gallery_and_adversarial_triplets(tmp_path) -> None:
    image = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0))
    blur = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    fig = plot_defense_gallery(
        image,
        {"blur": blur, "identity": torch.nn.Identity()},
        columns=2,
        path=tmp_path / "gallery.png",
    )
    assert_png(tmp_path / "gallery.png")
    assert sum(1 for ax in fig.axes if ax.images) == 3
    x = image.unsqueeze(0).repeat(2, 1, 1, 1)
    x_adv = (x + 0.03 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(
        0, 1
    )
    fig = plot_adversarial_examples(x, x_adv, path=tmp_path / "triplets.png")
    assert_png(tmp_path / "triplets.png")
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="x and x_adv must have the same shape"):
        plot_adversarial_examples(x, x_adv[:1])


def test_saved_figures_are_closed_in_pyplot_but_still_usable(tmp_path) -> None:
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    fig = plot_auroc_curves(make_report(), path=tmp_path / "a.png")
    assert len(plt.get_fignums()) == before  # nothing left open
    fig.savefig(tmp_path / "again.png")
    assert_png(tmp_path / "again.png")
    shown = plot_auroc_curves(make_report())  # no path: left open for plt.show()
    assert shown.number in plt.get_fignums()
    plt.close(shown)


def test_class_curves_draw_one_line_per_class_and_the_macro(tmp_path) -> None:
    base = make_report(ci=False)
    per_class = {k: [v, v / 2, 1 - v] for k, v in base.auroc.items()}
    report = RobustnessReport(auroc=base.auroc, task="multiclass", per_class_auroc=per_class)
    fig = plot_class_curves(
        report, attack="PGD", defenses=["None", "TVM"], class_names=["a", "b", "c"],
        path=tmp_path / "classes.png",
    )  # fmt: skip
    assert_png(tmp_path / "classes.png")
    assert len(fig.axes) == 2
    lines = fig.axes[1].get_lines()
    labels = [line.get_label() for line in lines if not line.get_label().startswith("_")]
    assert labels == ["a", "b", "c", "macro"]
    assert list(lines[1].get_ydata()) == [per_class["TVM", "PGD", e][1] for e in EPS]
    with pytest.raises(ValueError, match="class_names must name all 3 classes"):
        plot_class_curves(report, class_names=["a"])
    with pytest.raises(KeyError, match="unknown attack 'CW'"):
        plot_class_curves(report, attack="CW")
    with pytest.raises(ValueError, match="needs a multi-class or multi-label report"):
        plot_class_curves(make_report())
