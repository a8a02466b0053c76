"""Defenses on volumes ``(N, C, D, H, W)``: 3D Gaussian and median smoothing against scipy.ndimage,
their gradients, dtype/device, and the 2D-only defenses (JPEG, TVM) refusing volumes clearly."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

from hermes.defenses import JPEG, TVM, GaussianSmoothing, Identity, MedianSmoothing
from hermes.defenses.functional import gaussian_smoothing, identity, jpeg, median_smoothing, tvm
from hermes.errors import RangeError, ShapeError

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def volumes(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    """Random volumes in [0, 1], the same on every call."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def scipy_gaussian_3d(x: torch.Tensor, k: int, sigma: float) -> np.ndarray:
    """scipy's Gaussian over each (D, H, W) volume, truncated to ``k`` taps, mirrored borders."""
    r = k // 2
    return ndi.gaussian_filter(
        x.cpu().double().numpy(),
        sigma=(0, 0, sigma, sigma, sigma),
        mode="mirror",
        radius=(0, 0, r, r, r),
    )


def scipy_median_3d(x: torch.Tensor, k: int) -> np.ndarray:
    """scipy's median over each (D, H, W) volume with a ``k x k x k`` window, mirrored borders."""
    return ndi.median_filter(x.cpu().numpy(), size=(1, 1, k, k, k), mode="mirror")


# --- Gaussian smoothing -----------------------------------------------------------------------


@pytest.mark.parametrize(("k", "sigma"), [(3, 0.8), (5, 0.4), (5, 1.3), (7, 2.0)])
@pytest.mark.parametrize("shape", [(1, 1, 5, 6, 7), (2, 3, 4, 3, 5), (1, 2, 2, 3, 1)])
def test_gaussian_matches_scipy_on_every_volume(k: int, sigma: float, shape) -> None:
    # (2, 3, 1) is narrower than the kernel: the mirror is applied again, as scipy does.
    x = volumes(*shape)
    out = gaussian_smoothing(x, k, sigma)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), scipy_gaussian_3d(x, k, sigma), atol=1e-12, rtol=0)
    out32 = GaussianSmoothing(k, sigma)(x.float())
    np.testing.assert_allclose(out32.numpy(), scipy_gaussian_3d(x, k, sigma), atol=1e-6, rtol=0)


def test_gaussian_blurs_along_depth_too() -> None:
    # One bright voxel spreads to its depth neighbours with the same weight as to its row and
    # column neighbours (the same 1-D kernel on every axis).
    x = torch.zeros(1, 1, 5, 5, 5, dtype=torch.float64)
    x[0, 0, 2, 2, 2] = 1.0
    y = gaussian_smoothing(x, 3, 0.8)[0, 0]
    assert float(y[1, 2, 2]) > 0.05
    assert float(y[1, 2, 2]) == pytest.approx(float(y[2, 1, 2]), abs=1e-15)
    assert float(y[1, 2, 2]) == pytest.approx(float(y[2, 2, 1]), abs=1e-15)
    assert float(y.sum()) == pytest.approx(1.0, abs=1e-12)


def test_gaussian_volume_constant_along_depth_is_the_2d_blur_of_its_slice() -> None:
    image = volumes(2, 3, 6, 7)
    stacked = image[:, :, None].expand(2, 3, 4, 6, 7)
    out = gaussian_smoothing(stacked, 5, 1.1)
    expected = gaussian_smoothing(image, 5, 1.1)[:, :, None].expand_as(out)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("k", "sigma"), [(3, 0.8), (5, 1.5)])
def test_gaussian_exact_gradient_gradcheck(k: int, sigma: float) -> None:
    x = (0.05 + 0.9 * volumes(1, 2, 4, 5, 3, seed=k)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: gaussian_smoothing(v, k, sigma), (x,))


def test_gaussian_exact_gradient_is_the_adjoint_of_scipys_filter() -> None:
    # A linear map's gradient is its adjoint: <blur(x), g> = <x, blur^T g>, checked against
    # scipy's filter applied to every unit voxel.
    x = volumes(1, 1, 4, 3, 5).requires_grad_(True)
    g = volumes(1, 1, 4, 3, 5, seed=1)
    (grad,) = torch.autograd.grad(gaussian_smoothing(x, 3, 0.9), x, g)
    jacobian = np.stack(
        [scipy_gaussian_3d(e.reshape(x.shape), 3, 0.9).ravel() for e in torch.eye(x.numel())]
    )  # row i: the filter of unit voxel i
    np.testing.assert_allclose(grad.numpy().ravel(), jacobian @ g.numpy().ravel(), atol=1e-12)


