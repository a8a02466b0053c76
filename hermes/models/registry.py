"""``build_model``: any torchvision (or ``timm``) classifier, a video ResNet or a small 3D CNN,
taking ``[0, 1]`` images or volumes, with a new head and the input normalization inside.

Every model it builds is a :class:`BuiltModel`: ``expand`` (gray to RGB, when needed), then
``normalize`` (the statistics the architecture's pretrained weights expect), then ``body`` (the
network without its classifier) and ``fc`` (a new ``Linear`` head of ``num_outputs`` logits, the
part linear probing trains). Checkpoints record the builder arguments, so
:func:`~hermes.models.load_checkpoint` rebuilds it.

Example:
    >>> import torch
    >>> model = build_model("resnet18", num_outputs=9, seed=0).eval()
    >>> model(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 9])
    >>> gray = build_model("densenet121", num_outputs=1, in_channels=1, seed=0).eval()
    >>> gray(torch.rand(2, 1, 32, 32)).shape
    torch.Size([2, 1])
    >>> volumes = build_model("cnn3d_small", num_outputs=11, in_channels=1, seed=0)
    >>> volumes(torch.rand(2, 1, 16, 16, 16)).shape
    torch.Size([2, 11])
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from hermes._validation import check_positive_int
from hermes.errors import ShapeError, WeightsError
from hermes.models._load_state import load_keeping_fresh_head
from hermes.models._model_parts import (
    KINETICS_MEAN,
    KINETICS_STD,
    RepeatChannels,
    SmallCNN3d,
    VolumeNormalize,
    detach_head,
)
from hermes.models._weight_files import check_weights_argument, is_checkpoint, load_file
from hermes.models.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize

__all__ = ["TESTED_MODELS", "BuiltModel", "available_models", "build_model"]

TESTED_MODELS = (
    "resnet18",
    "resnet50",
    "densenet121",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
    "swin_t",
    "r3d_18",
    "cnn3d_small",
)
"""Architectures hermes' own tests build, run, attack and checkpoint (any other torchvision
classifier with a linear head works the same way)."""

_TIMM_PREFIX = "timm:"
_SMALL_3D = "cnn3d_small"
_IMAGENET_CLASSES = 1000
_KINETICS_CLASSES = 400
_EXCLUDED = ("detection", "segmentation", "optical_flow", "quantization")


def _torchvision_models() -> tuple[set[str], set[str]]:
    """``(2D classifiers, video classifiers)`` in torchvision's registry."""
    everything = set(torchvision.models.list_models())
    video = set(torchvision.models.list_models(module=torchvision.models.video))
    other = set()
    for name in _EXCLUDED:
        other |= set(torchvision.models.list_models(module=getattr(torchvision.models, name)))
    return everything - video - other, video


def available_models() -> list[str]:
    """Names :func:`build_model` accepts (besides ``"timm:<name>"``), sorted.

    Example:
        >>> {"resnet18", "vit_b_16", "r3d_18", "cnn3d_small"} <= set(available_models())
        True
    """
    images, video = _torchvision_models()
    return sorted(images | video | {_SMALL_3D})


