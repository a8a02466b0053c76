"""The adaptive cell's candidates and the per-example worst case over them.

For one (attack, epsilon) and one defense, :func:`build_candidates` lists the attacks to run
(the column's attack through every gradient mode of the defense, and APGD likewise), and
:func:`worst_case` picks, per example, the candidate image with the lowest true-class margin
through the defense and scores it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hermes._losses import true_class_margin
from hermes._random import derive_seed, has_generators, seeded
from hermes.attacks.apgd import APGD
from hermes.attacks.base import Attack
from hermes.evaluation.adaptive import AS_GIVEN, AdaptiveSettings, candidate_modes
from hermes.tasks import task_scores

__all__ = ["TRANSFER", "Candidate", "build_candidates", "gradient_mode", "worst_case"]

TRANSFER = "transfer"


@dataclass(frozen=True)
class Candidate:
    """One attack of an adaptive cell: its name, the gradient mode, the attack itself, and the
    EOT draws it runs with (``None``: as built)."""

    name: str
    mode: str
    attack: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    eot_samples: int | None = None


@contextmanager
def gradient_mode(defense: nn.Module, mode: str) -> Iterator[None]:
    """Set ``defense.gradient`` to ``mode`` for the block (``"as-given"`` leaves it alone)."""
    if mode == AS_GIVEN:
        yield
        return
    saved = defense.gradient
    defense.gradient = mode
    try:
        yield
    finally:
        defense.gradient = saved


@contextmanager
def eot_draws(attack: Any, samples: int | None) -> Iterator[None]:
    """Run ``attack`` with ``samples`` EOT draws for the block (``None`` leaves it alone); the
    attack object the user's factory returned gets its own setting back."""
    if samples is None:
        yield
        return
    saved = attack.eot_samples
    attack.eot_samples = samples
    try:
        yield
    finally:
        attack.eot_samples = saved


def _is_gradient_free(attack: Any) -> bool:
    return bool(getattr(attack, "gradient_free", False))


def _apgd_norm(attack: Any) -> str | None:
    """The norm an APGD candidate should use for ``attack``'s column, or None for no APGD."""
    if isinstance(attack, APGD) or _is_gradient_free(attack) or getattr(attack, "targeted", False):
        return None
    norm = getattr(attack, "norm", None)
    if norm is None and isinstance(attack, Attack):
        norm = "inf"  # FGSM: the one hermes attack without a norm setting
    return None if norm is None else str(norm)


def build_candidates(
    attack_name: str,
    factory: Callable[[nn.Module, float], Any],
    column_attack: Any,
    defense_name: str,
    defense: nn.Module,
    model: nn.Module,
    eps: float,
    settings: AdaptiveSettings,
    *,
    baseline: bool,
) -> list[Candidate]:
    """The attacks of one adaptive cell (the transfer image is not among them: it is shared).

    ``column_attack`` is the column's attack built on the undefended model (the transfer
    attack); its settings decide whether an APGD candidate is added and with which norm.
    """
    target = model if baseline else nn.Sequential(defense, model)
    randomised = has_generators(defense)
    modes = candidate_modes(defense_name, defense, settings)
    if _is_gradient_free(column_attack):
        modes = modes[:1]  # its queries never use the backward pass
    candidates = []
    for mode in modes:
        if not (baseline and settings.transfer):  # on no defense, the transfer image is this
            attack = factory(target, eps)
            eot = None
            if randomised and isinstance(getattr(attack, "eot_samples", None), int):
                eot = max(attack.eot_samples, settings.eot_samples)
            candidates.append(Candidate(f"{attack_name}/{mode}", mode, attack, eot))
        norm = _apgd_norm(column_attack)
        if settings.apgd_steps is not None and norm is not None:
            apgd = APGD(
                target,
                eps,
                steps=settings.apgd_steps,
                norm=norm,
                loss="margin",
                eot_samples=settings.eot_samples if randomised else 1,
            )
            candidates.append(Candidate(f"APGD/{mode}", mode, apgd))
    return candidates


def craft(
    candidate: Candidate, defense: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int
) -> tuple[torch.Tensor, float]:
    """Run one candidate attack on a batch; return its images and the seconds it took."""
    start = time.perf_counter()
    with (
        gradient_mode(defense, candidate.mode),
        eot_draws(candidate.attack, candidate.eot_samples),
        seeded(candidate.attack, seed),
    ):
        images = candidate.attack(x, y)
    if images.device.type == "cuda":
        torch.cuda.synchronize(images.device)
    return images.detach(), time.perf_counter() - start


@torch.no_grad()
def worst_case(
    model: nn.Module,
    defense: nn.Module,
    images: dict[str, torch.Tensor],
    y: torch.Tensor,
    *,
    score_seed: int,
    selection_draws: int,
    task: str = "binary",
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Per example, the candidate image that hurts the model most through ``defense``.

    Every candidate is scored under the same draw of the defense's randomness (``score_seed``).
    A deterministic defense's candidates are judged by the margin of that same pass; a randomised
    one's by the margin averaged over ``selection_draws`` further draws, the same draws for every
    candidate, so the scoring draw stays fresh.

    The margin is :func:`~hermes._losses.true_class_margin`'s for every task (for multi-label
    targets the smallest signed logit over the labels: the example's weakest label).

    Returns:
        ``(scores, candidate_scores, winners)``: the float64 scores of the winners
        (:func:`~hermes.tasks.task_scores` of ``task``: ``(B,)`` binary, ``(B, K)`` otherwise),
        every candidate's own scores, and the ``(B,)`` index of each example's winning
        candidate in ``images``' order.
    """
    randomised = has_generators(defense)
    candidate_scores, margins = {}, []
    for name, x_adv in images.items():
        with seeded(defense, score_seed):
            logits = model(defense(x_adv)).double()
        candidate_scores[name] = task_scores(logits, task).cpu()
        if not randomised:
            margins.append(true_class_margin(logits, y))
            continue
        total = torch.zeros(x_adv.shape[0], dtype=torch.float64, device=logits.device)
        for draw in range(selection_draws):
            with seeded(defense, derive_seed(score_seed, "selection", draw)):
                total += true_class_margin(model(defense(x_adv)).double(), y)
        margins.append(total / selection_draws)
    winners = torch.stack(margins).argmin(dim=0).cpu()  # ties go to the first candidate
    stacked = torch.stack(list(candidate_scores.values()))  # (candidates, B) or (candidates, B, K)
    scores = stacked[winners, torch.arange(winners.numel())]
    return scores, candidate_scores, winners
