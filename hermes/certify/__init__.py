"""Certified robustness: randomized smoothing (Cohen, Rosenfeld & Kolter 2019).

- :class:`RandomizedSmoothing`: the smoothed classifier, ``predict`` and ``certify``.
- :func:`evaluate_certified` -> :class:`CertificationReport`: certified accuracy (and certified
  AUROC for binary tasks) against the L2 radius, beside the smoothed classifier's accuracy
  and AUROC under PGD-L2 + EOT at the same radii.
- :func:`certified_accuracy`, :func:`certified_auroc`: the curves from certificates.
- :class:`GaussianNoise`: the smoothing noise as a module, for attacks with EOT.
"""

from hermes.certify.curves import certified_accuracy, certified_auroc
from hermes.certify.evaluate import evaluate_certified
from hermes.certify.noise import GaussianNoise
from hermes.certify.report import CertificationReport
from hermes.certify.smoothing import RandomizedSmoothing

__all__ = [
    "CertificationReport",
    "GaussianNoise",
    "RandomizedSmoothing",
    "certified_accuracy",
    "certified_auroc",
    "evaluate_certified",
]
