"""Checkpoints that rebuild their model: weights, builder arguments and training metadata.

A checkpoint is one ``torch.save`` file holding a plain dictionary (only tensors, strings,
numbers, lists and dicts, so it loads with ``torch.load(weights_only=True)``)::

    {
        "hermes_checkpoint": 1,                  # format version
        "builder": "resnet18",                   # which hermes builder made the model
        "builder_args": {"num_outputs": 2, "normalize": True},
        "state_dict": {...},                     # CPU tensors, torchvision key names
        "dtype": "float32",                      # restored when the model is rebuilt
        "metadata": {"versions": {...}, "history": {...}, "protocol": "lp-ft", "seed": 42, ...},
    }

Example:
    >>> import tempfile, torch
    >>> from hermes.models import resnet18
    >>> model = resnet18(num_outputs=2, weights=None, seed=0).eval()
    >>> path = tempfile.mkdtemp() + "/model.pt"
    >>> _ = save_checkpoint(model, path, protocol="lp-ft", seed=42)
    >>> again = load_checkpoint(path)
    >>> x = torch.rand(2, 3, 32, 32)
    >>> torch.equal(model(x), again(x))
    True
    >>> read_checkpoint(path).metadata["protocol"]
    'lp-ft'
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

from hermes._files import write_atomic
from hermes.errors import WeightsError
from hermes.models._weight_files import (
    CHECKPOINT_FORMAT_KEY,
    CHECKPOINT_VERSION,
    is_checkpoint,
    load_file,
)
from hermes.models.registry import BuiltModel, rebuild
from hermes.models.resnet import ResNet18
from hermes.version import __version__

__all__ = ["Checkpoint", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

# Builder name -> a callable that takes the recorded builder arguments and returns the
# architecture, randomly initialized (the checkpoint's weights are loaded after).
_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    ResNet18.builder_name: ResNet18,
    BuiltModel.builder_name: rebuild,
}


@dataclass(frozen=True)
class Checkpoint:
    """The contents of a checkpoint file, as :func:`read_checkpoint` returns them.

    Attributes:
        builder: name of the hermes builder that made the model (``"resnet18"``, or
            ``"build_model"`` with the architecture's name in ``builder_args["name"]``).
        builder_args: the builder arguments that fix the architecture.
        state_dict: the weights (CPU tensors unless read with another ``map_location``).
        metadata: everything else that was saved (``versions``, ``history``, ``protocol``, ...).
        dtype: the parameters' dtype when saved (``"float32"``, ``"float64"``...; ``None`` in
            older files), which :meth:`build` restores.
    """

    builder: str
    builder_args: dict[str, Any]
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None

    def build(self) -> nn.Module:
        """Rebuild the model and load the weights; returned in eval mode.

        The random initialization that is immediately overwritten runs under a forked RNG, so
        building leaves torch's global RNG state as it was.
        """
        architecture = _ARCHITECTURES.get(self.builder)
        if architecture is None:
            raise WeightsError(
                f"checkpoint was made by builder {self.builder!r}, which this hermes does not "
                f"know (known: {', '.join(sorted(_ARCHITECTURES))})"
            )
        with torch.random.fork_rng(devices=[]):
            model = architecture(**self.builder_args)
        dtype = getattr(torch, self.dtype, None) if self.dtype else None
        if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            model = model.to(dtype)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as error:
            raise WeightsError(
                f"checkpoint weights do not fit a {self.builder}({self.builder_args}): {error}"
            ) from error
        return model.eval()


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **metadata: Any) -> Path:
    """Save a model built by a hermes builder together with its architecture and ``metadata``.

    The file is written to a temporary name and then renamed, so an interrupted save never
    leaves a truncated checkpoint at ``path``.

    Args:
        model: a model made by a hermes builder (:func:`~hermes.models.resnet18` or
            :func:`~hermes.models.build_model`), on any device.
        path: the file to write (parent directories must exist).
        **metadata: anything to keep with the weights (``history=``, ``protocol=``, ``seed=``,
            ...): ``None``, bools, numbers, strings, tensors, dataclasses and lists/tuples/dicts
            of these. Dataclasses (such as a training ``History``) are stored as dicts. Torch,
            torchvision and hermes versions are added under ``"versions"``.

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` was not made by a hermes builder, or a metadata value cannot be
            stored safely (the message names its key).
    """
    model = getattr(model, "_orig_mod", model)  # torch.compile's wrapper prefixes every key
    builder = getattr(model, "builder_name", None)
    if not isinstance(model, nn.Module) or builder not in _ARCHITECTURES:
        raise TypeError(
            "model must be built by a hermes builder (hermes.models.resnet18 or build_model) so "
            f"that its architecture can be recorded; got {type(model).__name__} (for other models save "
            "model.state_dict() with torch.save)"
        )
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike); got {type(path).__name__}")
    if "versions" in metadata:
        raise TypeError("metadata key 'versions' is reserved for the versions hermes records")
    dtypes = {p.dtype for p in model.parameters()}
    meta: dict[str, Any] = {
        "versions": {
            "hermes": __version__,
            "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__),
        }
    }
    meta.update({key: to_storable(value, f"metadata[{key!r}]") for key, value in metadata.items()})
    payload = {
        CHECKPOINT_FORMAT_KEY: CHECKPOINT_VERSION,
        "builder": builder,
        "builder_args": to_storable(dict(model.builder_args), "builder_args"),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "dtype": str(dtypes.pop()).removeprefix("torch.") if len(dtypes) == 1 else None,
        "metadata": meta,
    }
    return write_atomic(path, lambda file: torch.save(payload, file))


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Checkpoint:
    """Read a checkpoint file (with ``torch.load(weights_only=True)``) without building the model.

    Args:
        path: a file written by :func:`save_checkpoint`.
        map_location: where to load the tensors (default CPU).

    Returns:
        A :class:`Checkpoint`; ``.metadata`` holds the training metadata, ``.build()`` the model.

    Raises:
        WeightsError: the file is missing, corrupt, or not a hermes checkpoint.
    """
    payload = load_file(path, "path", map_location=map_location)
    if not is_checkpoint(payload):
        raise WeightsError(
            f"path: {str(path)!r} is not a hermes checkpoint (no {CHECKPOINT_FORMAT_KEY!r} entry); "
            "to start from a plain state dict use hermes.models.resnet18(weights=path)"
        )
    version = payload[CHECKPOINT_FORMAT_KEY]
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise WeightsError(
            f"path: {str(path)!r} has checkpoint format {version!r}; this hermes reads format "
            f"{CHECKPOINT_VERSION} and older (upgrade hermes)"
        )
    parts = {name: payload.get(name) for name in ("builder", "builder_args", "state_dict")}
    if (
        not isinstance(parts["builder"], str)
        or not isinstance(parts["builder_args"], dict)
        or not isinstance(parts["state_dict"], Mapping)
    ):
        raise WeightsError(f"path: {str(path)!r} is a damaged hermes checkpoint (missing entries)")
    return Checkpoint(
        builder=parts["builder"],
        builder_args=dict(parts["builder_args"]),
        state_dict=dict(parts["state_dict"]),
        metadata=dict(payload.get("metadata") or {}),
        dtype=payload.get("dtype") if isinstance(payload.get("dtype"), str) else None,
    )


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> nn.Module:
    """Rebuild the model saved at ``path``, weights loaded, in eval mode.

    Equivalent to ``read_checkpoint(path, map_location).build()``; use :func:`read_checkpoint`
    for the metadata.

    Raises:
        WeightsError: the file is missing, corrupt, not a hermes checkpoint, or its weights do not
            fit the recorded architecture.
    """
    return read_checkpoint(path, map_location).build()


def to_storable(value: Any, where: str) -> Any:
    """Convert metadata to types ``torch.load(weights_only=True)`` accepts, or raise TypeError.

    ``where`` names the value in the error (``"metadata['history']"``).
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):  # not a numbers.Integral, unlike numpy's ints
        return bool(value)
    if isinstance(value, str):
        return str(value)  # also turns str subclasses (torch.__version__) into plain str
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"{where} has a key of type {type(key).__name__}; use str keys")
            out[key] = to_storable(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        items = [to_storable(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(
        f"{where} is a {type(value).__name__}, which a checkpoint cannot store safely; use "
        "None, bool, numbers, str, tensors, dataclasses, or lists/dicts of these"
    )


def __getattr__(name: str) -> Any:
    if name == "reuse_checkpoint":  # moved to hermes.models.reuse (the caching policy)
        warnings.warn(
            "hermes.models.checkpoint.reuse_checkpoint moved to hermes.models.reuse; "
            "import it from hermes.models",
            DeprecationWarning,
            stacklevel=2,
        )
        from hermes.models.reuse import reuse_checkpoint

        return reuse_checkpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
