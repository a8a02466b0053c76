"""Vectorised drawing primitives for the synthetic PCam generator.

Every function works on a whole batch of patches at once (no Python loop over patches or
nuclei) and draws its randomness from the ``torch.Generator`` it is given.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["blur", "draw_blobs", "fibre_field", "smooth_noise"]


def smooth_noise(n: int, size: int, cells: int, generator: torch.Generator) -> torch.Tensor:
    """Standard-normal noise on a ``cells x cells`` grid, interpolated bilinearly to ``size``.

    Returns a ``(n, size, size)`` field whose features are about ``size / cells`` pixels wide.
    """
    coarse = torch.randn(n, 1, cells, cells, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)[:, 0]


def fibre_field(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Streaky noise (long along one random direction per patch), like collagen fibres.

    A coarse grid of noise that is fine in one direction and coarse in the other is sampled
    bilinearly along a rotated grid. Returns a ``(n, size, size)`` field with roughly unit
    variance.
    """
    streaks = torch.randn(n, 1, 5, 36, generator=generator)
    angle = torch.rand(n, generator=generator) * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(angle)
    # The rotated window covers the central 0.6 of the streak grid, so it never leaves it.
    theta = torch.stack(
        [torch.stack([cos, -sin, zero], 1) * 0.6, torch.stack([sin, cos, zero], 1) * 0.6], 1
    )
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    field = F.grid_sample(streaks, grid, mode="bilinear", align_corners=False)[:, 0]
    return field / field.std(dim=(1, 2), keepdim=True).clamp_min(1e-6)


def draw_blobs(
    canvas: torch.Tensor,
    pad: int,
    patch: torch.Tensor,
    cy: torch.Tensor,
    cx: torch.Tensor,
    semi_major: torch.Tensor,
    semi_minor: torch.Tensor,
    angle: torch.Tensor,
    wobble: torch.Tensor,
    phase: torch.Tensor,
    value: torch.Tensor,
    half: int,
    occupancy_canvas: torch.Tensor | None = None,
) -> None:
    """Draw irregular ellipses into ``canvas`` (in place, keeping the per-pixel maximum).

    Each blob is an ellipse whose boundary radius is modulated by low harmonics
    (``1 + sum_k wobble_k cos((k + 2) phi + phase_k)``), with a soft edge about one pixel wide.
    Blob ``i`` raises each pixel of patch ``patch_i`` of ``canvas`` to at least
    ``occupancy * value_i``, where occupancy is above 0.5 exactly inside the (wobbly) boundary.

    Args:
        canvas: ``(N, S, S)`` float tensor with ``S = 96 + 2 * pad``; pixel ``(r, c)`` of the image
            is canvas pixel ``(r + pad, c + pad)``.
        pad: the canvas margin; blob centres must lie in ``[0, 95]`` and ``half <= pad``.
        patch: ``(K,)`` long, the patch each blob belongs to.
        cy, cx: ``(K,)`` centre coordinates in image pixels.
        semi_major, semi_minor: ``(K,)`` semi-axes in pixels.
        angle: ``(K,)`` orientation in radians.
        wobble, phase: ``(K, 3)`` amplitudes and phases of harmonics 2, 3 and 4.
        value: ``(K, h, h)`` or ``(K, 1, 1)`` intensity inside the blob (``h = 2 * half + 1``).
        half: half the side of the square window each blob is drawn in.
        occupancy_canvas: optionally a second canvas like ``canvas`` that receives the
            occupancies themselves (a soft mask of the blobs).
    """
    size = canvas.shape[-1]
    offsets = torch.arange(-half, half + 1, dtype=canvas.dtype)
    iy, ix = cy.round().long(), cx.round().long()
    dy = offsets.view(1, -1, 1) - (cy - iy).view(-1, 1, 1)
    dx = offsets.view(1, 1, -1) - (cx - ix).view(-1, 1, 1)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    u = (dx * cos + dy * sin) / semi_major.view(-1, 1, 1)
    v = (-dx * sin + dy * cos) / semi_minor.view(-1, 1, 1)
    radius = torch.sqrt(u * u + v * v)
    phi = torch.atan2(v, u)
    harmonics = torch.arange(2, 5, dtype=canvas.dtype).view(1, 3, 1, 1)
    boundary = 1 + (
        wobble.view(-1, 3, 1, 1) * torch.cos(harmonics * phi.unsqueeze(1) + phase.view(-1, 3, 1, 1))
    ).sum(1)
    # (boundary - radius) * semi_minor is a signed distance in pixels (exact on a circle).
    occupancy = torch.sigmoid((boundary - radius) * semi_minor.view(-1, 1, 1) / 0.45)
    rows = (iy + pad).view(-1, 1, 1) + offsets.long().view(1, -1, 1)
    cols = (ix + pad).view(-1, 1, 1) + offsets.long().view(1, 1, -1)
    flat = patch.view(-1, 1, 1) * (size * size) + rows * size + cols
    flat = flat.reshape(-1)
    canvas.view(-1).scatter_reduce_(0, flat, (occupancy * value).reshape(-1), reduce="amax")
    if occupancy_canvas is not None:
        occupancy_canvas.view(-1).scatter_reduce_(0, flat, occupancy.reshape(-1), reduce="amax")


def blur(images: torch.Tensor, sigma: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Gaussian blur with a different ``sigma`` per image (reflect padding).

    One grouped convolution: the images are the groups and the colour channels the batch.

    Args:
        images: ``(N, C, H, W)`` float.
        sigma: ``(N,)`` positive standard deviations in pixels.
        radius: kernel half-width.
    """
    n, side = images.shape[0], 2 * radius + 1
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype)
    line = torch.exp(-0.5 * (taps.view(1, -1) / sigma.view(-1, 1)) ** 2)
    line = line / line.sum(1, keepdim=True)
    kernel = (line.view(n, side, 1) * line.view(n, 1, side)).view(n, 1, side, side)
    padded = F.pad(images.transpose(0, 1), (radius,) * 4, mode="reflect")
    return F.conv2d(padded, kernel, groups=n).transpose(0, 1)
