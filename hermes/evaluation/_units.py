"""The units of work of an evaluation grid and how one unit is run.

A unit is one pass over the data:

- ``clean``: no attack; scored through every defense.
- (attack, eps) with ``threat`` ``"gray-box"``, ``"adaptive"`` or ``"both"``: per batch the
  attack is crafted once on the undefended model (the gray-box, or transfer, image). Gray-box:
  that image is scored through every defense. Adaptive: for each defense the worst case over the
  transfer image and the attack (and APGD) through every gradient mode of the defense is kept per
  example and scored (see :mod:`hermes.evaluation._worst_case`). ``"both"`` does both from one
  transfer image.

This module is the one place that knows which threat model a report column comes from.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hermes._random import derive_seed, seeded
from hermes.evaluation._batches import BatchSource
from hermes.evaluation._worst_case import TRANSFER, Candidate, build_candidates, craft, worst_case
from hermes.evaluation.adaptive import AdaptiveSettings
from hermes.tasks import task_scores

__all__ = ["ADAPTIVE", "BASELINE", "GRAY_BOX", "Unit", "plan_units", "run_unit", "unit_threats"]

BASELINE = "None"
GRAY_BOX, ADAPTIVE = "gray-box", "adaptive"


@dataclass(frozen=True)
class Unit:
    threat: str  # "clean", "gray-box", "adaptive" or "both"
    attack: str | None = None
    eps: float = 0.0
    defense: str | None = None  # names a defense only in the seeds of adaptive scoring

    def cache_key(self, factory_description: str | None) -> dict[str, Any]:
        return {
            "threat": self.threat,
            "attack": self.attack,
            "epsilon": self.eps,
            "defense": self.defense,
            "factory": factory_description,
        }


def unit_threats(threat_model: str) -> tuple[str, ...]:
    """The threat models whose columns a report of ``threat_model`` shows."""
    return (GRAY_BOX, ADAPTIVE) if threat_model == "both" else (threat_model,)


def plan_units(threat_model: str, attacks: list[str], epsilons: list[float]) -> list[Unit]:
    """Every unit the grid needs, each once: the clean pass and one per (attack, eps > 0)."""
    return [Unit("clean")] + [Unit(threat_model, a, e) for a in attacks for e in epsilons if e > 0]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _score(
    model: nn.Module, defense: nn.Module, x: torch.Tensor, seed: int, task: str
) -> torch.Tensor:
    with seeded(defense, seed):
        # float64: float32's sigmoid is exactly 1.0 above a logit of about 17, which would tie
        # confident positives and negatives and bias the AUROC
        return task_scores(model(defense(x)).double(), task).cpu()


def cell_candidates(
    unit: Unit,
    factory: Any,
    column_attack: Any,
    defenses: dict[str, nn.Module],
    model: nn.Module,
    settings: AdaptiveSettings,
) -> dict[str, list[Candidate]]:
    """The candidate attacks of each adaptive cell of ``unit``'s column, by defense name (see
    :func:`~hermes.evaluation._worst_case.build_candidates`)."""
    return {
        name: build_candidates(
            unit.attack,
            factory,
            column_attack,
            name,
            defense,
            model,
            unit.eps,
            settings,
            baseline=name == BASELINE,
        )
        for name, defense in defenses.items()
    }


def run_unit(
    unit: Unit,
    model: nn.Module,
    source: BatchSource,
    defenses: dict[str, nn.Module],
    factory: Any,
    seed: int,
    device: torch.device,
    progress: Any,
    settings: AdaptiveSettings,
    batches: range | None = None,
    task: str = "binary",
) -> dict[str, Any]:
    """Run one unit over all batches, or over the batches numbered in ``batches`` (a part of the
    unit; every batch's seeds depend only on its number, so parts put together in order equal
    the whole unit; the other batches are still read, not computed).

    ``task`` (see :mod:`hermes.tasks`) decides the scores: ``(B,)`` positive-class
    probabilities for a binary model, ``(B, K)`` class or label probabilities otherwise.

    Returns a dict with ``labels``; ``scores[threat][defense]`` (``threat`` is ``"clean"``,
    ``"gray-box"`` or ``"adaptive"``); for adaptive units ``candidates[defense][name]`` (each
    candidate's own scores) and ``wins[defense][name]``; and timings.
    """
    threats = () if unit.threat == "clean" else unit_threats(unit.threat)
    gray_unit = Unit(GRAY_BOX, unit.attack, unit.eps)  # its seeds make the transfer image
    transfer_attack = factory(model, unit.eps) if threats else None
    need_transfer = GRAY_BOX in threats or (ADAPTIVE in threats and settings.transfer)
    cells = {}
    if ADAPTIVE in threats:
        cells = cell_candidates(unit, factory, transfer_attack, defenses, model, settings)

    scores: dict[str, dict[str, list[torch.Tensor]]] = {}
    candidates: dict[str, dict[str, list[torch.Tensor]]] = {d: {} for d in cells}
    wins: dict[str, Counter] = {d: Counter() for d in cells}
    attack_seconds = {GRAY_BOX: 0.0, ADAPTIVE: dict.fromkeys(cells, 0.0)}
    defense_seconds = dict.fromkeys(defenses, 0.0)
    defense_images = dict.fromkeys(defenses, 0)  # images pushed through each defense
    labels = []
    for index, (x, y) in enumerate(source):
        if batches is not None and index not in batches:
            if index >= batches.stop:
                break
            continue
        x, y = x.to(device), y.to(device)
        x_transfer, transfer_seconds = x, 0.0
        if need_transfer:
            start = time.perf_counter()
            with seeded(transfer_attack, derive_seed(seed, "attack", gray_unit, index)):
                x_transfer = transfer_attack(x, y)
            _synchronize(device)
            transfer_seconds = time.perf_counter() - start
        if unit.threat == "clean" or GRAY_BOX in threats:
            key = "clean" if unit.threat == "clean" else GRAY_BOX
            attack_seconds[GRAY_BOX] += transfer_seconds
            with torch.no_grad():
                for name, defense in defenses.items():
                    start = time.perf_counter()
                    seed_unit = unit if unit.threat == "clean" else gray_unit
                    s = _score(
                        model,
                        defense,
                        x_transfer,
                        derive_seed(seed, "defense", name, seed_unit, index),
                        task,
                    )
                    _synchronize(device)
                    defense_seconds[name] += time.perf_counter() - start
                    defense_images[name] += x.shape[0]
                    scores.setdefault(key, {}).setdefault(name, []).append(s)
        for name, cell in cells.items():
            defense = defenses[name]
            images = {TRANSFER: x_transfer} if settings.transfer else {}
            spent = transfer_seconds
            for candidate in cell:
                images[candidate.name], seconds = craft(
                    candidate,
                    defense,
                    x,
                    y,
                    derive_seed(
                        seed,
                        "attack",
                        Unit(ADAPTIVE, unit.attack, unit.eps, name),
                        candidate.name,
                        index,
                    ),
                )
                spent += seconds
            attack_seconds[ADAPTIVE][name] += spent
            start = time.perf_counter()
            chosen, per_candidate, winners = worst_case(
                model,
                defense,
                images,
                y,
                score_seed=derive_seed(
                    seed, "defense", name, Unit(ADAPTIVE, unit.attack, unit.eps, name), index
                ),
                selection_draws=settings.selection_draws,
                task=task,
            )
            _synchronize(device)
            defense_seconds[name] += time.perf_counter() - start
            defense_images[name] += x.shape[0] * len(images)
            scores.setdefault(ADAPTIVE, {}).setdefault(name, []).append(chosen)
            for candidate_name, s in per_candidate.items():
                candidates[name].setdefault(candidate_name, []).append(s)
            names = list(images)
            wins[name].update(names[i] for i in winners.tolist())
        labels.append(y.cpu() if y.ndim == 2 else y.cpu().long())  # multi-label targets stay float
        progress.update(1)
    return {
        "labels": torch.cat(labels),
        "gradient_free": bool(getattr(transfer_attack, "gradient_free", False)),
        "scores": {t: {d: torch.cat(s) for d, s in per.items()} for t, per in scores.items()},
        "candidates": {
            d: {c: torch.cat(s) for c, s in per.items()} for d, per in candidates.items()
        },
        "wins": {d: {c: int(wins[d][c]) for c in candidates[d]} for d in cells},
        "attack_seconds": attack_seconds,
        "defense_seconds": {d: [defense_seconds[d], defense_images[d]] for d in defenses},
    }
