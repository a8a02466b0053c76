"""Gradient attacks in pixel space: FGSM and PGD (L-inf, L2), as modules and functions."""

from hermes.attacks.base import Attack
from hermes.attacks.fgsm import FGSM
from hermes.attacks.pgd import PGD

__all__ = ["FGSM", "PGD", "Attack"]
