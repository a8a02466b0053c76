"""Realistic inputs for the defense tests: crops of scikit-image's immunohistochemistry slide.

``skimage.data.immunohistochemistry()`` is a 512x512 RGB image of stained tissue that ships
with scikit-image (no download), close to PatchCamelyon's 96x96 H&E patches.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from skimage import data


@functools.cache
def _slide() -> torch.Tensor:
    """The slide as a float64 ``(3, 512, 512)`` tensor in [0, 1]."""
    image = np.ascontiguousarray(data.immunohistochemistry())
    return torch.from_numpy(image).permute(2, 0, 1).double() / 255


def ihc_patches(
    n: int,
    size: int | tuple[int, int] = 96,
    channels: int = 3,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n`` distinct crops, ``(n, channels, h, w)`` in [0, 1], the same on every call.

    ``channels=1`` gives the green channel (the one with most contrast in the stain).
    """
    h, w = (size, size) if isinstance(size, int) else size
    slide = _slide()
    crops = []
    for i in range(n):
        top = (37 + 53 * i) % (slide.shape[1] - h + 1)
        left = (11 + 97 * i) % (slide.shape[2] - w + 1)
        crop = slide[:, top : top + h, left : left + w]
        crops.append(crop[1:2] if channels == 1 else crop)
    return torch.stack(crops).to(dtype)


def ihc_uint8(n: int, size: int | tuple[int, int] = 96, channels: int = 3) -> torch.Tensor:
    """The same crops as whole uint8 levels, ``(n, channels, h, w)``."""
    return (ihc_patches(n, size, channels, torch.float64) * 255).round().to(torch.uint8)


@pytest.fixture
def patches() -> torch.Tensor:
    """Four 96x96 RGB crops, float32."""
    return ihc_patches(4)