class BuiltModel(nn.Module):
    """A classifier made by :func:`build_model`: ``fc(body(normalize(expand(x))))``.

    Attributes:
        expand: :class:`RepeatChannels` for grayscale input to an RGB network, else ``Identity``.
        normalize: the input standardization (``Normalize`` / ``VolumeNormalize``, or
            ``Identity`` for networks without pretrained statistics).
        body: the network without its classifier, returning features ``(B, F)``.
        fc: the head, ``Linear(F, num_outputs)``.
        builder_args: the :func:`build_model` arguments that rebuild the architecture.

    Shape:
        - Input: :math:`(B, \\text{in\\_channels}, H, W)` in ``[0, 1]``, or
          :math:`(B, \\text{in\\_channels}, D, H, W)` for 3D models
        - Output: :math:`(B, \\text{num\\_outputs})`
    """

    builder_name = "build_model"

    def __init__(
        self,
        body: nn.Module,
        features: int,
        normalize: nn.Module,
        expand: nn.Module,
        builder_args: dict[str, Any],
        volumes: bool = False,
    ) -> None:
        super().__init__()
        self.volumes = volumes
        self.expand = expand
        self.normalize = normalize
        self.body = body
        self.fc = nn.Linear(features, builder_args["num_outputs"])
        self.builder_args = dict(builder_args)
        self.num_outputs = builder_args["num_outputs"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_outputs)``."""
        channels = self.builder_args["in_channels"]
        if x.ndim != (5 if self.volumes else 4) or x.shape[1] != channels:
            kind = "(B, C, D, H, W)" if self.volumes else "(B, C, H, W)"
            raise ShapeError(
                f"x must be {kind} with C={channels} (the model was built with "
                f"in_channels={channels}); got shape {tuple(x.shape)}"
            )
        return self.fc(self.body(self.normalize(self.expand(x))))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.builder_args.items())


def build_model(
    name: str,
    num_outputs: int,
    weights: str | os.PathLike | None = None,
    in_channels: int = 3,
    input_size: int | None = None,
    seed: int | None = None,
    *,
    progress: bool = True,
) -> BuiltModel:
    """Build a classifier for ``[0, 1]`` images (or volumes) from torchvision's registry or timm.

    The architecture's classifier is replaced by ``fc = Linear(features, num_outputs)``, and the
    standardization its pretrained weights expect is put in front (ImageNet mean/std for image
    models, Kinetics-400's for the video ResNets, timm's ``pretrained_cfg`` for timm models), so
    callers, attacks and defenses work in pixel space. A grayscale model (``in_channels=1``)
    repeats its single channel three times inside, before the normalization, so it takes
    ``(B, 1, H, W)`` images and equals the RGB model fed the repeated image.

    Args:
        name: a torchvision classification model (``"resnet18"``, ``"resnet50"``,
            ``"densenet121"``, ``"efficientnet_b0"``, ``"convnext_tiny"``, ``"vit_b_16"``,
            ``"swin_t"``, ... see :func:`available_models`), a torchvision video model for
            volumes ``(B, C, D, H, W)`` (``"r3d_18"``, ``"mc3_18"``, ``"r2plus1d_18"``),
            ``"cnn3d_small"`` (a small 3D CNN, no pretrained weights), or ``"timm:<name>"`` for
            any ``timm`` model (needs ``pip install hermes-robustness[timm]``).
        num_outputs: logits per image: ``1`` (sigmoid) or ``K >= 2`` (softmax), or ``K`` for
            ``K`` multi-label findings.
        weights: ``None`` (random initialization), ``"imagenet"`` (torchvision's default
            pretrained weights: ImageNet for images, Kinetics-400 for video models; read from
            torch's hub cache, downloaded there only if missing; timm: its pretrained weights),
            or the path of a local file: a state dict of the architecture (torchvision's or
            timm's keys, or this model's) or a hermes checkpoint of the same architecture. A head
            in the file is kept when its shape fits ``num_outputs``, else a fresh one is used.
        in_channels: channels of the input: 3, or 1 (repeated to 3 inside); ``"cnn3d_small"``
            takes any number natively.
        input_size: the image side the model will see. Vision transformers need it fixed
            (torchvision ``vit_*``: a multiple of the patch size, default 224; ImageNet position
            embeddings are interpolated to it); timm models that take ``img_size`` get it; other
            architectures take any size and only record it.
        seed: seed of the random initialization, drawn without touching torch's global RNG
            (``None``: the global RNG, as torchvision does).
        progress: show torch's download progress bar.

    Returns:
        A :class:`BuiltModel` in training mode, on the CPU.

    Raises:
        TypeError, ValueError: a bad argument (an unknown name lists the closest known ones).
        ImportError: a ``timm:`` name without ``timm`` installed.
        WeightsError: pretrained weights that are neither in the cache nor downloadable, or a
            weights file that is missing, unreadable or does not fit the architecture.

    Example:
        >>> vit = build_model("vit_b_16", num_outputs=2, input_size=32, seed=0)
        >>> vit(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 2])
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str naming a model; got {type(name).__name__}")
    num_outputs = check_positive_int(num_outputs, "num_outputs")
    in_channels = check_positive_int(in_channels, "in_channels")
    if input_size is not None:
        input_size = check_positive_int(input_size, "input_size")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None; got {seed!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False; got {progress!r}")
    weights = check_weights_argument(weights)
    args = {
        "name": name,
        "num_outputs": num_outputs,
        "in_channels": in_channels,
        "input_size": input_size,
    }
    if name.startswith(_TIMM_PREFIX):
        maker = _timm_maker(name[len(_TIMM_PREFIX) :], in_channels, input_size, weights)
    else:
        maker = _torchvision_maker(name, in_channels, input_size, weights, progress)
    if seed is None:
        model = maker(args)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            model = maker(args)
    return model


def rebuild(**builder_args: Any) -> BuiltModel:
    """The architecture recorded in a checkpoint, randomly initialized (weights load after)."""
    return build_model(**builder_args, weights=None)


# -- torchvision ------------------------------------------------------------------------------


def _torchvision_maker(
    name: str, in_channels: int, input_size: int | None, weights: Any, progress: bool
) -> Any:
    images, video = _torchvision_models()
    if name == _SMALL_3D:
        if isinstance(weights, str):
            raise ValueError(
                "weights='imagenet' is not available for 'cnn3d_small' (no pretrained weights "
                "exist); use None or a file path"
            )
        return lambda args: _small_3d(args, weights)
    if name not in images and name not in video:
        raise ValueError(_unknown(name, sorted(images | video | {_SMALL_3D})))
    _check_rgb_only(name, in_channels)
    extra: dict[str, Any] = {}
    if name.startswith("vit_"):
        extra["image_size"] = _vit_size(name, input_size)

    def make(args: dict[str, Any]) -> BuiltModel:
        is_video = name in video
        classes = _KINETICS_CLASSES if is_video else _IMAGENET_CLASSES
        network = torchvision.models.get_model(name, weights=None, num_classes=classes, **extra)
        head_name, features = detach_head(network, classes)
        mean, std = (KINETICS_MEAN, KINETICS_STD) if is_video else (IMAGENET_MEAN, IMAGENET_STD)
        normalize = VolumeNormalize(mean, std) if is_video else Normalize(mean, std)
        expand = RepeatChannels(1, 3) if in_channels == 1 else nn.Identity()
        model = BuiltModel(network, features, normalize, expand, args, volumes=is_video)
        if weights == "imagenet":
            state, source = _pretrained_state(name, progress), f"torchvision's {name} weights"
            if extra.get("image_size", 224) != 224:
                state = _resize_vit_embeddings(name, state, extra["image_size"])
            _load_state(model, state, head_name, source)
        elif weights is not None:
            _load_state(model, _read_file(weights, args), head_name, repr(str(weights)))
        return model

    return make


def _small_3d(args: dict[str, Any], weights: Path | None) -> BuiltModel:
    body = SmallCNN3d(args["in_channels"])
    model = BuiltModel(body, body.num_features, nn.Identity(), nn.Identity(), args, volumes=True)
    if weights is not None:
        _load_state(model, _read_file(weights, args), "fc", repr(str(weights)))
    return model


def _check_rgb_only(name: str, in_channels: int) -> None:
    if in_channels not in (1, 3):
        raise ValueError(
            f"in_channels must be 1 (grayscale, repeated to RGB inside) or 3 for {name!r}; got "
            f"{in_channels} (only 'cnn3d_small' takes other channel counts)"
        )


def _vit_size(name: str, input_size: int | None) -> int:
    size = 224 if input_size is None else input_size
    match = re.search(r"_(\d+)$", name)
    patch = int(match.group(1)) if match else 16
    if size % patch:
        raise ValueError(
            f"input_size must be a multiple of {name}'s patch size {patch}; got {size}"
        )
    return size


def _pretrained_state(name: str, progress: bool) -> Mapping[str, torch.Tensor]:
    try:
        member = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError) as error:
        raise WeightsError(f"torchvision has no pretrained weights for {name!r}") from error
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(member.url).name
    try:
        return member.get_state_dict(
            progress=progress, check_hash=True, map_location="cpu", weights_only=True
        )
    except Exception as error:  # no network, hash mismatch, corrupt cache file: "no weights"
        raise WeightsError(
            f"could not get torchvision's pretrained {name} weights ({member}) from "
            f"{member.url}: {type(error).__name__}: {error}. Without network access, use "
            f"weights=None, or copy the file to {str(cache)!r} (torch's cache) or anywhere and "
            "pass its path as weights=..."
        ) from error


