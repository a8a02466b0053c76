"""Reading weight files safely: ``torch.load(weights_only=True)`` with errors naming the file.

Shared by the ResNet builder (``weights=path``) and the checkpoint reader, so neither imports the
other.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from hermes.errors import WeightsError

__all__ = [
    "CHECKPOINT_FORMAT_KEY",
    "CHECKPOINT_VERSION",
    "check_weights_argument",
    "is_checkpoint",
    "load_file",
]

CHECKPOINT_FORMAT_KEY = "hermes_checkpoint"
CHECKPOINT_VERSION = 1

PathLike = str | os.PathLike


def check_weights_argument(
    weights: Any, accepted: str = "'imagenet', None or a file path"
) -> str | Path | None:
    """A builder's ``weights=`` argument: ``None``, ``"imagenet"`` (any case) or the
    :class:`~pathlib.Path` of an existing file; else an error naming ``weights`` and listing
    ``accepted``.

    Example:
        >>> check_weights_argument("ImageNet")
        'imagenet'
        >>> check_weights_argument(3)
        Traceback (most recent call last):
        ...
        TypeError: weights must be 'imagenet', None or a file path; got int
    """
    if weights is None:
        return None
    if isinstance(weights, str) and weights.lower() == "imagenet":
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(
                f"weights must be 'imagenet', None or the path of a weights file; got "
                f"{str(weights)!r}, which is not an existing file"
            )
        return path
    raise TypeError(f"weights must be {accepted}; got {type(weights).__name__}")


def load_file(path: Any, name: str, map_location: Any = "cpu") -> Any:
    """Load ``path`` with ``torch.load(weights_only=True)``; any failure becomes a ``WeightsError``.

    Args:
        path: a file path (``str`` or ``os.PathLike``).
        name: the argument's name, used in the error message.
        map_location: where tensors are loaded (default CPU).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a file path (str or os.PathLike); got {type(path).__name__}"
        )
    file = Path(path)
    if not file.is_file():
        raise WeightsError(f"{name}: no such file: {str(file)!r}")
    try:
        return torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise WeightsError(
            f"{name}: {str(file)!r} cannot be loaded with torch.load(weights_only=True): it holds "
            "objects other than tensors and plain containers; save model.state_dict() instead "
            f"({_unpickler_reason(error)})"
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(
            f"{name}: {str(file)!r} is not a readable PyTorch weights file (truncated or "
            f"corrupt?): {detail}"
        ) from error


def is_checkpoint(payload: Any) -> bool:
    """Whether a loaded object is a hermes checkpoint (as written by ``save_checkpoint``)."""
    return isinstance(payload, dict) and CHECKPOINT_FORMAT_KEY in payload


def _unpickler_reason(error: Exception) -> str:
    """The part of torch's long weights-only message that says what was refused."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = text.split(marker, 1)[1].split(". Please", 1)[0]
        lines = [line.strip() for line in rest.splitlines() if line.strip()]
        if lines:
            return lines[0]
    return "torch refused to unpickle it"
