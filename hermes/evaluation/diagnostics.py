"""Sanity checks of an evaluation (Carlini et al. 2019, "On Evaluating Adversarial Robustness").

A robustness number is suspect when hermes' own parts contradict it. The grid runs these checks
on every report and lists what fails in ``report.diagnostics``; each names its cell:

- ``"rises-with-eps"``: AUROC goes up as the budget grows (a bigger ball contains every point of
  a smaller one, so a working attack can only do better).
- ``"gradient-masking"``: a gradient-free attack (Square) beats every gradient attack on a cell:
  the gradients the attacks follow are masked or misleading.
- ``"adaptive-weaker"``: the adaptive number is above the gray-box (transfer) number of the same
  cell, or above one of the ensemble's own candidates: the attacker who knows the defense did
  worse than one who does not, so the adaptive attack is broken or too weak.
- ``"sanity-eps"``: at the large probe budget ``sanity_eps`` AUROC is not about 0 (an attack
  that can repaint the image must break any classifier; if it does not, it is not working).
  Checked where the attacker sees the whole pipeline: adaptive columns, and the undefended row
  of gray-box columns (a gray-box image scored through a defense it never saw may rightly fail).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

__all__ = ["SANITY_AUROC", "TOLERANCE", "Diagnostic", "find_diagnostics"]

TOLERANCE = 0.01  # AUROC differences below this are sampling noise, not a finding
SANITY_AUROC = 0.05  # the most AUROC the large-budget probe may leave ("about 0")

Cell = tuple[str, str, float]


@dataclass(frozen=True)
class Diagnostic:
    """One failed sanity check, naming its cell.

    Attributes:
        check: ``"rises-with-eps"``, ``"gradient-masking"``, ``"adaptive-weaker"`` or
            ``"sanity-eps"``.
        defense, attack: the report row and column.
        epsilon: the budget of the cell (for ``"rises-with-eps"``, the larger of the two).
        message: what was measured, in words.

    Example:
        >>> Diagnostic("sanity-eps", "TVM", "PGD", 0.5, "AUROC 0.400 at eps 0.5").to_dict()["check"]
        'sanity-eps'
    """

    check: str
    defense: str
    attack: str
    epsilon: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.check}] {self.defense} / {self.attack} / ε={self.epsilon:g}: {self.message}"


def find_diagnostics(
    auroc: Mapping[Cell, float],
    columns: Mapping[str, Mapping[str, Any]],
    *,
    candidate_auroc: Mapping[Cell, Mapping[str, float]] | None = None,
    sanity: Mapping[tuple[str, str], float] | None = None,
    sanity_eps: float | None = None,
    baseline: str = "None",
) -> list[Diagnostic]:
    """Every failed check over a grid of AUROC values.

    Args:
        auroc: ``(defense, column, epsilon) -> AUROC``, epsilon 0 being clean.
        columns: ``column -> {"attack": name, "threat_model": "gray-box" | "adaptive",
            "gradient_free": bool}``.
        candidate_auroc: for adaptive cells, each candidate's own AUROC.
        sanity: ``(defense, column) -> AUROC`` at ``sanity_eps``.
        baseline: the name of the undefended row.

    Example:
        >>> cells = {("TVM", "PGD", 0.0): 0.9, ("TVM", "PGD", 0.1): 0.3, ("TVM", "PGD", 0.2): 0.5}
        >>> [d.check for d in find_diagnostics(cells, {"PGD": {"attack": "PGD", "threat_model": "gray-box"}})]
        ['rises-with-eps']
    """
    found: list[Diagnostic] = []
    defenses = list(dict.fromkeys(d for d, _, _ in auroc))
    epsilons = sorted({e for _, _, e in auroc})
    for d in defenses:
        for column in columns:
            curve = [(e, auroc[d, column, e]) for e in epsilons if (d, column, e) in auroc]
            for (e0, v0), (e1, v1) in pairwise(curve):
                if v1 > v0 + TOLERANCE:
                    found.append(
                        Diagnostic(
                            "rises-with-eps",
                            d,
                            column,
                            e1,
                            f"AUROC rises from {v0:.3f} at ε={e0:g} to {v1:.3f}; a larger budget "
                            "can only help a working attack",
                        )
                    )
        for e in epsilons[1:]:
            found += _masking(auroc, columns, d, e)
            found += _adaptive_weaker(auroc, columns, candidate_auroc or {}, d, e)
    for (d, column), value in (sanity or {}).items():
        white_box = d == baseline or columns[column].get("threat_model") == "adaptive"
        if white_box and value > SANITY_AUROC:
            found.append(
                Diagnostic(
                    "sanity-eps",
                    d,
                    column,
                    float(sanity_eps or 0.0),
                    f"AUROC {value:.3f} at the probe budget ε={sanity_eps:g}, expected about 0 "
                    f"(<= {SANITY_AUROC}); the attack is not working through this defense",
                )
            )
    return found


def _masking(auroc, columns, d: str, e: float) -> list[Diagnostic]:
    found = []
    for threat in ("gray-box", "adaptive"):
        same = {c: v for c, v in columns.items() if v.get("threat_model") == threat}
        free = [c for c, v in same.items() if v.get("gradient_free") and (d, c, e) in auroc]
        gradient = [c for c, v in same.items() if not v.get("gradient_free") and (d, c, e) in auroc]
        if not free or not gradient:
            continue
        best_free = min(free, key=lambda c: auroc[d, c, e])
        best_gradient = min(gradient, key=lambda c: auroc[d, c, e])
        if auroc[d, best_free, e] < auroc[d, best_gradient, e] - TOLERANCE:
            found.append(
                Diagnostic(
                    "gradient-masking",
                    d,
                    best_free,
                    e,
                    f"gradient-free {best_free} reaches AUROC {auroc[d, best_free, e]:.3f}, below "
                    f"every gradient attack (best: {best_gradient} {auroc[d, best_gradient, e]:.3f}); "
                    "the gradients through this defense are masked or misleading",
                )
            )
    return found


def _adaptive_weaker(auroc, columns, candidate_auroc, d: str, e: float) -> list[Diagnostic]:
    found = []
    gray_box = {v["attack"]: c for c, v in columns.items() if v.get("threat_model") == "gray-box"}
    for column, info in columns.items():
        if info.get("threat_model") != "adaptive" or (d, column, e) not in auroc:
            continue
        value = auroc[d, column, e]
        rivals = dict(candidate_auroc.get((d, column, e), {}))
        twin = gray_box.get(info["attack"])
        if twin is not None and (d, twin, e) in auroc:
            rivals[f"gray-box {twin}"] = auroc[d, twin, e]
        if not rivals:
            continue
        name, best = min(rivals.items(), key=lambda item: item[1])
        if value > best + TOLERANCE:
            found.append(
                Diagnostic(
                    "adaptive-weaker",
                    d,
                    column,
                    e,
                    f"adaptive AUROC {value:.3f} is above {name}'s {best:.3f}; the adaptive "
                    "attack is weaker than one hermes already ran",
                )
            )
    return found
