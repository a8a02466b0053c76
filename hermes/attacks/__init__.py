"""Attacks in pixel space: FGSM, PGD and APGD (L-inf, L2, EOT) and the gradient-free Square, as
modules and functions, and BPDA to attack through non-differentiable preprocessing."""

from hermes.attacks.apgd import APGD
from hermes.attacks.base import Attack, get_attack, list_attacks
from hermes.attacks.bpda import BPDA
from hermes.attacks.fgsm import FGSM
from hermes.attacks.pgd import PGD
from hermes.attacks.square import Square

__all__ = ["APGD", "BPDA", "FGSM", "PGD", "Attack", "Square", "get_attack", "list_attacks"]
