"""Gaussian smoothing against scipy and kornia, its gradients and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from kornia.filters import gaussian_blur2d

from hermes.defenses import GaussianSmoothing
from hermes.defenses.functional import gaussian_smoothing
from tests.defenses.conftest import ihc_patches

STUDY_GRID = [(k, s) for k in (3, 5) for s in (0.2, 0.4, 0.6, 0.8)]


def scipy_gaussian(x: torch.Tensor, k: int, sigma: float) -> np.ndarray:
    return ndi.gaussian_filter(
        x.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", radius=(0, 0, k // 2, k // 2)
    )


@pytest.mark.parametrize(("k", "sigma"), STUDY_GRID)
def test_matches_scipy_on_the_study_grid(k: int, sigma: float) -> None:
    x = ihc_patches(3)
    np.testing.assert_allclose(
        gaussian_smoothing(x, k, sigma).numpy(), scipy_gaussian(x, k, sigma), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize(("k", "sigma"), [(3, 0.8), (7, 2.5), (9, 1.0)])
def test_matches_scipy_in_float64_and_on_small_odd_images(k: int, sigma: float) -> None:
    # 7x9 and 2x3 images: a 9-tap kernel is wider than the image, so the mirror wraps again.
    for size in [(7, 9), (2, 3), (1, 1)]:
        x = ihc_patches(2, size=size, dtype=torch.float64)
        np.testing.assert_allclose(
            gaussian_smoothing(x, k, sigma).numpy(), scipy_gaussian(x, k, sigma), atol=1e-12, rtol=0
        )


@pytest.mark.parametrize(("k", "sigma"), [(3, 0.8), (5, 0.4), (5, 1.7)])
def test_matches_kornia_gaussian_blur2d_with_reflect_borders(k: int, sigma: float) -> None:
    x = ihc_patches(3)
    expected = gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")
    torch.testing.assert_close(gaussian_smoothing(x, k, sigma), expected, atol=1e-6, rtol=0)


def test_small_sigma_is_numerically_a_no_op() -> None:
    # The study's (k=3, sigma=0.2) cell: neighbour weights are exp(-12.5) ~ 4e-6.
    x = ihc_patches(2)
    assert (gaussian_smoothing(x, 3, 0.2) - x).abs().max() < 2e-5
    assert (gaussian_smoothing(x, 3, 0.8) - x).abs().max() > 0.05


def test_keeps_constants_and_mass_and_stays_in_range() -> None:
    flat = torch.full((1, 3, 10, 10), 0.7)
    torch.testing.assert_close(gaussian_smoothing(flat, 5, 1.0), flat)
    white = torch.ones(2, 3, 33, 17)
    out = gaussian_smoothing(white, 5, 1.3)
    assert float(out.max()) <= 1.0 and float(out.min()) > 1.0 - 1e-6
    impulse = torch.zeros(1, 1, 11, 11)
    impulse[..., 5, 5] = 1.0
    torch.testing.assert_close(gaussian_smoothing(impulse, 5, 1.0).sum(), torch.tensor(1.0))


def test_dtypes_are_kept() -> None:
    x = ihc_patches(1, size=16)
    assert gaussian_smoothing(x.double(), 3, 0.8).dtype == torch.float64
    half = gaussian_smoothing(x.half(), 3, 0.8)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), gaussian_smoothing(x, 3, 0.8), atol=2e-3, rtol=0)


@pytest.mark.parametrize(("k", "sigma"), [(3, 0.8), (5, 1.5)])
def test_exact_gradient_gradcheck(k: int, sigma: float) -> None:
    g = torch.Generator().manual_seed(k)
    x = (0.05 + 0.9 * torch.rand(2, 2, 6, 5, dtype=torch.float64, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: gaussian_smoothing(v, k, sigma), (x,))


def test_exact_gradient_is_the_adjoint_blur() -> None:
    # For a linear map, <blur(x), y> == <x, blur^T(y)>; in the interior the blur is symmetric.
    x = ihc_patches(1, size=20, dtype=torch.float64).requires_grad_(True)
    y = torch.zeros_like(x)
    y[..., 10, 10] = 1.0
    (grad,) = torch.autograd.grad(gaussian_smoothing(x, 5, 1.0), x, y)
    torch.testing.assert_close(grad, gaussian_smoothing(y, 5, 1.0), atol=1e-12, rtol=0)


@pytest.mark.parametrize(("k", "sigma"), [(3, 0.8), (5, 0.4), (7, 1.3)])
def test_exact_gradient_does_not_vanish_on_white_background(k: int, sigma: float) -> None:
    """The blur is linear: its gradient is the same at a white image as anywhere else (rounding
    past 1 is clamped away in the value, never in the gradient)."""
    g = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    grads = []
    for level in (1.0, 0.5):
        x = torch.full((2, 3, 12, 12), level).requires_grad_(True)
        out = gaussian_smoothing(x, k, sigma)
        assert out.max() <= 1.0
        grads.append(torch.autograd.grad(out, x, g)[0])
    kornia_grad = torch.autograd.grad(
        gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect"), x, g
    )[0]
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(grads[0], kornia_grad, atol=1e-5, rtol=0)


def test_identity_gradient_passes_through() -> None:
    x = ihc_patches(2, size=16).requires_grad_(True)
    out = gaussian_smoothing(x, 5, 0.8, gradient="identity")
    assert torch.equal(out, gaussian_smoothing(x.detach(), 5, 0.8))
    g = torch.randn_like(out)
    assert torch.equal(torch.autograd.grad(out, x, g)[0], g)


def test_module_matches_function() -> None:
    x = ihc_patches(2)
    defense = GaussianSmoothing(5, 0.6)
    assert torch.equal(defense(x), gaussian_smoothing(x, 5, 0.6))
    assert (defense.kernel_size, defense.sigma, defense.gradient) == (5, 0.6, "exact")
    assert (
        repr(GaussianSmoothing()) == "GaussianSmoothing(kernel_size=3, sigma=0.8, gradient='exact')"
    )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"kernel_size": 4}, "kernel_size"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": -1}, "kernel_size"),
        ({"kernel_size": 3.0}, "kernel_size"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": -0.5}, "sigma"),
        ({"sigma": float("nan")}, "sigma"),
        ({"sigma": "0.8"}, "sigma"),
        ({"gradient": "surrogate"}, "gradient"),
    ],
)
def test_bad_arguments(kwargs, name) -> None:
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises((ValueError, TypeError), match=name):
        gaussian_smoothing(x, **kwargs)
    with pytest.raises((ValueError, TypeError), match=name):
        GaussianSmoothing(**kwargs)
