"""ResNet-18 for binary patch classification, taking ``[0, 1]`` images.

The network is torchvision's ResNet-18 with a new ``fc`` head of ``num_outputs`` logits and a
:class:`~hermes.models.Normalize` layer (ImageNet statistics) applied first, so callers, attacks and
defenses all work in pixel space. Its ``state_dict`` has exactly torchvision's keys (the
normalization buffers are not persistent), so torchvision state dicts load into it.

Example:
    >>> import torch
    >>> model = resnet18(num_outputs=2, weights=None, seed=0)
    >>> model(torch.rand(4, 3, 32, 32)).shape
    torch.Size([4, 2])
    >>> model.fc
    Linear(in_features=512, out_features=2, bias=True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import ResNet, ResNet18_Weights
from torchvision.models.resnet import BasicBlock

from hermes._validation import check_positive_int
from hermes.errors import WeightsError
from hermes.models._load_state import load_keeping_fresh_head
from hermes.models._weight_files import (
    CHECKPOINT_FORMAT_KEY,
    check_weights_argument,
    is_checkpoint,
    load_file,
)
from hermes.models.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize

__all__ = ["ResNet18", "resnet18"]

WeightsArg = str | os.PathLike | ResNet18_Weights | None


class ResNet18(ResNet):
    """torchvision's ResNet-18 with an ``fc`` head of ``num_outputs`` logits and input normalization.

    Build it with :func:`resnet18`, which also loads weights. The head is ``model.fc`` (what
    linear probing trains); ``model.normalize`` is the first layer applied in ``forward``.

    Args:
        num_outputs: logits per image: ``1`` (sigmoid/BCE) or ``K >= 2`` (softmax/cross-entropy).
        normalize: standardize inputs with the ImageNet mean/std first (``True``), or feed the
            network the raw input (``False``).

    Shape:
        - Input: :math:`(B, 3, H, W)` in ``[0, 1]`` (any ``H, W`` the stride-32 network accepts)
        - Output: :math:`(B, \\text{num\\_outputs})`
    """

    builder_name = "resnet18"

    def __init__(self, num_outputs: int = 1, normalize: bool = True) -> None:
        num_outputs = check_positive_int(num_outputs, "num_outputs")
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be True or False; got {normalize!r}")
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_outputs)
        self.num_outputs = num_outputs
        self.normalize: nn.Module = (
            Normalize(IMAGENET_MEAN, IMAGENET_STD) if normalize else nn.Identity()
        )
        # List the normalization first, where it acts, when the model is printed.
        self._modules = {"normalize": self._modules.pop("normalize"), **self._modules}

    @property
    def builder_args(self) -> dict[str, Any]:
        """The :func:`resnet18` arguments that rebuild this architecture (weights aside)."""
        return {"num_outputs": self.num_outputs, "normalize": isinstance(self.normalize, Normalize)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_outputs)`` for images ``(B, 3, H, W)`` in ``[0, 1]``."""
        return self._forward_impl(self.normalize(x))


def resnet18(
    num_outputs: int = 1,
    weights: WeightsArg = "imagenet",
    normalize: bool = True,
    *,
    seed: int | None = None,
    progress: bool = True,
) -> ResNet18:
    """Build a ResNet-18 classifier for ``[0, 1]`` images, optionally from pretrained weights.

    Args:
        num_outputs: logits per image, ``>= 1`` (the study used 2 with cross-entropy; 1 means a
            single sigmoid logit).
        weights: ``"imagenet"`` (or a ``torchvision.models.ResNet18_Weights`` member) for
            torchvision's ImageNet weights (``IMAGENET1K_V1``, downloaded once into the torch hub
            cache); ``None`` for random initialization; or the path of a local file: a plain
            torchvision ResNet-18 ``state_dict`` or a hermes checkpoint. The head is loaded too
            when its shape matches ``num_outputs``; otherwise (e.g. ImageNet's 1000 classes) it is
            replaced by a freshly initialized one.
        normalize: put ``Normalize(IMAGENET_MEAN, IMAGENET_STD)`` first, so the model takes
            images in ``[0, 1]``.
        seed: seed for the random initialization (head and, with ``weights=None``, the whole
            network), drawn without touching torch's global RNG. ``None`` uses the global RNG,
            as torchvision does.
        progress: show torch's download progress bar.

    Returns:
        A :class:`ResNet18` in training mode, on the CPU.

    Raises:
        TypeError, ValueError: an argument has the wrong type or value (the message names it).
        WeightsError: the ImageNet weights cannot be downloaded (no network) or read, or the file
            given is missing, corrupt, unsafe to load, or does not fit a ResNet-18.

    Example:
        >>> model = resnet18(num_outputs=1, weights=None, seed=0)
        >>> model(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 1])
    """
    num_outputs = check_positive_int(num_outputs, "num_outputs")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False; got {normalize!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None; got {seed!r}")
    weights = _check_weights(weights)

    if seed is None:
        model = ResNet18(num_outputs, normalize)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            model = ResNet18(num_outputs, normalize)

    if isinstance(weights, ResNet18_Weights):
        _load_into(model, _download(weights, progress), f"torchvision {weights}")
    elif weights is not None:
        _load_into(model, _read_weights_file(weights), repr(str(weights)))
    return model


def _check_weights(weights: Any) -> ResNet18_Weights | Path | None:
    if isinstance(weights, ResNet18_Weights):
        return weights
    checked = check_weights_argument(
        weights, "'imagenet', a torchvision ResNet18_Weights member, None or a file path"
    )
    return ResNet18_Weights.IMAGENET1K_V1 if checked == "imagenet" else checked


def _download(weights: ResNet18_Weights, progress: bool) -> Mapping[str, Any]:
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return weights.get_state_dict(
            progress=progress, check_hash=True, map_location="cpu", weights_only=True
        )
    except Exception as error:  # URLError, hash mismatch, corrupt cache file: all mean "no weights"
        raise WeightsError(
            f"could not get torchvision's ImageNet ResNet-18 weights ({weights}) from "
            f"{weights.url}: {type(error).__name__}: {error}. Without network access, use "
            "weights=None (random initialization), or copy the file to "
            f"{str(cache / Path(weights.url).name)!r} (torch's cache) or anywhere and pass its "
            "path as weights=..."
        ) from error


def _read_weights_file(path: Path) -> Mapping[str, Any]:
    payload = load_file(path, "weights")
    if is_checkpoint(payload):
        builder = payload.get("builder")
        if builder != ResNet18.builder_name:
            raise WeightsError(
                f"weights: {str(path)!r} is a hermes checkpoint of a {builder!r} model, "
                "not a resnet18"
            )
        payload = payload.get("state_dict")
    if not isinstance(payload, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()
    ):
        raise WeightsError(
            f"weights: {str(path)!r} holds a {type(payload).__name__}, not a state dict (a mapping "
            f"of parameter names to tensors) nor a hermes checkpoint ({CHECKPOINT_FORMAT_KEY!r})"
        )
    return payload


def _load_into(model: ResNet18, state: Mapping[str, Any], source: str) -> None:
    """Load a torchvision-keyed state dict; keep a fresh head when the given one does not fit."""
    load_keeping_fresh_head(model, state, "fc.", "a torchvision ResNet-18", source)
