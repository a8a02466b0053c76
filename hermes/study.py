"""The HERMES study's protocol as data: its epsilons, attacks and defense grid.

Use these to rerun the study's grid on any model, or as a starting point for your own.
hermes keeps the study's settings except where its code had defects (see ``docs/reproducing.md``):
PGD uses the standard step ``2.5 * eps / steps`` instead of a fixed 0.1 that jumps to a corner of
every ball, and randomised defenses are seeded (inside :func:`hermes.evaluate_robustness`, which
derives each batch's TVM mask from its ``seed``; used on their own, the defenses here draw fresh
masks unless given a generator).

Example:
    >>> from hermes.study import STUDY_EPSILONS, study_defenses
    >>> STUDY_EPSILONS[:3]
    (0.01, 0.02, 0.03)
    >>> list(study_defenses())[:3]
    ['Gaussian k3 s0.2', 'Gaussian k3 s0.4', 'Gaussian k3 s0.6']
"""

from __future__ import annotations

from functools import partial

from hermes.attacks import FGSM, PGD
from hermes.defenses import JPEG, TVM, GaussianSmoothing, MedianSmoothing
from hermes.defenses._base import Defense

__all__ = [
    "HEADLINE_DEFENSES",
    "STUDY_EPSILONS",
    "STUDY_PGD_STEPS",
    "study_attacks",
    "study_defenses",
]

STUDY_EPSILONS: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(1, 11))
"""Epsilon 0.01 to 0.10 in steps of 0.01 (pixel units)."""

STUDY_PGD_STEPS = 30
"""PGD iterations in the study."""

HEADLINE_DEFENSES = ("Gaussian k3 s0.8", "JPEG q50", "Median w5", "TVM p0.3")
"""The defense settings of the study's headline table."""


def study_attacks(pgd_steps: int = STUDY_PGD_STEPS) -> dict:
    """FGSM and PGD as in the study: untargeted L-inf, true labels, no random start."""
    return {"FGSM": FGSM, "PGD": partial(PGD, steps=pgd_steps, random_start=False)}


def study_defenses(*, tvm_steps: int | None = None) -> dict[str, Defense]:
    """The study's defense grid: Gaussian k in {3, 5} x sigma in {0.2, 0.4, 0.6, 0.8}; JPEG
    q in {50, 70, 90}; median w in {3, 5}; TVM with keep probability 0.3, norm 2, lambda 0.5.

    The study ran 10 L-BFGS-B iterations of TVM per image; hermes' batched solver needs about 16
    of its (cheaper) steps to reach an objective no higher on histology, which is ``TVM``'s
    default and what ``tvm_steps=None`` keeps (see ``docs/defenses.md``).
    """
    defenses: dict[str, Defense] = {}
    for k in (3, 5):
        for sigma in (0.2, 0.4, 0.6, 0.8):
            defenses[f"Gaussian k{k} s{sigma}"] = GaussianSmoothing(k, sigma)
    for q in (50, 70, 90):
        defenses[f"JPEG q{q}"] = JPEG(q)
    for w in (3, 5):
        defenses[f"Median w{w}"] = MedianSmoothing(w)
    steps = {} if tvm_steps is None else {"steps": tvm_steps}
    defenses["TVM p0.3"] = TVM(keep_prob=0.3, lamb=0.5, norm=2, **steps)
    return defenses
