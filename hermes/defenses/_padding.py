"""Mirror ("reflect") extension of images past their borders, for any pad width.

The extension is ``... c b | a b c d | c b a ...``: the border pixel is not repeated. This is
scipy.ndimage's ``mode="mirror"`` and torch's ``F.pad(mode="reflect")``; unlike the latter it
also works when the pad is as wide as the image or wider (the mirror is then applied again, as
scipy does), so a 7x7 window works on a 2x2 image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["mirror_indices", "mirror_pad"]


def mirror_indices(
    n: int, start: int, stop: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Indices into ``range(n)`` of the positions ``start, ..., stop - 1`` of the mirrored axis.

    Example:
        >>> mirror_indices(4, -2, 6).tolist()
        [2, 1, 0, 1, 2, 3, 2, 1]
    """
    positions = torch.arange(start, stop, device=device)
    if n == 1:
        return torch.zeros_like(positions)
    period = 2 * (n - 1)
    positions = positions.remainder(period)
    return torch.where(positions >= n, period - positions, positions)


def mirror_pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Pad the last two axes of ``x`` by ``pad_h`` rows and ``pad_w`` columns on each side.

    Args:
        x: tensor of shape ``(..., H, W)``.
        pad_h: rows added above and below.
        pad_w: columns added left and right.

    Returns:
        Tensor of shape ``(..., H + 2 * pad_h, W + 2 * pad_w)``.

    Example:
        >>> import torch
        >>> mirror_pad(torch.tensor([[1.0, 2.0]]), 0, 3).tolist()
        [[2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0]]
    """
    h, w = x.shape[-2:]
    if pad_h < h and pad_w < w and x.ndim in (3, 4) and x.numel() > 0:
        return F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    rows = mirror_indices(h, -pad_h, h + pad_h, x.device)
    cols = mirror_indices(w, -pad_w, w + pad_w, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)
