"""Functional attacks: plain functions of a model, images in [0, 1] and labels.

Each lives beside its module (:mod:`hermes.attacks.pgd`, ...) and is gathered here, as
``torch.nn.functional`` gathers torch's; a function checks its arguments like the module and
runs the same operation.
"""

from hermes.attacks._checks import normalize_norm
from hermes.attacks.apgd import apgd
from hermes.attacks.fgsm import fgsm
from hermes.attacks.pgd import default_alpha, pgd
from hermes.attacks.square import square

__all__ = [
    "apgd",
    "default_alpha",
    "fgsm",
    "normalize_norm",
    "pgd",
    "square",
]
