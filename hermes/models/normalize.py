"""Per-channel standardization, ``(x - mean) / std``, as a model's first layer.

hermes keeps images in pixel space ``[0, 1]`` everywhere (attacks, defenses, ``eps``), so the
standardization a pretrained network expects lives inside the model.

Example:
    >>> import torch
    >>> layer = Normalize(IMAGENET_MEAN, IMAGENET_STD)
    >>> layer(torch.full((1, 3, 2, 2), 0.5))[0, :, 0, 0]
    tensor([0.0655, 0.1964, 0.4178])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hermes.errors import RangeError, ShapeError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Normalize", "normalize"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel (RGB) mean of ImageNet, the statistics torchvision's pretrained weights expect."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel (RGB) standard deviation of ImageNet."""

Stats = Sequence[float] | torch.Tensor


def _as_stats(value: Stats, name: str) -> torch.Tensor:
    """Turn a sequence/tensor of per-channel statistics into a finite 1-D float tensor."""
    if isinstance(value, torch.Tensor):
        stats = value.detach()
        if not stats.is_floating_point():
            stats = stats.double()
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise TypeError(f"{name} must be a sequence of real numbers; got {value!r}")
        stats = torch.tensor([float(v) for v in value], dtype=torch.float64)
    else:
        raise TypeError(
            f"{name} must be a sequence of per-channel numbers or a 1-D tensor; "
            f"got {type(value).__name__}"
        )
    if stats.ndim != 1 or stats.numel() == 0:
        raise ShapeError(
            f"{name} must hold one value per channel (a non-empty 1-D sequence); "
            f"got shape {tuple(stats.shape)}"
        )
    if not bool(torch.isfinite(stats).all()):
        raise RangeError(f"{name} must be finite; got {stats.tolist()}")
    return stats


def _check_input(x: torch.Tensor, channels: int) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"x must be a float tensor (B, C, H, W) in [0, 1]; got {got}")
    if x.ndim != 4 or x.shape[1] != channels:
        raise ShapeError(
            f"x must be a 4-D tensor (B, {channels}, H, W) to match the {channels} channel "
            f"statistics; got shape {tuple(x.shape)}"
        )


def normalize(x: torch.Tensor, mean: Stats, std: Stats) -> torch.Tensor:
    """Standardize each channel: ``(x - mean[c]) / std[c]``.

    Args:
        x: images ``(B, C, H, W)``, any floating dtype and device.
        mean: ``C`` per-channel means.
        std: ``C`` per-channel standard deviations, all ``> 0``.

    Returns:
        The standardized images, same shape, dtype and device as ``x``.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`

    Raises:
        TypeError: ``x`` is not a float tensor, or ``mean``/``std`` are not numbers.
        ShapeError: ``x`` is not 4-D, its channel count differs from ``len(mean)``, or
            ``mean`` and ``std`` differ in length.
        RangeError: a statistic is not finite or a ``std`` is not positive.

    Example:
        >>> import torch
        >>> normalize(torch.ones(1, 2, 1, 1), mean=[0.5, 0.0], std=[0.25, 2.0]).flatten()
        tensor([2.0000, 0.5000])
    """
    mean_t, std_t = _check_stats(mean, std)
    _check_input(x, mean_t.numel())
    return _apply(x, mean_t, std_t)


def _check_stats(mean: Stats, std: Stats) -> tuple[torch.Tensor, torch.Tensor]:
    mean_t = _as_stats(mean, "mean")
    std_t = _as_stats(std, "std")
    if mean_t.numel() != std_t.numel():
        raise ShapeError(
            f"mean and std must have one value per channel each; got {mean_t.numel()} means "
            f"and {std_t.numel()} standard deviations"
        )
    if bool((std_t <= 0).any()):
        raise RangeError(f"std must be > 0 for every channel; got {std_t.tolist()}")
    return mean_t, std_t


def _apply(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    mean = mean.to(device=x.device, dtype=x.dtype).view(shape)
    std = std.to(device=x.device, dtype=x.dtype).view(shape)
    return (x - mean) / std


class Normalize(nn.Module):
    """Module form of :func:`normalize`, holding ``mean`` and ``std`` as buffers.

    The buffers are non-persistent: they follow ``.to()`` but stay out of the ``state_dict``, so
    a torchvision state dict loads into a model that starts with this layer.

    Args:
        mean: ``C`` per-channel means (e.g. :data:`IMAGENET_MEAN`).
        std: ``C`` per-channel standard deviations, all ``> 0``.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> import torch
        >>> layer = Normalize([0.5], [0.5])
        >>> layer(torch.tensor([[[[0.0, 1.0]]]]))
        tensor([[[[-1.,  1.]]]])
        >>> layer(torch.zeros(1, 3, 4, 4))
        Traceback (most recent call last):
        ...
        hermes.errors.ShapeError: x must be a 4-D tensor (B, 1, H, W) to match the 1 channel statistics; got shape (1, 3, 4, 4)
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Stats, std: Stats) -> None:
        super().__init__()
        mean_t, std_t = _check_stats(mean, std)
        dtype = torch.get_default_dtype()
        self.register_buffer("mean", mean_t.to(dtype), persistent=False)
        self.register_buffer("std", std_t.to(dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardize ``x`` with the stored statistics."""
        _check_input(x, self.mean.numel())
        return _apply(x, self.mean, self.std)

    def extra_repr(self) -> str:
        fmt = ", ".join
        return (
            f"mean=({fmt(f'{v:.4g}' for v in self.mean.tolist())}), "
            f"std=({fmt(f'{v:.4g}' for v in self.std.tolist())})"
        )
