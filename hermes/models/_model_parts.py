"""Parts of the models :func:`~hermes.models.build_model` assembles: channel repetition, volume
normalization, head surgery and a small 3D CNN."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hermes.errors import ShapeError
from hermes.models.normalize import Normalize

__all__ = [
    "KINETICS_MEAN",
    "KINETICS_STD",
    "RepeatChannels",
    "SmallCNN3d",
    "VolumeNormalize",
    "detach_head",
]

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
"""Per-channel mean torchvision's video ResNets (Kinetics-400 weights) expect."""

KINETICS_STD = (0.22803, 0.22145, 0.216989)
"""Per-channel standard deviation torchvision's video ResNets expect."""


class RepeatChannels(nn.Module):
    """Repeat a ``C``-channel input ``times`` times along the channel axis (gray to RGB).

    The input must have exactly ``channels`` channels (``ShapeError`` otherwise): a model built
    for grayscale images refuses RGB ones instead of mixing them up. Gradients flow back
    (summed over the copies), so attacks see the grayscale image.

    Shape:
        - Input: :math:`(B, C, *)`
        - Output: :math:`(B, C \\cdot \\text{times}, *)`
    """

    def __init__(self, channels: int, times: int) -> None:
        super().__init__()
        self.channels, self.times = channels, times

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` repeated along dimension 1."""
        if x.ndim < 3 or x.shape[1] != self.channels:
            raise ShapeError(
                f"x must have {self.channels} channel(s) in dimension 1 (the model was built with "
                f"in_channels={self.channels}); got shape {tuple(x.shape)}"
            )
        return (
            x.repeat_interleave(self.times, dim=1)
            if self.channels > 1
            else x.expand(-1, self.times, *x.shape[2:])
        )

    def extra_repr(self) -> str:
        return f"channels={self.channels}, times={self.times}"


class VolumeNormalize(nn.Module):
    """:class:`~hermes.models.Normalize` for volumes ``(B, C, D, H, W)`` (same statistics).

    Shape:
        - Input: :math:`(B, C, D, H, W)`
        - Output: :math:`(B, C, D, H, W)`
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.plane = Normalize(mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardize each channel of a batch of volumes."""
        if x.ndim != 5:
            raise ShapeError(
                f"x must be a 5-D tensor (B, C, D, H, W) of volumes; got shape {tuple(x.shape)}"
            )
        b, c, d, h, w = x.shape
        return self.plane(x.reshape(b, c, d * h, w)).reshape(b, c, d, h, w)


class SmallCNN3d(nn.Module):
    """A small 3D CNN for volumes (fast enough for tests and CPU experiments).

    Three blocks of ``Conv3d(3x3x3) -> BatchNorm3d -> ReLU`` (the last two with stride 2),
    widths ``width, 2 width, 4 width``, then global average pooling. The classifier head is not
    part of it (:func:`~hermes.models.build_model` adds ``fc``).

    Args:
        in_channels: channels of the volumes.
        width: channels of the first block.

    Shape:
        - Input: :math:`(B, \\text{in\\_channels}, D, H, W)`
        - Output: :math:`(B, 4 \\cdot \\text{width})` features
    """

    def __init__(self, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for index, out in enumerate((width, 2 * width, 4 * width)):
            stride = 1 if index == 0 else 2
            layers += [
                nn.Conv3d(channels, out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(out),
                nn.ReLU(inplace=True),
            ]
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.num_features = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, 4 width)``."""
        return self.pool(self.features(x)).flatten(1)


def detach_head(model: nn.Module, num_classes: int) -> tuple[str, int]:
    """Replace ``model``'s final ``Linear(in, num_classes)`` by ``Identity``; return its name and
    ``in_features``.

    The head is the last ``nn.Linear`` (in registration order) with ``num_classes`` outputs;
    with it gone, ``model`` returns the features the head took.

    Raises:
        ValueError: no such layer (an architecture whose classifier is not a linear layer).
    """
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module.out_features == num_classes
    ]
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no final Linear layer with {num_classes} outputs to "
            "replace; build_model supports architectures whose classifier is a linear layer"
        )
    name, head = found[-1]
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, nn.Identity())
    return name, head.in_features
