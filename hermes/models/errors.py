"""The error hermes raises when model weights cannot be obtained or loaded.

Example:
    >>> from hermes.models.errors import WeightsError
    >>> issubclass(WeightsError, OSError)
    True
"""

from __future__ import annotations

from hermes.errors import HermesError

__all__ = ["WeightsError"]


class WeightsError(HermesError, OSError):
    """Weights could not be downloaded, read, or matched to the model's architecture.

    Raised for a failed download of pretrained weights, a missing, truncated or unsafe weights
    file, and a state dict whose keys or shapes do not fit the model.
    """
