"""JPEG against Pillow's round trip, its gradient modes, kornia's approximation and errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from kornia.enhance import jpeg_codec_differentiable
from PIL import Image

from hermes.defenses import JPEG
from hermes.defenses.functional import jpeg
from hermes.errors import ShapeError
from tests.defenses.conftest import ihc_patches, ihc_uint8


def pillow_round_trip(images: torch.Tensor, quality: int) -> torch.Tensor:
    """What a user would run: one Pillow save/open per uint8 (B, C, H, W) image."""
    out = []
    for image in images:
        array = image.permute(1, 2, 0).numpy()
        array = array[..., 0] if array.shape[-1] == 1 else array
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
        decoded = decoded[..., None] if decoded.ndim == 2 else decoded
        out.append(torch.from_numpy(decoded.copy()).permute(2, 0, 1))
    return torch.stack(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for images in [0, 1]."""
    return -10 * torch.log10(((a - b) ** 2).flatten(1).mean(1))


@pytest.mark.parametrize("quality", [10, 25, 50, 70, 90, 95])
@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("size", [(96, 96), (37, 51), (17, 9), (1, 1)])
def test_byte_identical_to_pillow(quality: int, channels: int, size: tuple[int, int]) -> None:
    pixels = ihc_uint8(3, size, channels)
    expected = pillow_round_trip(pixels, quality)
    out = jpeg(pixels.float() / 255, quality)
    assert torch.equal(out, expected.float() / 255)
    assert torch.equal((out * 255).round().to(torch.uint8), expected)


def test_rounds_to_nearest_level_unlike_art_truncation() -> None:
    # ART casts x * 255 to uint8 (truncation): 0.6 of a level below the next would drop.
    pixels = ihc_uint8(2, 32).clamp(max=254)
    lower = ((pixels.double() + 0.4) / 255).float()  # rounds down to `pixels`
    upper = ((pixels.double() + 0.6) / 255).float()  # rounds up to the next level
    assert torch.equal(jpeg(lower, 50), pillow_round_trip(pixels, 50).float() / 255)
    assert torch.equal(jpeg(upper, 50), pillow_round_trip(pixels + 1, 50).float() / 255)
    truncated = pillow_round_trip(pixels, 50).float() / 255
    assert not torch.equal(jpeg(upper, 50), truncated)


def test_output_dtype_device_and_levels() -> None:
    x = ihc_patches(2, size=24, dtype=torch.float64)
    out = jpeg(x, 70)
    assert out.dtype == torch.float64 and out.device == x.device and out.shape == x.shape
    assert torch.equal(out, (out * 255).round() / 255)
    assert jpeg(x.half(), 70).dtype == torch.float16


def test_quality_changes_fidelity() -> None:
    x = ihc_patches(4)
    quality = [psnr(jpeg(x, q), x).mean() for q in (10, 50, 90)]
    assert quality[0] < quality[1] < quality[2]


# --- gradient modes -------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [3, 1])
def test_surrogate_forward_is_the_real_codec_and_backward_is_kornias(channels: int) -> None:
    x = ihc_patches(2, size=(40, 24), channels=channels).requires_grad_(True)
    out = jpeg(x, 50)  # default gradient="surrogate"
    assert torch.equal(out, jpeg(x.detach(), 50))
    weights = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, weights)
    leaf = x.detach().requires_grad_(True)
    q = torch.tensor([50.0])
    if channels == 3:
        model = jpeg_codec_differentiable(leaf, q)
    else:  # grayscale goes through kornia as three equal channels, averaged back
        model = jpeg_codec_differentiable(leaf.expand(-1, 3, -1, -1), q).mean(1, keepdim=True)
    (expected,) = torch.autograd.grad(model, leaf, weights)
    assert torch.equal(grad, expected)
    assert not torch.equal(grad, weights)


def test_identity_gradient_passes_through() -> None:
    x = ihc_patches(2, size=16).requires_grad_(True)
    out = jpeg(x, 30, gradient="identity")
    assert torch.equal(out, jpeg(x.detach(), 30))
    g = torch.randn_like(out)
    assert torch.equal(torch.autograd.grad(out, x, g)[0], g)


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_differentiable_forward_is_kornias_model_close_to_real_jpeg(quality: int) -> None:
    # Measured on these patches: about 38.5 / 42.4 / 46.2 dB mean at q = 10 / 50 / 90.
    x = ihc_patches(8)
    approx = jpeg(x, quality, differentiable=True)
    assert torch.equal(approx, jpeg_codec_differentiable(x, torch.tensor([float(quality)])))
    assert psnr(approx, jpeg(x, quality)).min() > 35.0
    gray = ihc_patches(4, channels=1)
    assert psnr(jpeg(gray, quality, differentiable=True), jpeg(gray, quality)).min() > 40.0


def test_differentiable_mode_has_autograd_gradients() -> None:
    x = ihc_patches(1, size=(24, 40), dtype=torch.float64).requires_grad_(True)
    out = jpeg(x, 50, differentiable=True)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.shape == x.shape and bool(torch.isfinite(grad).all()) and grad.abs().sum() > 0
    ident = jpeg(x, 50, gradient="identity", differentiable=True)
    assert torch.equal(ident, out.detach())
    assert torch.equal(torch.autograd.grad(ident.sum(), x)[0], torch.ones_like(x))


# --- module and errors ------------------------------------------------------------------------


def test_module_matches_function() -> None:
    x = ihc_patches(2)
    assert torch.equal(JPEG(70)(x), jpeg(x, 70))
    assert torch.equal(JPEG(70, differentiable=True)(x), jpeg(x, 70, differentiable=True))
    defense = JPEG()
    assert (defense.quality, defense.gradient, defense.differentiable) == (50, "surrogate", False)
    assert "quality=50" in repr(defense)


@pytest.mark.parametrize("channels", [2, 4])
def test_channel_counts_jpeg_cannot_encode(channels: int) -> None:
    with pytest.raises(ShapeError, match=r"x must have 1 \(grayscale\) or 3 \(RGB\) channels"):
        jpeg(torch.rand(1, channels, 8, 8))
    with pytest.raises(ShapeError, match="x must have"):
        JPEG()(torch.rand(1, channels, 8, 8))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"quality": 0}, "quality"),
        ({"quality": 101}, "quality"),
        ({"quality": -5}, "quality"),
        ({"quality": 50.0}, "quality"),
        ({"quality": True}, "quality"),
        ({"gradient": "exact"}, "gradient"),
        ({"gradient": "unrolled"}, "gradient"),
        ({"differentiable": 1}, "differentiable"),
    ],
)
def test_bad_arguments(kwargs, name) -> None:
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises((ValueError, TypeError), match=name):
        jpeg(x, **kwargs)
    with pytest.raises((ValueError, TypeError), match=name):
        JPEG(**kwargs)
