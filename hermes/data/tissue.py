"""Synthetic PatchCamelyon tissue: H&E-like 96x96 patches drawn in memory, with ground truth.

The patches are procedurally drawn, not real tissue. Each is pink stroma (eosin) with texture,
fibres and white gaps, sprinkled with small dark nuclei (lymphocytes) and elongated ones
(fibroblasts). A patch is **positive** when a tumour cluster, a dense group of large, dark,
irregular nuclei with pale purple cytoplasm, has at least one pixel inside the central
32x32 region (PCam's rule, with "tumour tissue" made concrete).

Nuisances keep the task learnable but not trivially: per-patch stain colour, stain strength,
illumination, blur and sensor noise; negatives with isolated large nuclei (also in the centre) or
with a tumour cluster just outside the centre; positives with small clusters that only graze the
centre; and a few percent of labels flipped.

Patches are drawn in blocks of 256, each block from its own seed derived from ``(seed, split,
block)``: files of any size are written block by block in bounded memory
(:func:`hermes.data.make_synthetic_pcam` writes them), and the first ``256 * k`` patches are
the same whatever the total.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hermes._random import check_seed
from hermes._validation import check_number, check_positive_int
from hermes.data._pcam_files import SPLITS, check_split
from hermes.data._render import blur, draw_blobs, fibre_field, smooth_noise

__all__ = ["SyntheticPatches", "generate_synthetic_patches", "synthetic_pcam_arrays"]

SIZE = 96
CENTRE = (32, 64)  # rows/columns [32, 64): PCam's central 32x32 region
_PAD = 14  # canvas margin: blob windows (half-width <= _PAD) around centres in [0, 95]
_BLOCK = 256  # patches drawn per seed; also the HDF5 write unit
_TUMOUR_MAX = 14  # nuclei in a tumour cluster, at most
# Stain optical densities per unit concentration (RGB): haematoxylin as in Ruifrok & Johnston;
# eosin absorbs more blue than theirs, which gives the pinker look of PCam's scans.
_HAEMATOXYLIN = (0.65, 0.70, 0.29)
_EOSIN = (0.05, 0.85, 0.35)


@dataclass(frozen=True)
class SyntheticPatches:
    """Synthetic patches in the release's array format, with the generator's ground truth.

    Attributes:
        x: ``uint8 (N, 96, 96, 3)`` RGB images, channels last (the files' ``x``).
        y: ``uint8 (N, 1, 1, 1)`` labels after label noise (the files' ``y``).
        clean_y: ``uint8 (N,)`` labels before label noise: 1 exactly when ``tumour_mask`` has a
            pixel in the central 32x32 region.
        tumour_mask: ``bool (N, 96, 96)`` pixels inside a tumour-cluster nucleus.
        tumour_nuclei: ``(N,)`` nuclei drawn in the patch's tumour cluster (0: no cluster).
        cluster_outside: ``bool (N,)`` negatives whose tumour cluster was placed just outside the
            centre (and cut back so that none of it enters the centre).
        atypical_nuclei: ``(N,)`` isolated large nuclei that look tumour-like but are not part of
            a cluster, so they do not make a patch positive.
    """

    x: np.ndarray
    y: np.ndarray
    clean_y: np.ndarray
    tumour_mask: np.ndarray
    tumour_nuclei: np.ndarray
    cluster_outside: np.ndarray
    atypical_nuclei: np.ndarray


def _block_generator(seed: int, split: str, block: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, SPLITS.index(split), block]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state[0]) >> 1)


def _uniform(shape: Any, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return low + (high - low) * torch.rand(shape, generator=g)


def _large_nuclei(patch: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Shape parameters of large, dark, irregular (tumour-like) nuclei."""
    k = patch.numel()
    major = _uniform(k, 4.0, 6.2, g)
    return {
        "patch": patch,
        "semi_major": major,
        "semi_minor": major * _uniform(k, 0.65, 0.95, g),
        "angle": _uniform(k, 0.0, math.pi, g),
        "wobble": _uniform((k, 3), 0.0, 0.09, g),
        "phase": _uniform((k, 3), 0.0, 2 * math.pi, g),
        "darkness": _uniform(k, 0.85, 1.25, g),
    }


def _small_nuclei(counts: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Lymphocytes (small, round, dark) and fibroblasts (elongated, paler), scattered and clumped."""
    patch = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    k = patch.numel()
    n = counts.numel()
    clump_y, clump_x = _uniform(n, 10, 86, g), _uniform(n, 10, 86, g)
    spread = _uniform(n, 8, 20, g)
    clumped = torch.rand(k, generator=g) < 0.4
    uniform_y, uniform_x = _uniform(k, 0, SIZE - 1, g), _uniform(k, 0, SIZE - 1, g)
    near_y = clump_y[patch] + spread[patch] * torch.randn(k, generator=g)
    near_x = clump_x[patch] + spread[patch] * torch.randn(k, generator=g)
    cy = torch.where(clumped, near_y, uniform_y).clamp(0, SIZE - 1)
    cx = torch.where(clumped, near_x, uniform_x).clamp(0, SIZE - 1)
    fibroblast = torch.rand(k, generator=g) < 0.25
    major = torch.where(fibroblast, _uniform(k, 3.0, 5.0, g), _uniform(k, 1.8, 3.0, g))
    minor = torch.where(fibroblast, _uniform(k, 1.0, 1.6, g), major * _uniform(k, 0.8, 1.0, g))
    darkness = torch.where(fibroblast, _uniform(k, 0.55, 0.95, g), _uniform(k, 0.8, 1.3, g))
    return {
        "patch": patch,
        "cy": cy,
        "cx": cx,
        "semi_major": major,
        "semi_minor": minor,
        "angle": _uniform(k, 0.0, math.pi, g),
        "wobble": _uniform((k, 3), 0.0, 0.04, g),
        "phase": _uniform((k, 3), 0.0, 2 * math.pi, g),
        "darkness": darkness,
    }


def _distance_to_centre(cy: torch.Tensor, cx: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from points to the central square of pixel centres [32, 63]^2."""
    low, high = CENTRE[0], CENTRE[1] - 1
    dy = torch.clamp(torch.maximum(low - cy, cy - high), min=0)
    dx = torch.clamp(torch.maximum(low - cx, cx - high), min=0)
    return torch.hypot(dy, dx)


def _tumour_clusters(
    positive: torch.Tensor, outside: torch.Tensor, g: torch.Generator
) -> dict[str, torch.Tensor]:
    """Nuclei of the tumour clusters: touching the centre for positives, outside it otherwise."""
    n = positive.numel()
    # Positives: a seed nucleus centred inside the central square guarantees a tumour pixel
    # there; the rest of the cluster spreads around a centre near the seed.
    seed_y, seed_x = _uniform(n, 33, 62, g), _uniform(n, 33, 62, g)
    radius = _uniform(n, 8, 18, g)
    drift = radius * 0.7 * torch.sqrt(torch.rand(n, generator=g))
    turn = _uniform(n, 0, 2 * math.pi, g)
    pos_cy, pos_cx = seed_y + drift * torch.sin(turn), seed_x + drift * torch.cos(turn)
    # Outside clusters: centred 3-14 px beyond a random side of the central square.
    side = torch.randint(0, 4, (n,), generator=g)
    along = _uniform(n, 20, 76, g)
    across = torch.where(side % 2 == 0, 32 - _uniform(n, 3, 14, g), 63 + _uniform(n, 3, 14, g))
    out_cy = torch.where(side < 2, across, along)
    out_cx = torch.where(side < 2, along, across)
    has_cluster = positive | outside
    counts = (
        torch.where(
            positive,
            torch.randint(4, _TUMOUR_MAX + 1, (n,), generator=g),
            torch.randint(6, _TUMOUR_MAX + 1, (n,), generator=g),
        )
        * has_cluster
    )
    slot = torch.arange(_TUMOUR_MAX).expand(n, -1)
    active = slot < counts.view(-1, 1)
    angle = _uniform((n, _TUMOUR_MAX), 0, 2 * math.pi, g)
    dist = radius.view(-1, 1) * torch.sqrt(torch.rand(n, _TUMOUR_MAX, generator=g))
    centre_y = torch.where(positive, pos_cy, out_cy).view(-1, 1)
    centre_x = torch.where(positive, pos_cx, out_cx).view(-1, 1)
    cy = centre_y + dist * torch.sin(angle)
    cx = centre_x + dist * torch.cos(angle)
    seed_slot = positive.view(-1, 1) & (slot == 0)
    cy = torch.where(seed_slot, seed_y.view(-1, 1), cy)
    cx = torch.where(seed_slot, seed_x.view(-1, 1), cx)
    patch = torch.arange(n).view(-1, 1).expand(n, _TUMOUR_MAX)
    nuclei = _large_nuclei(patch[active], g)
    nuclei["cy"], nuclei["cx"] = cy[active], cx[active]
    inside = (nuclei["cy"] >= 0) & (nuclei["cy"] <= SIZE - 1)
    inside &= (nuclei["cx"] >= 0) & (nuclei["cx"] <= SIZE - 1)
    # Negatives: drop every nucleus that could reach the centre (its farthest boundary point
    # is at most semi_major * (1 + sum of wobbles) from its centre).
    reach = nuclei["semi_major"] * (1 + nuclei["wobble"].sum(1)) + 0.5
    clear = _distance_to_centre(nuclei["cy"], nuclei["cx"]) > reach
    keep = inside & (positive[nuclei["patch"]] | clear)
    return {key: value[keep] for key, value in nuclei.items()}


def _atypical(counts: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Isolated large nuclei anywhere in the patch (tumour-like cells that are not a cluster)."""
    patch = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    nuclei = _large_nuclei(patch, g)
    nuclei["cy"] = _uniform(patch.numel(), 4, SIZE - 5, g)
    nuclei["cx"] = _uniform(patch.numel(), 4, SIZE - 5, g)
    return nuclei


def _draw(
    canvas: torch.Tensor,
    nuclei: dict[str, torch.Tensor],
    value: torch.Tensor,
    half: int,
    scale: float = 1.0,
    mask: torch.Tensor | None = None,
) -> None:
    draw_blobs(
        canvas,
        _PAD,
        nuclei["patch"],
        nuclei["cy"],
        nuclei["cx"],
        nuclei["semi_major"] * scale,
        nuclei["semi_minor"] * scale,
        nuclei["angle"],
        nuclei["wobble"],
        nuclei["phase"],
        value,
        half,
        mask,
    )


def _chromatin(darkness: torch.Tensor, half: int, g: torch.Generator) -> torch.Tensor:
    side = 2 * half + 1
    return darkness.view(-1, 1, 1) * _uniform((darkness.numel(), side, side), 0.7, 1.3, g)


def _generate_block(n: int, label_noise: float, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Draw ``n`` patches: images, labels and ground truth, all from ``g``."""
    n_pos = n // 2 + int(n % 2 == 1 and bool(torch.rand(1, generator=g) < 0.5))
    positive = torch.zeros(n, dtype=torch.bool)
    positive[torch.randperm(n, generator=g)[:n_pos]] = True
    outside = ~positive & (torch.rand(n, generator=g) < 0.3)
    atypical_counts = torch.where(
        torch.rand(n, generator=g) < torch.where(positive, 0.2, 0.35),
        torch.randint(1, 3, (n,), generator=g),
        0,
    )

    tumour = _tumour_clusters(positive, outside, g)
    atypical = _atypical(atypical_counts, g)
    small = _small_nuclei(torch.randint(15, 91, (n,), generator=g), g)

    side = SIZE + 2 * _PAD
    crop = (slice(None), slice(_PAD, _PAD + SIZE), slice(_PAD, _PAD + SIZE))
    nuclei = torch.zeros(n, side, side)
    halo = torch.zeros(n, side, side)
    mask = torch.zeros(n, side, side)
    fibroblast = small["semi_major"] > 3.0
    # Windows reach >= 1.6 px past the largest boundary, where the soft edge has faded.
    for subset, half in ((~fibroblast, 5), (fibroblast, 7)):
        group = {key: value[subset] for key, value in small.items()}
        _draw(nuclei, group, _chromatin(group["darkness"], half, g), half=half)
    for group, group_mask in ((tumour, mask), (atypical, None)):
        _draw(nuclei, group, _chromatin(group["darkness"], 10, g), half=10, mask=group_mask)
        _draw(halo, group, torch.ones(group["patch"].numel(), 1, 1), half=_PAD, scale=1.5)
    nuclei, halo, tumour_mask = nuclei[crop], halo[crop], mask[crop] > 0.5

    # Stroma: eosin with fibres and texture, faint haematoxylin, white gaps (fat, lumen).
    eosin_level = _uniform((n, 1, 1), 0.3, 0.65, g)
    eosin = eosin_level * (0.8 + 0.25 * torch.tanh(fibre_field(n, SIZE, g)))
    eosin = eosin * torch.exp(0.2 * smooth_noise(n, SIZE, 4, g))
    eosin = eosin * (1 + 0.08 * torch.randn(n, SIZE, SIZE, generator=g)).clamp_min(0)
    background_h = _uniform((n, 1, 1), 0.03, 0.12, g) * torch.exp(0.3 * smooth_noise(n, SIZE, 8, g))
    gap_threshold = _uniform((n, 1, 1), 0.8, 3.0, g)
    tissue = 1 - torch.sigmoid(4 * (smooth_noise(n, SIZE, 3, g) - gap_threshold))
    haematoxylin = background_h * tissue + 0.25 * halo + nuclei
    eosin = eosin * tissue * (1 - 0.5 * nuclei.clamp(max=1)) + 0.12 * halo

    # Per-patch stain vectors, stain strengths and illumination, then optics and sensor.
    h_vec = torch.tensor(_HAEMATOXYLIN) * torch.exp(0.08 * torch.randn(n, 3, generator=g))
    e_vec = torch.tensor(_EOSIN) * torch.exp(0.08 * torch.randn(n, 3, generator=g))
    h_strength = _uniform((n, 1), 1.6, 2.6, g)
    e_strength = _uniform((n, 1), 0.8, 1.4, g)
    density = (haematoxylin.unsqueeze(1) * (h_strength * h_vec).view(n, 3, 1, 1)) + (
        eosin.unsqueeze(1) * (e_strength * e_vec).view(n, 3, 1, 1)
    )
    light = _uniform((n, 1, 1, 1), 222, 252, g) + _uniform((n, 3, 1, 1), -5, 5, g)
    image = blur(light * torch.exp(-density), _uniform(n, 0.35, 1.2, g))
    image = image + _uniform((n, 1, 1, 1), 0.5, 3.0, g) * torch.randn(image.shape, generator=g)
    x = image.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()

    rows, cols = slice(*CENTRE), slice(*CENTRE)
    clean_y = tumour_mask[:, rows, cols].flatten(1).any(1)
    flip = torch.rand(n, generator=g) < label_noise
    return {
        "x": x,
        "y": (clean_y ^ flip).to(torch.uint8).view(n, 1, 1, 1),
        "clean_y": clean_y.to(torch.uint8),
        "tumour_mask": tumour_mask,
        "tumour_nuclei": torch.bincount(tumour["patch"], minlength=n),
        "cluster_outside": outside,
        "atypical_nuclei": atypical_counts,
    }


def draw_blocks(
    n: int, seed: int, split: str, label_noise: float, keep_mask: bool
) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
    """``(start, arrays)`` for each block of ``n`` patches: what the writer stores block by block.

    Arguments already checked; ``keep_mask=False`` drops the (large) tumour masks.
    """
    for block, start in enumerate(range(0, n, _BLOCK)):
        out = _generate_block(
            min(_BLOCK, n - start), label_noise, _block_generator(seed, split, block)
        )
        if not keep_mask:
            del out["tumour_mask"]
        yield start, out


def generate_synthetic_patches(
    n: int, seed: int = 0, *, split: str = "train", label_noise: float = 0.03
) -> SyntheticPatches:
    """Draw ``n`` synthetic PCam patches in memory, with the generator's ground truth.

    Args:
        n: number of patches (``>= 0``).
        seed: a non-negative int; the same ``(seed, split)`` always gives the same patches.
        split: ``"train"``, ``"valid"`` or ``"test"``: each split is its own random stream, the
            same one :func:`make_synthetic_pcam` writes to that split's files.
        label_noise: probability that a label is flipped (``0 <= label_noise <= 0.5``).

    Returns:
        A :class:`SyntheticPatches` (numpy arrays).

    Example:
        >>> patches = generate_synthetic_patches(8, seed=0)
        >>> patches.x.shape, patches.x.dtype, patches.y.shape
        ((8, 96, 96, 3), dtype('uint8'), (8, 1, 1, 1))
        >>> bool((patches.clean_y == patches.tumour_mask[:, 32:64, 32:64].any(axis=(1, 2))).all())
        True
    """
    n = check_positive_int(n, "n", minimum=0)
    seed = check_seed(seed)
    split = check_split(split)
    label_noise = check_number(label_noise, "label_noise", low=0.0, high=0.5)
    parts = [out for _, out in draw_blocks(n, seed, split, label_noise, keep_mask=True)]
    if not parts:
        return SyntheticPatches(
            x=np.zeros((0, SIZE, SIZE, 3), np.uint8),
            y=np.zeros((0, 1, 1, 1), np.uint8),
            clean_y=np.zeros(0, np.uint8),
            tumour_mask=np.zeros((0, SIZE, SIZE), bool),
            tumour_nuclei=np.zeros(0, np.int64),
            cluster_outside=np.zeros(0, bool),
            atypical_nuclei=np.zeros(0, np.int64),
        )
    fields = {key: torch.cat([p[key] for p in parts]).numpy() for key in parts[0]}
    return SyntheticPatches(**fields)


def synthetic_pcam_arrays(
    n: int, seed: int = 0, *, split: str = "train", label_noise: float = 0.03
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic patches as the release's arrays: ``x`` uint8 ``(N, 96, 96, 3)``, ``y`` uint8 ``(N, 1, 1, 1)``.

    The same patches as :func:`generate_synthetic_patches` (and as the files
    :func:`make_synthetic_pcam` writes for ``split``), without the ground truth.

    Example:
        >>> x, y = synthetic_pcam_arrays(4, seed=1)
        >>> x.shape, y.shape, sorted(set(y.ravel().tolist())) <= [0, 1]
        ((4, 96, 96, 3), (4, 1, 1, 1), True)
    """
    patches = generate_synthetic_patches(n, seed, split=split, label_noise=label_noise)
    return patches.x, patches.y
