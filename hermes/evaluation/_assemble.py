"""Turn the scores of finished units into a :class:`RobustnessReport`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hermes.evaluation import metrics
from hermes.evaluation._units import BASELINE, Unit
from hermes.evaluation.grid_values import MetricGrid
from hermes.evaluation.report import RobustnessReport

__all__ = ["ADAPTIVE_SUFFIX", "assemble_report"]

ADAPTIVE_SUFFIX = " [adaptive]"


def _columns(threat_model: str, attacks: list[str]) -> list[tuple[str, str, str]]:
    """(report column name, attack name, threat) for every attack column of the report."""
    if threat_model == "both":
        return [(a, a, "gray-box") for a in attacks] + [
            (a + ADAPTIVE_SUFFIX, a, "adaptive") for a in attacks
        ]
    return [(a, a, threat_model) for a in attacks]


def _unit_for(threat: str, attack: str, eps: float, defense: str, threat_model: str) -> Unit:
    if eps == 0:
        return Unit("clean")
    if threat == "gray-box" or (defense == BASELINE and threat_model == "both"):
        return Unit("gray-box", attack, eps)
    return Unit("adaptive", attack, eps, defense)


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
    ci: dict = {}
    scores: dict = {}
    columns = _columns(threat_model, attacks)
    for d in defenses:
        clean_scores = clean["scores"][d].numpy()
        for column, attack, threat in columns:
            for e in epsilons:
                s = results[_unit_for(threat, attack, e, d, threat_model)]["scores"][d].numpy()
                key = (d, column, e)
                scores[key] = s
                values["auroc"][key] = metrics.auroc(labels, s)
                values["accuracy"][key] = metrics.accuracy(labels, s)
                values["success_rate"][key] = metrics.success_rate(labels, clean_scores, s)
                if counts is not None:
                    ci[key] = metrics.bootstrap_interval(labels, s, counts, ci_level)

    defense_seconds = dict.fromkeys(defenses, 0.0)
    defense_passes = dict.fromkeys(defenses, 0)
    attack_seconds: dict[str, dict[str, list[float]]] = {c: {} for c, _, _ in columns}
    for unit, result in results.items():
        for d, seconds in result["defense_seconds"].items():
            defense_seconds[d] += seconds
            defense_passes[d] += 1
        if unit.threat != "clean":
            column = unit.attack + (
                ADAPTIVE_SUFFIX if threat_model == "both" and unit.threat == "adaptive" else ""
            )
            attack_seconds[column].setdefault(str(unit.eps), []).append(
                result["attack_seconds"] / n
            )
    timing = {
        "defense": {d: defense_seconds[d] / (n * defense_passes[d]) for d in defenses},
        "attack": {
            c: {e: float(np.mean(v)) for e, v in per_eps.items()}
            for c, per_eps in attack_seconds.items()
        },
    }
    return RobustnessReport(
        auroc=MetricGrid("auroc", values["auroc"]),
        accuracy=MetricGrid("accuracy", values["accuracy"]),
        success_rate=MetricGrid("success_rate", values["success_rate"]),
        ci=MetricGrid("ci", ci) if counts is not None else None,
        threat_model=threat_model,
        n_samples=int(n),
        n_positive=int(np.sum(labels == 1)),
        timing=timing,
        metadata={
            **metadata,
            "columns": {c: {"attack": a, "threat_model": t} for c, a, t in columns},
        },
        labels=labels,
        scores=scores,
    )
