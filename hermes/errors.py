"""Exceptions raised by hermes.

Every hermes error subclasses both :class:`HermesError` and the builtin a user would
expect, so ``except ValueError`` keeps working.

Example:
    >>> from hermes.errors import ShapeError
    >>> issubclass(ShapeError, ValueError)
    True
"""

from __future__ import annotations

__all__ = ["CacheError", "DataFileError", "HermesError", "RangeError", "ShapeError", "WeightsError"]


class HermesError(Exception):
    """Base class of every error hermes raises on purpose."""


class ShapeError(HermesError, ValueError):
    """A tensor has the wrong rank or shape, or two batch sizes disagree."""


class RangeError(HermesError, ValueError):
    """A value lies outside the range an argument accepts (NaN included)."""


class DataFileError(HermesError, OSError):
    """A data file is missing, truncated, or does not hold what its format promises."""


class CacheError(HermesError, OSError):
    """An evaluation cache folder is damaged in a way that cannot be repaired by recomputing."""


class WeightsError(HermesError, OSError):
    """Model weights could not be downloaded, read, or matched to the model's architecture.

    Raised for a failed download of pretrained weights, a missing, truncated or unsafe weights
    file, and a state dict whose keys or shapes do not fit the model.
    """
