"""The units of work of an evaluation grid and how one unit is run.

A unit is one pass over the data that crafts (or not) adversarial images once and scores them
through one or more defenses:

- ``clean``: no attack; scored through every defense.
- ``gray-box`` (attack, eps): crafted on the undefended model; scored through every defense.
- ``adaptive`` (attack, eps, defense): crafted on ``nn.Sequential(defense, model)`` (BPDA/EOT via
  the defense's gradient mode and the attack's ``eot_samples``); scored through that defense.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hermes._random import derive_seed, seeded
from hermes.evaluation._batches import BatchSource
from hermes.models.scores import positive_class_scores

__all__ = ["Unit", "plan_units", "run_unit"]

BASELINE = "None"


@dataclass(frozen=True)
class Unit:
    threat: str  # "clean", "gray-box" or "adaptive"
    attack: str | None = None
    eps: float = 0.0
    defense: str | None = None  # the attacked defense (adaptive units only)

    def cache_key(self, factory_description: str | None) -> dict[str, Any]:
        return {
            "threat": self.threat,
            "attack": self.attack,
            "epsilon": self.eps,
            "defense": self.defense,
            "factory": factory_description,
        }


def plan_units(
    threat_model: str, attacks: list[str], epsilons: list[float], defenses: list[str]
) -> list[Unit]:
    """Every unit the grid needs, each once."""
    units = [Unit("clean")]
    nonzero = [e for e in epsilons if e > 0]
    if threat_model in ("gray-box", "both"):
        units += [Unit("gray-box", a, e) for a in attacks for e in nonzero]
    if threat_model in ("adaptive", "both"):
        for a in attacks:
            for e in nonzero:
                for d in defenses:
                    if d == BASELINE and threat_model == "both":
                        continue  # an adaptive attack on no defense is the gray-box attack
                    units.append(Unit("adaptive", a, e, d))
    return units


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_unit(
    unit: Unit,
    model: nn.Module,
    source: BatchSource,
    defenses: dict[str, nn.Module],
    factory: Any,
    seed: int,
    device: torch.device,
    progress: Any,
) -> dict[str, Any]:
    """Run one unit over all batches; return scores per scored defense, labels and timings."""
    scored = {unit.defense: defenses[unit.defense]} if unit.threat == "adaptive" else defenses
    attack = None
    if unit.threat == "gray-box":
        attack = factory(model, unit.eps)
    elif unit.threat == "adaptive":
        target = model if unit.defense == BASELINE else nn.Sequential(defenses[unit.defense], model)
        attack = factory(target, unit.eps)

    scores: dict[str, list[torch.Tensor]] = {name: [] for name in scored}
    defense_seconds = dict.fromkeys(scored, 0.0)
    attack_seconds = 0.0
    labels = []
    for index, (x, y) in enumerate(source):
        x, y = x.to(device), y.to(device)
        if attack is not None:
            start = time.perf_counter()
            with seeded(attack, derive_seed(seed, "attack", unit, index)):
                x = attack(x, y)
            _synchronize(device)
            attack_seconds += time.perf_counter() - start
        with torch.no_grad():
            for name, defense in scored.items():
                start = time.perf_counter()
                with seeded(defense, derive_seed(seed, "defense", name, unit, index)):
                    defended = defense(x)
                _synchronize(device)
                defense_seconds[name] += time.perf_counter() - start
                # float64: float32's sigmoid is exactly 1.0 above a logit of about 17, which would tie
                # confident positives and negatives and bias the AUROC
                scores[name].append(positive_class_scores(model(defended).double()).cpu())
        labels.append(y.cpu().long())
        progress.update(1)
    return {
        "scores": {name: torch.cat(s) for name, s in scores.items()},
        "labels": torch.cat(labels),
        "attack_seconds": attack_seconds,
        "defense_seconds": defense_seconds,
    }