def test_gaussian_identity_gradient_passes_through() -> None:
    x = volumes(1, 2, 4, 5, 6).requires_grad_(True)
    defense = GaussianSmoothing(3, 0.8)
    defense.gradient = "identity"
    out = defense(x)
    assert torch.equal(out, gaussian_smoothing(x.detach(), 3, 0.8))
    g = torch.randn_like(out)
    assert torch.equal(torch.autograd.grad(out, x, g)[0], g)


# --- median smoothing ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("shape", [(1, 1, 5, 6, 7), (2, 2, 3, 4, 2), (1, 1, 1, 2, 3)])
def test_median_matches_scipy_on_every_volume(k: int, shape) -> None:
    # k = 9 takes the kthvalue path; windows wider than the volume mirror again.
    x = volumes(*shape, seed=k)
    assert np.array_equal(median_smoothing(x, k).numpy(), scipy_median_3d(x, k))


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("chunk_size", [1, 7, 42, 1 << 16])
def test_median_matches_scipy_with_ties_and_any_chunk_size(k: int, chunk_size: int) -> None:
    x = (volumes(2, 1, 5, 6, 7, dtype=torch.float32, seed=3) * 2).round() / 2  # three levels
    out = MedianSmoothing(k, chunk_size=chunk_size)(x)
    assert np.array_equal(out.numpy(), scipy_median_3d(x, k))


def test_median_on_a_non_contiguous_volume() -> None:
    x = volumes(1, 2, 6, 5, 4, dtype=torch.float32).transpose(2, 4)  # (1, 2, 4, 5, 6) view
    assert np.array_equal(median_smoothing(x, 3).numpy(), scipy_median_3d(x.contiguous(), 3))


def test_median_window_is_a_cube_not_a_square() -> None:
    # A 3x3 bright square in one slice survives a 3x3 median of each slice (as a cross, with
    # the mirrored borders), but is only 9 of the 27 voxels of any 3x3x3 window: the
    # volumetric median removes it.
    x = torch.zeros(1, 1, 5, 5, 5)
    x[0, 0, 2, 1:4, 1:4] = 1.0
    assert median_smoothing(x, 3).sum().item() == 0.0
    slice_wise = median_smoothing(x.transpose(1, 2).reshape(5, 1, 5, 5), 3)
    expected = ndi.median_filter(x[0, 0, 2].numpy(), size=3, mode="mirror")
    assert np.array_equal(slice_wise[2, 0].numpy(), expected) and expected.sum() == 9.0


@pytest.mark.parametrize(("k", "chunk_size"), [(1, 5), (3, 5), (3, 1 << 16), (5, 1 << 16)])
def test_median_exact_gradient_gradcheck(k: int, chunk_size: int) -> None:
    x = volumes(1, 1, 3, 4, 3, seed=k).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: median_smoothing(v, k, chunk_size=chunk_size), (x,))


