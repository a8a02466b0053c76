"""Turn the scores of finished units into a :class:`RobustnessReport`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hermes.evaluation import metrics
from hermes.evaluation._cell_metrics import cell_auroc, cell_metrics
from hermes.evaluation._units import ADAPTIVE, BASELINE, GRAY_BOX, Unit, unit_threats
from hermes.evaluation.diagnostics import find_diagnostics
from hermes.evaluation.metric_grid import MetricGrid
from hermes.evaluation.report import RobustnessReport

__all__ = ["ADAPTIVE_SUFFIX", "assemble_report"]

ADAPTIVE_SUFFIX = " [adaptive]"


def _columns(threat_model: str, attacks: list[str]) -> list[tuple[str, str, str]]:
    """(report column name, attack name, threat) for every attack column of the report."""
    threats = unit_threats(threat_model)
    suffix = {GRAY_BOX: "", ADAPTIVE: ADAPTIVE_SUFFIX if threat_model == "both" else ""}
    return [(a + suffix[t], a, t) for t in threats for a in attacks]


def assemble_report(
    results: dict[Unit, dict[str, Any]],
    *,
    threat_model: str,
    attacks: list[str],
    epsilons: list[float],
    defenses: list[str],
    bootstrap: int,
    ci_level: float,
    seed: int,
    metadata: dict[str, Any],
    sanity_eps: float | None = None,
    task: str = "binary",
) -> RobustnessReport:
    clean = results[Unit("clean")]
    labels = clean["labels"].numpy()
    n = labels.shape[0]
    for unit, result in results.items():
        if not torch.equal(result["labels"], clean["labels"]):
            raise RuntimeError(
                f"data yielded other labels in unit {unit} than in the clean pass; "
                "evaluate on an unshuffled DataLoader"
            )
    counts = metrics.bootstrap_counts(n, bootstrap, seed) if bootstrap else None
    values: dict[str, dict] = {"auroc": {}, "accuracy": {}, "success_rate": {}}
    per_class: dict = {}
    ci: dict = {}
    scores: dict = {}
    selection: dict = {}
    candidate_auroc: dict = {}
    sanity: dict = {}
    columns = _columns(threat_model, attacks)
    for d in defenses:
        clean_scores = clean["scores"]["clean"][d].numpy()
        for column, attack, threat in columns:
            smaller: dict[str, tuple[np.ndarray, dict[str, int]]] = {}  # adaptive cells so far
            smaller_auroc: dict[str, float] = {}  # and their AUROC
            for e in epsilons:
                result = results[Unit(threat_model, attack, e)] if e > 0 else clean
                s = result["scores"]["clean" if e == 0 else threat][d].numpy()
                key = (d, column, e)
                if e > 0 and threat == ADAPTIVE:
                    candidates = {c: cs.numpy() for c, cs in result["candidates"][d].items()}
                    candidate_auroc[key] = {
                        c: cell_auroc(labels, cs, task) for c, cs in candidates.items()
                    }
                    s, selection[key] = strongest(
                        labels, task, s, dict(result["wins"][d]), candidates, smaller,
                        known={**candidate_auroc[key], **smaller_auroc},
                    )  # fmt: skip
                    smaller[f"ε={e:g}"] = (s, selection[key])
                scores[key] = s
                cell = cell_metrics(labels, s, clean_scores, task, counts, ci_level)
                for name in values:
                    values[name][key] = cell[name]
                if cell["per_class"] is not None:
                    per_class[key] = cell["per_class"]
                if counts is not None:
                    ci[key] = cell["ci"]
                if e > 0 and threat == ADAPTIVE:
                    smaller_auroc[f"ε={e:g}"] = cell["auroc"]
            if sanity_eps is not None:
                probe = results[Unit(threat_model, attack, sanity_eps)]
                sanity[(d, column)] = cell_auroc(labels, probe["scores"][threat][d].numpy(), task)

    column_info = {
        c: {
            "attack": a,
            "threat_model": t,
            "gradient_free": any(
                r.get("gradient_free", False) for u, r in results.items() if u.attack == a
            ),
        }
        for c, a, t in columns
    }
    auroc = MetricGrid("auroc", values["auroc"])
    return RobustnessReport(
        auroc=auroc,
        accuracy=MetricGrid("accuracy", values["accuracy"]),
        success_rate=MetricGrid("success_rate", values["success_rate"]),
        ci=MetricGrid("ci", ci) if counts is not None else None,
        threat_model=threat_model,
        n_samples=int(n),
        n_positive=int(np.sum(labels == 1)) if task == "binary" else None,
        task=task,
        per_class_auroc=per_class or None,
        timing=_timing(results, columns, defenses, n),
        metadata={**metadata, "columns": column_info},
        labels=labels,
        scores=scores,
        selection=selection or None,
        candidate_auroc=candidate_auroc or None,
        sanity={"epsilon": sanity_eps, "auroc": sanity} if sanity_eps is not None else None,
        diagnostics=find_diagnostics(
            auroc,
            column_info,
            candidate_auroc=candidate_auroc,
            sanity=sanity,
            sanity_eps=sanity_eps,
            baseline=BASELINE,
        ),
    )


def strongest(
    labels: np.ndarray,
    task: str,
    worst: np.ndarray,
    wins: dict[str, int],
    candidates: dict[str, np.ndarray],
    smaller: dict[str, tuple[np.ndarray, dict[str, int]]],
    known: dict[str, float] | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """The scores an adaptive cell reports, and which candidates they come from.

    The per-example worst case (``worst``, its ``wins``) is the cell unless an attack hermes
    already ran reaches a lower AUROC: one candidate applied to every example (a per-example
    choice lowers every pairwise comparison of a binary AUROC through a deterministic defense,
    but not a multi-class or multi-label macro AUROC, nor any AUROC through a randomised
    defense), or the same column's cell at a smaller epsilon (its images are inside this budget
    too). The lowest AUROC wins; ties keep the earlier option, so the worst case is kept
    whenever no option is strictly stronger. ``known`` holds AUROCs already computed, keyed
    by candidate name or by the epsilon keys of ``smaller``; the others are computed here.
    """
    known = known or {}
    n = labels.shape[0]
    options = [(None, worst, wins)]
    options += [(name, scores, {name: n}) for name, scores in candidates.items()]
    options += [
        (eps, scores, {f"{name} ({eps})": count for name, count in chosen.items()})
        for eps, (scores, chosen) in smaller.items()
    ]
    values = [
        known[name] if name in known else cell_auroc(labels, scores, task)
        for name, scores, _ in options
    ]
    ranked = [math.inf if math.isnan(v) else v for v in values]
    _, scores, chosen = options[ranked.index(min(ranked))]
    return scores, chosen


def _timing(
    results: dict[Unit, dict[str, Any]],
    columns: list[tuple[str, str, str]],
    defenses: list[str],
    n: int,
) -> dict[str, Any]:
    """Seconds per image: each defense's scoring pass, each attack column's crafting per eps."""
    defense_seconds = dict.fromkeys(defenses, 0.0)
    defense_images = dict.fromkeys(defenses, 0)
    for result in results.values():
        for d, (seconds, images) in result["defense_seconds"].items():
            defense_seconds[d] += seconds
            defense_images[d] += images
    attack: dict[str, dict[str, float]] = {c: {} for c, _, _ in columns}
    for unit, result in results.items():
        if unit.threat == "clean":
            continue
        for column, a, threat in columns:
            if a != unit.attack:
                continue
            spent = result["attack_seconds"][threat]
            per_defense = list(spent.values()) if isinstance(spent, dict) else [spent]
            attack[column][str(unit.eps)] = float(np.mean(per_defense)) / n
    return {
        "defense": {
            d: defense_seconds[d] / defense_images[d] if defense_images[d] else 0.0
            for d in defenses
        },
        "attack": attack,
    }
