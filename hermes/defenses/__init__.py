"""Input-preprocessing defenses: batched, composable ``nn.Module`` s in pixel space [0, 1].

Each maps ``(B, C, H, W) -> (B, C, H, W)`` and has a functional twin in
:mod:`hermes.defenses.functional`. Gaussian and median smoothing (and Identity) also map volumes
``(B, C, D, H, W)`` with volumetric kernels; JPEG and TVM are 2D-only and refuse volumes.
:func:`list_defenses` names them all and :func:`get_defense` returns one by name. ``SpatialSmoothing`` (ART's name for :class:`MedianSmoothing`) still imports,
as a deprecated alias.
"""

from hermes.defenses._base import GRADIENT_MODES, Defense, get_defense, list_defenses
from hermes.defenses.gaussian import GaussianSmoothing
from hermes.defenses.identity import Identity
from hermes.defenses.jpeg import JPEG
from hermes.defenses.median import MedianSmoothing, _spatial_smoothing
from hermes.defenses.tvm import TVM, tv_objective

__all__ = [
    "GRADIENT_MODES",
    "JPEG",
    "TVM",
    "Defense",
    "GaussianSmoothing",
    "Identity",
    "MedianSmoothing",
    "get_defense",
    "list_defenses",
    "tv_objective",
]


def __getattr__(name: str) -> type[MedianSmoothing]:
    if name == "SpatialSmoothing":
        return _spatial_smoothing(stacklevel=3)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
