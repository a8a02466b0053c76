"""Defenses against what a user would otherwise run, on 64 and 512 histology patches (CPU).

Each group times hermes next to its reference on the same batch of 3x96x96 crops of scikit-image's
immunohistochemistry slide, and ``benchmarks/conftest.py`` prints the ratio of the medians:

- JPEG (q=50): hermes' batched libjpeg calls vs a Pillow save/open loop, one image at a time
  (both include the float -> uint8 -> float conversions);
- median (windows 3 and 5): hermes' comparator networks vs ``scipy.ndimage.median_filter`` on
  the whole batch array (one call; a per-image loop would only be slower), and kornia's
  ``median_blur`` for 64 images (its 512 case would hold ``k^2`` copies of the batch);
- Gaussian (3x3, sigma 0.8 and 5x5, sigma 0.6): hermes' separable shifted sums vs
  ``scipy.ndimage.gaussian_filter`` and kornia's ``gaussian_blur2d``.

Every pair is also checked to give the same output. Run (single-threaded, as scipy and Pillow are):

    OMP_NUM_THREADS=1 pytest benchmarks/test_bench_defenses.py --benchmark-group-by=group
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from kornia.filters import gaussian_blur2d, median_blur
from PIL import Image
from skimage import data

from hermes.defenses.functional import gaussian_smoothing, jpeg, median_smoothing

BATCHES = [64, 512]


def rounds(batch: int) -> int:
    return 7 if batch <= 64 else 3


@functools.cache
def patches(batch: int) -> torch.Tensor:
    """``batch`` distinct 96x96 RGB crops in [0, 1], float32, ``(batch, 3, 96, 96)``."""
    slide = torch.from_numpy(np.ascontiguousarray(data.immunohistochemistry()))
    slide = slide.permute(2, 0, 1).float() / 255
    tops = [(37 + 53 * i) % (512 - 96 + 1) for i in range(batch)]
    lefts = [(11 + 97 * i) % (512 - 96 + 1) for i in range(batch)]
    return torch.stack([slide[:, t : t + 96, s : s + 96] for t, s in zip(tops, lefts)])


# --- JPEG ---------------------------------------------------------------------------------


def pillow_jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    pixels = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        out[i] = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255


JPEG_IMPLS = {"hermes": lambda x: jpeg(x, 50), "pillow-loop": lambda x: pillow_jpeg(x, 50)}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("impl", JPEG_IMPLS)
def test_bench_jpeg(benchmark, impl: str, batch: int) -> None:
    benchmark.group = f"jpeg-q50-{batch}x3x96x96"
    x = patches(batch)
    out = benchmark.pedantic(JPEG_IMPLS[impl], args=(x,), rounds=rounds(batch), warmup_rounds=1)
    reference = out if impl == "pillow-loop" else pillow_jpeg(x[:64], 50)
    assert torch.equal(out[:64], reference[:64])


# --- median ---------------------------------------------------------------------------------


def scipy_median(x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.from_numpy(ndi.median_filter(x.numpy(), size=(1, 1, k, k), mode="mirror"))


MEDIAN_IMPLS = {
    "hermes": lambda x, k: median_smoothing(x, k),
    "scipy": scipy_median,
    "kornia": lambda x, k: median_blur(x, k, border_type="reflect"),
}


# kornia's median holds window^2 copies of the batch: timed on the 64-image batch only.
MEDIAN_CASES = [
    (impl, window, batch)
    for batch in BATCHES
    for window in (3, 5)
    for impl in MEDIAN_IMPLS
    if not (impl == "kornia" and batch > 64)
]


@pytest.mark.parametrize(("impl", "window", "batch"), MEDIAN_CASES)
def test_bench_median(benchmark, impl: str, window: int, batch: int) -> None:
    benchmark.group = f"median-w{window}-{batch}x3x96x96"
    x = patches(batch)
    warmup = 1 if impl == "hermes" else 0
    out = benchmark.pedantic(
        MEDIAN_IMPLS[impl], args=(x, window), rounds=rounds(batch), warmup_rounds=warmup
    )
    assert torch.equal(out, median_smoothing(x, window))


# --- Gaussian -------------------------------------------------------------------------------


def scipy_gaussian(x: torch.Tensor, k: int, sigma: float) -> torch.Tensor:
    r = k // 2
    return torch.from_numpy(
        ndi.gaussian_filter(
            x.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", radius=(0, 0, r, r)
        )
    )


GAUSSIAN_IMPLS = {
    "hermes": lambda x, k, s: gaussian_smoothing(x, k, s),
    "scipy": scipy_gaussian,
    "kornia": lambda x, k, s: gaussian_blur2d(x, (k, k), (s, s), border_type="reflect"),
}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize(("kernel", "sigma"), [(3, 0.8), (5, 0.6)])
@pytest.mark.parametrize("impl", GAUSSIAN_IMPLS)
def test_bench_gaussian(benchmark, impl: str, kernel: int, sigma: float, batch: int) -> None:
    benchmark.group = f"gaussian-k{kernel}-s{sigma}-{batch}x3x96x96"
    x = patches(batch)
    out = benchmark.pedantic(
        GAUSSIAN_IMPLS[impl], args=(x, kernel, sigma), rounds=rounds(batch), warmup_rounds=1
    )
    torch.testing.assert_close(out, gaussian_smoothing(x, kernel, sigma), atol=1e-5, rtol=0)
