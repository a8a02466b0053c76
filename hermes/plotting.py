"""Figures of the study: AUROC-vs-epsilon curves, difference heatmaps, defense galleries and
adversarial triplets. Needs matplotlib (``pip install "hermes-robustness[plot]"``).

Every function returns the matplotlib ``Figure``. Given ``path``, it also saves the figure there
and closes it in pyplot (so a script drawing many figures does not pile them up in memory); the
returned figure can still be saved again or shown in a notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from hermes._validation import check_images

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "plot_adversarial_examples",
    "plot_auroc_curves",
    "plot_certified_curves",
    "plot_class_curves",
    "plot_defense_gallery",
    "plot_difference_heatmap",
    "plot_tradeoff",
]


class Report(Protocol):
    """What the plots read from a report: :class:`~hermes.evaluation.RobustnessReport` has it.

    (Named by its shape, so that plotting does not import :mod:`hermes.evaluation`, which uses
    plotting for ``report.plot()``.)
    """

    @property
    def attacks(self) -> list[str]: ...
    @property
    def defenses(self) -> list[str]: ...
    @property
    def epsilons(self) -> list[float]: ...
    @property
    def threat_model(self) -> str: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def ci(self) -> Any: ...
    def metric(self, name: str) -> Any: ...
    def compare(self, other: Any) -> Any: ...


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            'hermes.plotting needs matplotlib: pip install "hermes-robustness[plot]"'
        ) from error
    return plt


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        _pyplot().close(fig)
    return fig


def plot_auroc_curves(
    report: Report,
    *,
    attacks: Sequence[str] | None = None,
    defenses: Sequence[str] | None = None,
    metric: str = "auroc",
    path: str | Path | None = None,
) -> Figure:
    """AUROC against epsilon: one panel per attack, one line per defense (the study's Figures 5-12).

    Bootstrap intervals, when the report has them, are drawn as bands.

    Args:
        report: a :class:`~hermes.evaluation.RobustnessReport`.
        attacks, defenses: subsets to draw (default: all).
        metric: ``"auroc"``, ``"accuracy"`` or ``"success_rate"``.
        path: where to save the figure (any format matplotlib knows from the suffix).
    """
    plt = _pyplot()
    grid = report.metric(metric)
    attacks = list(attacks or report.attacks)
    defenses = list(defenses or report.defenses)
    fig, axes = plt.subplots(1, len(attacks), figsize=(5 * len(attacks), 4), squeeze=False)
    for ax, attack in zip(axes[0], attacks):
        for defense in defenses:
            curve = grid[defense, attack]
            eps = list(curve)
            (line,) = ax.plot(eps, list(curve.values()), marker="o", label=defense)
            if metric == "auroc" and report.ci is not None:
                bounds = [report.ci[defense, attack, e] for e in eps]
                ax.fill_between(
                    eps,
                    [b[0] for b in bounds],
                    [b[1] for b in bounds],
                    color=line.get_color(),
                    alpha=0.15,
                    linewidth=0,
                )
        column = report.metadata.get("columns", {}).get(attack, {})
        ax.set_title(f"{attack} ({column.get('threat_model', report.threat_model)})")
        ax.set_xlabel("epsilon (pixel units)")
        ax.set_ylabel(metric.replace("_", " "))
        if metric == "auroc":
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _finish(fig, path)


def plot_class_curves(
    report: Any,
    *,
    attack: str | None = None,
    defenses: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Per-class (per-label) AUROC against epsilon for a multi-class or multi-label report: one
    panel per defense, one line per class, and the macro AUROC as a thick black line.

    Args:
        report: a :class:`~hermes.evaluation.RobustnessReport` with ``per_class_auroc``.
        attack: the attack column (default the first).
        defenses: defenses to draw, one panel each (default: all).
        class_names: a legend name per class (default ``class 0``, ``class 1``, ...).
        path: where to save the figure.

    Raises:
        ValueError: a binary report, or ``class_names`` of the wrong length.
        KeyError: an unknown attack or defense.
    """
    if getattr(report, "per_class_auroc", None) is None:
        raise ValueError(
            "plot_class_curves() needs a multi-class or multi-label report; this one is "
            f"task={getattr(report, 'task', 'binary')!r} (plot_auroc_curves draws its AUROC)"
        )
    attack = report.attacks[0] if attack is None else attack
    defenses = list(defenses or report.defenses)
    for name, value, known in (
        ("attack", [attack], report.attacks),
        ("defenses", defenses, report.defenses),
    ):
        unknown = [v for v in value if v not in known]
        if unknown:
            raise KeyError(f"unknown {name} {unknown[0]!r}; the report has {known}")
    k = report.n_classes
    names = list(class_names) if class_names is not None else [f"class {i}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"class_names must name all {k} classes; got {len(names)} names")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(defenses), figsize=(5 * len(defenses), 4), squeeze=False)
    eps = report.epsilons
    for ax, defense in zip(axes[0], defenses):
        for i, name in enumerate(names):
            values = [report.per_class_auroc[defense, attack, e][i] for e in eps]
            ax.plot(eps, values, marker="o", linewidth=1, label=name)
        macro = [report.auroc[defense, attack, e] for e in eps]
        ax.plot(eps, macro, color="black", linewidth=2.5, label="macro")
        ax.set_title(f"{defense}: {attack}")
        ax.set_xlabel("epsilon (pixel units)")
        ax.set_ylabel("AUROC (one-vs-rest)" if report.task == "multiclass" else "AUROC per label")
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", ncol=2)
    return _finish(fig, path)


class CertifiedCurves(Protocol):
    """What :func:`plot_certified_curves` reads: :class:`~hermes.certify.CertificationReport`."""

    radii: list[float]
    metadata: dict[str, Any]

    def curves(self) -> dict[str, list[float]]: ...


def plot_certified_curves(
    reports: CertifiedCurves | Mapping[str, CertifiedCurves],
    *,
    path: str | Path | None = None,
) -> Figure:
    """Certified (solid) and empirical (dashed, PGD-L2 + EOT) curves against the L2 radius.

    One panel for accuracy and, when the reports have them (binary tasks), one for AUROC. The
    certified curve is a guarantee and the empirical one an attack's estimate, so each solid
    line should lie below its dashed twin.

    Args:
        reports: a :class:`~hermes.certify.CertificationReport`, or several by name (e.g. one
            per sigma) drawn in one figure.
        path: where to save the figure.
    """
    plt = _pyplot()
    named = dict(reports) if isinstance(reports, Mapping) else {"": reports}
    metrics = ["accuracy"]
    if any("certified_auroc" in r.curves() for r in named.values()):
        metrics.append("auroc")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, report in named.items():
            curves = report.curves()
            label = name or f"sigma={report.metadata.get('sigma', '?')}"
            certified = curves.get(f"certified_{metric}")
            if certified is None:
                continue
            (line,) = ax.plot(report.radii, certified, marker="o", label=f"{label} certified")
            empirical = curves.get(f"empirical_{metric}")
            if empirical is not None:
                ax.plot(report.radii, empirical, linestyle="--", marker="x",
                        color=line.get_color(), label=f"{label} PGD-L2 + EOT")  # fmt: skip
        ax.set_xlabel("L2 radius (pixel units)")
        ax.set_ylabel(metric if metric == "accuracy" else "AUROC (certified: lower bound)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _finish(fig, path)


def plot_tradeoff(
    reports: Mapping[str, Report],
    *,
    attack: str,
    eps: float,
    defense: str = "None",
    metric: str = "auroc",
    path: str | Path | None = None,
) -> Figure:
    """The robustness-accuracy trade-off: one point per model, clean value against the value
    under ``attack`` at ``eps`` (e.g. standard vs PGD-AT vs TRADES models).

    Args:
        reports: model name -> its :class:`~hermes.evaluation.RobustnessReport`.
        attack: the attack column (e.g. ``"PGD [adaptive]"``).
        eps: the budget to read.
        defense: the defense row (default the undefended ``"None"``).
        metric: ``"auroc"``, ``"accuracy"`` or ``"success_rate"``.
        path: where to save the figure.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, report in reports.items():
        grid = report.metric(metric)
        clean, attacked = grid[defense, attack, 0.0], grid[defense, attack, eps]
        ax.scatter([clean], [attacked], s=40)
        ax.annotate(name, (clean, attacked), textcoords="offset points", xytext=(5, 5))
    label = metric.replace("_", " ")
    ax.set_xlabel(f"clean {label}")
    ax.set_ylabel(f"{label} under {attack}, eps={eps:g}")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_difference_heatmap(
    report: Report,
    other: Report | None = None,
    *,
    attack: str | None = None,
    metric: str = "auroc",
    path: str | Path | None = None,
) -> Figure:
    """Heatmap of ``report - other`` (defenses x epsilons), diverging colours centred on zero.

    The study's Figure 3 (augmented minus non-augmented model). Pass a report made by
    :meth:`~hermes.evaluation.RobustnessReport.compare` and no ``other`` to draw it directly.
    """
    plt = _pyplot()
    from matplotlib.colors import TwoSlopeNorm

    diff = report.compare(other) if other is not None else report
    attack = attack or diff.attacks[0]
    grid = diff.metric(metric)
    epsilons = diff.epsilons
    values = [[grid[d, attack, e] for e in epsilons] for d in diff.defenses]
    limit = max((abs(v) for row in values for v in row if v == v), default=0.0) or 1e-6
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(epsilons), 1.0 + 0.5 * len(values)))
    image = ax.imshow(values, cmap="RdBu", norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:+.3f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(epsilons)), ["clean" if e == 0 else f"{e:g}" for e in epsilons])
    ax.set_yticks(range(len(values)), diff.defenses)
    ax.set_xlabel("epsilon")
    names = diff.metadata.get("difference")
    what = f"{names[0]} - {names[1]}" if names else "difference"
    ax.set_title(f"{metric.replace('_', ' ')}: {what}, {attack}")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _finish(fig, path)


def _to_hwc(image: torch.Tensor):
    image = image.detach().cpu().float()
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()


def plot_defense_gallery(
    image: torch.Tensor,
    defenses: Mapping[str, Any],
    *,
    columns: int = 4,
    path: str | Path | None = None,
) -> Figure:
    """One image through each defense (the study's Figure 4).

    Args:
        image: ``(C, H, W)`` or ``(1, C, H, W)`` in ``[0, 1]``.
        defenses: title -> defense module or callable; list several parameter values as
            separate entries (e.g. ``{"JPEG q=50": JPEG(50), "JPEG q=90": JPEG(90)}``).
        columns: panels per row.
    """
    plt = _pyplot()
    batch = image.unsqueeze(0) if image.ndim == 3 else image
    check_images(batch, "image")
    panels = {"original": batch, **{name: d(batch) for name, d in defenses.items()}}
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, out) in zip(axes.flat, panels.items()):
        ax.imshow(_to_hwc(out[0]), cmap="gray" if out.shape[1] == 1 else None, vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
    return _finish(fig, path)


def plot_adversarial_examples(
    x: torch.Tensor,
    x_adv: torch.Tensor,
    *,
    amplify: float | None = None,
    max_images: int = 4,
    path: str | Path | None = None,
) -> Figure:
    """Clean / adversarial / perturbation triplets, one row per image.

    The perturbation is shown as ``0.5 + amplify * (x_adv - x)``; by default ``amplify`` scales
    the largest perturbation of each row to the full range.
    """
    plt = _pyplot()
    check_images(x, "x")
    check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(
            f"x and x_adv must have the same shape; got {tuple(x.shape)} and {tuple(x_adv.shape)}"
        )
    n = min(max_images, x.shape[0])
    fig, axes = plt.subplots(n, 3, figsize=(7.2, 2.5 * n), squeeze=False)
    for i in range(n):
        delta = (x_adv[i] - x[i]).detach()
        scale = amplify if amplify is not None else 0.5 / max(float(delta.abs().max()), 1e-12)
        shown = (0.5 + scale * delta).clamp(0, 1)
        linf = float(delta.abs().max())
        for ax, img, title in zip(
            axes[i],
            (x[i], x_adv[i], shown),
            ("clean", "adversarial", f"perturbation x{scale:.0f} (L-inf {linf:.3f})"),
        ):
            ax.imshow(_to_hwc(img), cmap="gray" if x.shape[1] == 1 else None, vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    return _finish(fig, path)