def _resize_vit_embeddings(
    name: str, state: Mapping[str, torch.Tensor], image_size: int
) -> Mapping[str, torch.Tensor]:
    from torchvision.models.vision_transformer import interpolate_embeddings

    patch = int(re.search(r"_(\d+)$", name).group(1))
    return interpolate_embeddings(image_size, patch, dict(state))


# -- timm -------------------------------------------------------------------------------------


def _timm_maker(name: str, in_channels: int, input_size: int | None, weights: Any) -> Any:
    try:
        import timm
    except ImportError as error:
        raise ImportError(
            f"build_model({_TIMM_PREFIX + name!r}) needs timm, which is not installed: "
            "pip install 'hermes-robustness[timm]'"
        ) from error
    known = timm.list_models()
    if name not in known and name.split(".")[0] not in known:
        raise ValueError(_unknown(name, known, prefix=_TIMM_PREFIX))
    _check_rgb_only(_TIMM_PREFIX + name, in_channels)

    def make(args: dict[str, Any]) -> BuiltModel:
        kwargs: dict[str, Any] = {"pretrained": weights == "imagenet", "num_classes": 0}
        body = _create_timm(timm, name, kwargs, input_size)
        config = getattr(body, "pretrained_cfg", None) or {}
        mean = tuple(config.get("mean", IMAGENET_MEAN))
        std = tuple(config.get("std", IMAGENET_STD))
        expand = RepeatChannels(1, 3) if in_channels == 1 else nn.Identity()
        model = BuiltModel(body, int(body.num_features), Normalize(mean, std), expand, args)
        if weights not in (None, "imagenet"):
            head = str(config.get("classifier") or "fc")
            _load_state(model, _read_file(weights, args), head, repr(str(weights)))
        return model

    return make


