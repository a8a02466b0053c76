"""Functional forms of the defenses: plain functions of ``(B, C, H, W)`` tensors in [0, 1]
(and of volumes ``(B, C, D, H, W)`` for the smoothing defenses and identity)."""

from hermes.defenses.gaussian import gaussian_smoothing
from hermes.defenses.identity import identity
from hermes.defenses.jpeg import jpeg
from hermes.defenses.median import median_smoothing
from hermes.defenses.tvm import tvm

__all__ = ["gaussian_smoothing", "identity", "jpeg", "median_smoothing", "tvm"]
