"""Train once, reuse after: the checkpoint a script finds is used only if made the same way.

The caching policy of the examples' scripts, on top of the checkpoint format of
:mod:`hermes.models.checkpoint`: a script saves with ``save_checkpoint(model, path,
settings=settings)`` and looks first with :func:`reuse_checkpoint`, so a rerun with other options
(data, epochs, seed...) stops with an error naming them instead of silently reusing a model
trained differently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from hermes._files import check_unchanged
from hermes.models.checkpoint import read_checkpoint, to_storable

__all__ = ["reuse_checkpoint"]


def reuse_checkpoint(
    path: str | os.PathLike, settings: Mapping[str, Any], map_location: Any = "cpu"
) -> nn.Module | None:
    """The model saved at ``path`` if it was trained with ``settings``; ``None`` if no file is there.

    For scripts that train only when no checkpoint exists yet: save with
    ``save_checkpoint(model, path, settings=settings, ...)`` and look first with this function,
    and a rerun with other options (data, epochs, seed...) stops with an error naming them instead
    of silently reusing a model trained differently.

    Args:
        path: the checkpoint file.
        settings: what the model's training depends on: str keys, values that
            :func:`~hermes.models.save_checkpoint` can store (numbers, strings, None, lists...).
        map_location: where to load the tensors.

    Raises:
        ValueError: the file records other settings (the message names each one that differs),
            or none.

    Example:
        >>> import tempfile
        >>> from hermes.models import resnet18, save_checkpoint
        >>> path = tempfile.mkdtemp() + "/model.pt"
        >>> reuse_checkpoint(path, {"epochs": 3}) is None
        True
        >>> _ = save_checkpoint(resnet18(weights=None, seed=0), path, settings={"epochs": 3})
        >>> reuse_checkpoint(path, {"epochs": 3}).training
        False
        >>> reuse_checkpoint(path, {"epochs": 5})
        Traceback (most recent call last):
        ...
        ValueError: checkpoint '...model.pt' was trained with other settings: epochs 3 (now 5); delete it or write elsewhere to train anew
    """
    if not Path(path).exists():
        return None
    wanted = to_storable(dict(settings), "settings")
    checkpoint = read_checkpoint(path, map_location)
    stored = checkpoint.metadata.get("settings")
    if not isinstance(stored, dict):
        raise ValueError(
            f"checkpoint '{path}' records no training settings; delete it or write elsewhere to "
            "train anew"
        )
    check_unchanged(
        stored,
        wanted,
        f"checkpoint '{path}' was trained with other settings",
        "delete it or write elsewhere to train anew",
    )
    return checkpoint.build()