def test_median_exact_gradient_goes_to_the_selected_voxel_and_folds_mirrored_borders() -> None:
    x = volumes(1, 1, 4, 5, 6, dtype=torch.float32, seed=4).requires_grad_(True)
    weights = volumes(1, 1, 4, 5, 6, dtype=torch.float32, seed=5)
    (grad,) = torch.autograd.grad(median_smoothing(x, 3, chunk_size=31), x, weights)
    # Reference: autograd through an explicit reflect pad and a gather of the window entry
    # equal to the median (the first in depth, row, column order).
    xp = F.pad(x, (1, 1, 1, 1, 1, 1), mode="reflect")
    patches = xp.unfold(2, 3, 1).unfold(3, 3, 1).unfold(4, 3, 1).reshape(1, 1, 4, 5, 6, 27)
    median = torch.from_numpy(scipy_median_3d(x.detach(), 3))
    index = (patches.detach() == median[..., None]).to(torch.uint8).argmax(-1, keepdim=True)
    (reference,) = torch.autograd.grad(patches.gather(-1, index).squeeze(-1), x, weights)
    torch.testing.assert_close(grad, reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(grad.sum(), weights.sum())


def test_median_exact_gradient_tie_goes_to_the_first_window_entry() -> None:
    x = torch.full((1, 1, 3, 3, 3), 0.5, requires_grad=True)
    (grad,) = torch.autograd.grad(median_smoothing(x, 3)[0, 0, 1, 1, 1], x)
    expected = torch.zeros(1, 1, 3, 3, 3)
    expected[0, 0, 0, 0, 0] = 1.0
    assert torch.equal(grad, expected)


def test_median_identity_gradient_passes_through() -> None:
    x = volumes(1, 1, 4, 5, 6, dtype=torch.float32).requires_grad_(True)
    out = MedianSmoothing(3, gradient="identity")(x)
    assert torch.equal(out, median_smoothing(x.detach(), 3))
    g = torch.randn_like(out)
    assert torch.equal(torch.autograd.grad(out, x, g)[0], g)


# --- the contract on volumes: dtype, device, input untouched, modules == functions ------------


SMOOTHERS = {
    "gaussian": (GaussianSmoothing(5, 1.0), lambda v: gaussian_smoothing(v, 5, 1.0)),
    "median": (MedianSmoothing(3), lambda v: median_smoothing(v, 3)),
    "identity": (Identity(), identity),
}


@pytest.mark.parametrize("name", SMOOTHERS)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_dtype_and_device_follow_the_input(name: str, device: str, dtype: torch.dtype) -> None:
    module, function = SMOOTHERS[name]
    x = volumes(2, 1, 3, 4, 5, dtype=dtype).to(device)
    version = x._version
    out = module(x)
    assert (out.shape, out.dtype, out.device) == (x.shape, dtype, x.device)
    assert x._version == version
    assert torch.equal(out, function(x))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    reference = function(x.cpu().double()).to(dtype)
    torch.testing.assert_close(
        out.cpu(), reference, atol=2e-3 if dtype == torch.float16 else 1e-6, rtol=0
    )


@pytest.mark.parametrize("name", SMOOTHERS)
def test_empty_batch_and_batched_equals_per_volume(name: str) -> None:
    module, _ = SMOOTHERS[name]
    assert module(torch.rand(0, 1, 3, 4, 5)).shape == (0, 1, 3, 4, 5)
    x = volumes(3, 2, 3, 4, 5, dtype=torch.float32)
    assert torch.equal(module(x), torch.cat([module(v[None]) for v in x]))


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (
            torch.rand(1, 1, 1, 3, 4, 5),
            ShapeError,
            r"x must be a 4-D .* or 5-D volume \(B, C, D, H, W\)",
        ),
        (torch.zeros(1, 1, 3, 4, 5, dtype=torch.uint8), TypeError, "x must be .* volume.*uint8"),
        (torch.full((1, 1, 3, 4, 5), float("nan")), RangeError, "x must be finite"),
        (torch.full((1, 1, 3, 4, 5), 1.5), RangeError, r"x must have values in \[0, 1\]"),
    ],
)
@pytest.mark.parametrize("name", SMOOTHERS)
def test_bad_volumes_are_rejected_naming_x(name: str, x, error, message) -> None:
    module, function = SMOOTHERS[name]
    with pytest.raises(error, match=message):
        module(x)
    with pytest.raises(error, match=message):
        function(x)


# --- 2D-only defenses refuse volumes ------------------------------------------------------------


REFUSED = {
    "JPEG": [JPEG(50), JPEG(50, differentiable=True), lambda v: jpeg(v, 50)],
    "TVM": [TVM(steps=2, generator=0), lambda v: tvm(v, steps=2, generator=0)],
}


@pytest.mark.parametrize("name", REFUSED)
def test_2d_only_defenses_refuse_volumes_naming_x_and_the_remedy(name: str) -> None:
    x = volumes(1, 1, 5, 6, 7, dtype=torch.float32)
    message = (
        rf"x must be images \(B, C, H, W\): {name} is defined on 2D images only .* "
        r"got a 5-D tensor of shape \(1, 1, 5, 6, 7\)\. To apply it slice by slice.*"
        r"\(N\*D, C, H, W\)"
    )
    for defense in REFUSED[name]:
        with pytest.raises(ShapeError, match=message):
            defense(x)


def test_the_slice_by_slice_recipe_in_the_message_works() -> None:
    # The reshape the message shows gives each depth slice of each volume through the 2D defense.
    x = volumes(2, 3, 4, 16, 16, dtype=torch.float32)
    n, c, d, h, w = x.shape
    y = jpeg(x.transpose(1, 2).reshape(-1, c, h, w), 75).reshape(n, d, c, h, w).transpose(1, 2)
    for i in range(n):
        for j in range(d):
            assert torch.equal(y[i, :, j], jpeg(x[i, :, j][None], 75)[0])
