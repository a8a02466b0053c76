"""Gradient attacks in pixel space: FGSM and PGD (L-inf, L2, EOT), as modules and functions, and
BPDA to attack through non-differentiable preprocessing."""

from hermes.attacks.base import Attack
from hermes.attacks.bpda import BPDA
from hermes.attacks.fgsm import FGSM
from hermes.attacks.pgd import PGD

__all__ = ["BPDA", "FGSM", "PGD", "Attack"]