def _create_timm(timm: Any, name: str, kwargs: dict[str, Any], input_size: int | None) -> Any:
    try:
        if input_size is not None:
            try:
                return timm.create_model(name, img_size=input_size, **kwargs)
            except TypeError:  # an architecture that takes any size
                pass
        return timm.create_model(name, **kwargs)
    except (OSError, RuntimeError) as error:
        if kwargs["pretrained"]:
            raise WeightsError(
                f"could not get timm's pretrained weights for {name!r}: "
                f"{type(error).__name__}: {error}. Without network access, use weights=None or "
                "a local weights file"
            ) from error
        raise


# -- weights ----------------------------------------------------------------------------------


def _read_file(path: Path, args: dict[str, Any]) -> Mapping[str, torch.Tensor]:
    payload = load_file(path, "weights")
    if is_checkpoint(payload):
        builder, recorded = payload.get("builder"), payload.get("builder_args") or {}
        model_name = recorded.get("name", builder) if builder == "build_model" else builder
        if model_name != args["name"]:
            raise WeightsError(
                f"weights: {str(path)!r} is a hermes checkpoint of a {model_name!r} model, not "
                f"a {args['name']!r}"
            )
        payload = payload.get("state_dict")
    if not isinstance(payload, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()
    ):
        raise WeightsError(
            f"weights: {str(path)!r} holds a {type(payload).__name__}, not a state dict (a "
            "mapping of parameter names to tensors) nor a hermes checkpoint"
        )
    return payload


def _to_own_keys(state: Mapping[str, torch.Tensor], head: str) -> dict[str, torch.Tensor]:
    """A state dict with the architecture's keys (``head.*`` the classifier) in ours."""
    if all(k.startswith(("body.", "fc.")) for k in state):
        return dict(state)
    own = {}
    for key, value in state.items():
        if key.startswith(head + "."):
            own["fc." + key[len(head) + 1 :]] = value
        else:
            own["body." + key] = value
    return own


def _load_state(
    model: BuiltModel, state: Mapping[str, torch.Tensor], head: str, source: str
) -> None:
    """Load ``state`` into ``model``; keep the fresh head when the given one does not fit."""
    target = repr(model.builder_args["name"])
    load_keeping_fresh_head(model, _to_own_keys(state, head), "fc.", target, source)


def _unknown(name: str, known: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(prefix + c) for c in close)}?" if close else ""
    return (
        f"name must be a model known to {'timm' if prefix else 'hermes (torchvision)'}; got "
        f"{prefix + name!r}{hint} (see hermes.models.available_models())"
    )
