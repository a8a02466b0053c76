"""Input-preprocessing defenses: batched, composable ``nn.Module`` s in pixel space [0, 1].

Each maps ``(B, C, H, W) -> (B, C, H, W)`` and has a functional twin in
:mod:`hermes.defenses.functional`.
"""

from hermes.defenses._base import GRADIENT_MODES, Defense
from hermes.defenses.gaussian import GaussianSmoothing
from hermes.defenses.identity import Identity
from hermes.defenses.jpeg import JPEG
from hermes.defenses.median import MedianSmoothing, SpatialSmoothing
from hermes.defenses.tvm import TVM, tv_objective

__all__ = [
    "GRADIENT_MODES",
    "JPEG",
    "TVM",
    "Defense",
    "GaussianSmoothing",
    "Identity",
    "MedianSmoothing",
    "SpatialSmoothing",
    "tv_objective",
]
