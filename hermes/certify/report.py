"""What :func:`~hermes.certify.evaluate_certified` returns: curves against the L2 radius.

Example:
    >>> import torch
    >>> report = CertificationReport(
    ...     radii=[0.0, 0.5], certified_accuracy=[0.8, 0.4], certified_auroc=None,
    ...     empirical_accuracy=[0.85, 0.6], empirical_auroc=None,
    ...     classes=torch.tensor([1, 0]), radius=torch.tensor([0.7, 0.2]),
    ...     labels=torch.tensor([1, 0]), metadata={"sigma": 0.25})
    >>> print(report.table())
    | radius | certified accuracy | empirical accuracy |
    |---:|---:|---:|
    | 0 | 0.800 | 0.850 |
    | 0.5 | 0.400 | 0.600 |
    >>> CertificationReport.from_json(report.to_json()) == report
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hermes._files import write_atomic

__all__ = ["CertificationReport"]

CURVES = ("certified_accuracy", "certified_auroc", "empirical_accuracy", "empirical_auroc")


@dataclass(eq=False)
class CertificationReport:
    """Certified and empirical curves of one smoothed classifier, and its per-image certificates.

    Attributes:
        radii: L2 radii (pixel units), ascending.
        certified_accuracy: fraction of images certified correct at each radius.
        certified_auroc: binary tasks: the guaranteed AUROC lower bound at each radius
            (:func:`~hermes.certify.certified_auroc`); ``None`` otherwise.
        empirical_accuracy: the smoothed classifier's accuracy under PGD-L2 + EOT of each
            radius; ``None`` when no attack was run.
        empirical_auroc: binary tasks: its AUROC there (scores: the share of noise draws voting
            class 1); ``None`` otherwise.
        classes: ``(N,)`` certified class per image (``-1`` abstain).
        radius: ``(N,)`` certified radius per image.
        labels: ``(N,)`` true classes.
        metadata: sigma and the certification and attack settings.
        diagnostics: failed sanity checks (a certificate an attack refuted), empty when none.
    """

    radii: list[float]
    certified_accuracy: list[float]
    certified_auroc: list[float] | None
    empirical_accuracy: list[float] | None
    empirical_auroc: list[float] | None
    classes: torch.Tensor
    radius: torch.Tensor
    labels: torch.Tensor
    metadata: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[str] = field(default_factory=list)

    def curves(self) -> dict[str, list[float]]:
        """The curves this report has, by name (each one value per radius)."""
        return {name: getattr(self, name) for name in CURVES if getattr(self, name) is not None}

    def table(self) -> str:
        """A Markdown table: one row per radius, one column per curve, then any diagnostics."""
        curves = self.curves()
        header = "| radius | " + " | ".join(n.replace("_", " ") for n in curves) + " |"
        rule = "|---:|" + "---:|" * len(curves)
        rows = [
            f"| {r:g} | " + " | ".join(f"{values[i]:.3f}" for values in curves.values()) + " |"
            for i, r in enumerate(self.radii)
        ]
        notes = [f"\nSanity check failed: {d}" for d in self.diagnostics]
        return "\n".join([header, rule, *rows, *notes])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tensors as lists)."""
        return {
            "radii": list(self.radii),
            **{name: getattr(self, name) for name in CURVES},
            "classes": self.classes.tolist(),
            "radius": self.radius.tolist(),
            "labels": self.labels.tolist(),
            "metadata": self.metadata,
            "diagnostics": list(self.diagnostics),
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON text; also written (atomically) to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_atomic(path, text.encode())
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> CertificationReport:
        """A report from :meth:`to_json`'s text or a file holding it."""
        text = source if isinstance(source, str) and source.lstrip().startswith("{") else None
        if text is None:
            text = Path(source).read_text()
        values = json.loads(text)
        return cls(
            radii=values["radii"],
            **{name: values[name] for name in CURVES},
            classes=torch.tensor(values["classes"], dtype=torch.long),
            radius=torch.tensor(values["radius"], dtype=torch.float64),
            labels=torch.tensor(values["labels"], dtype=torch.long),
            metadata=values["metadata"],
            diagnostics=values["diagnostics"],
        )

    def plot(self, **kwargs: Any):
        """:func:`hermes.plotting.plot_certified_curves` of this report."""
        from hermes.plotting import plot_certified_curves

        return plot_certified_curves(self, **kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CertificationReport):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (
            f"CertificationReport({len(self.labels)} images, sigma={self.metadata.get('sigma')}, "
            f"radii={self.radii})"
        )
