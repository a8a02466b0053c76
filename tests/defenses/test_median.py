"""Median smoothing against scipy.ndimage.median_filter, its gradients, memory plan and errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hermes.defenses
import hermes.defenses.median
from hermes.defenses import MedianSmoothing
from hermes.defenses.functional import median_smoothing
from hermes.defenses.median import DEFAULT_CHUNK_SIZE, _chunks, _median_programs
from tests.defenses.conftest import ihc_patches


def scipy_median(x: torch.Tensor, k: int, mode: str = "mirror") -> np.ndarray:
    """scipy's median filter over each (H, W) plane."""
    return ndi.median_filter(x.numpy(), size=(1, 1, k, k), mode=mode)


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_matches_scipy_on_histology(k: int) -> None:
    x = ihc_patches(3)
    assert np.array_equal(median_smoothing(x, k).numpy(), scipy_median(x, k))


@pytest.mark.parametrize("k", [9, 11, 13, 15, 17])
def test_matches_scipy_large_windows(k: int) -> None:
    # 17 exceeds the comparator-network limit and takes the kthvalue path.
    x = ihc_patches(2, size=(23, 30), dtype=torch.float64)
    assert np.array_equal(median_smoothing(x, k).numpy(), scipy_median(x, k))


@pytest.mark.parametrize("k", [3, 5, 7])
def test_matches_scipy_with_ties(k: int) -> None:
    # Four grey levels: nearly every window has many copies of its median.
    x = (ihc_patches(2, size=40) * 3).round() / 3
    assert np.array_equal(median_smoothing(x, k).numpy(), scipy_median(x, k))


@settings(max_examples=40, deadline=None)
@given(
    k=st.sampled_from([1, 3, 5, 7, 9]),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    levels=st.sampled_from([0, 2, 255]),
    chunk_size=st.sampled_from([1, 7, 64, DEFAULT_CHUNK_SIZE]),
    seed=st.integers(0, 2**16),
)
def test_matches_scipy_any_size(k, height, width, levels, chunk_size, seed) -> None:
    # Windows wider than the image mirror again, as scipy does; chunks never change the result.
    x = torch.rand(2, 2, height, width, generator=torch.Generator().manual_seed(seed))
    if levels:
        x = (x * levels).round() / levels
    out = median_smoothing(x, k, chunk_size=chunk_size)
    assert np.array_equal(out.numpy(), scipy_median(x, k))


def test_differs_from_art_border_mode_only_at_borders() -> None:
    # ART uses scipy's "reflect" (edge pixel repeated); hermes mirrors. Interiors agree.
    x = ihc_patches(2)
    ours, art = median_smoothing(x, 5).numpy(), scipy_median(x, 5, mode="reflect")
    assert np.array_equal(ours[..., 2:-2, 2:-2], art[..., 2:-2, 2:-2])
    assert not np.array_equal(ours, art)


@pytest.mark.parametrize("k", [3, 5, 7, 13])
def test_constant_image_stays_constant(k: int) -> None:
    x = torch.full((2, 3, 11, 9), 0.3)
    out = median_smoothing(x, k)
    assert torch.equal(out, x)
    assert out[..., 0, 0].eq(0.3).all() and out[..., -1, -1].eq(0.3).all()  # corners


def test_removes_salt_and_pepper_and_keeps_edges() -> None:
    # A 3x3 median deletes isolated pixels yet keeps a straight step edge exactly.
    x = torch.zeros(1, 1, 12, 12)
    x[..., :, 6:] = 1.0
    noisy = x.clone()
    noisy[0, 0, 3, 2] = 1.0
    noisy[0, 0, 8, 9] = 0.0
    assert torch.equal(median_smoothing(noisy, 3), x)


def test_float64_and_float16_dtypes_are_kept() -> None:
    x = ihc_patches(1, size=20, dtype=torch.float64)
    assert median_smoothing(x, 3).dtype == torch.float64
    half = x.half()
    out = median_smoothing(half, 3)
    assert out.dtype == torch.float16
    assert np.array_equal(out.float().numpy(), scipy_median(half.float(), 3))


def test_non_contiguous_input() -> None:
    x = ihc_patches(2, size=30).permute(0, 1, 3, 2)  # a transposed view
    assert np.array_equal(median_smoothing(x, 5).numpy(), scipy_median(x.contiguous(), 5))


# --- memory bound -------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "h", "w", "chunk"), [(1536, 96, 96, 1 << 16), (3, 50, 40, 700)])
def test_chunks_cover_the_batch_within_the_pixel_budget(n, h, w, chunk) -> None:
    covered = torch.zeros(n, h, dtype=torch.int32)
    for p0, p1, h0, h1 in _chunks(n, h, w, chunk):
        assert (p1 - p0) * (h1 - h0) * w <= chunk
        covered[p0:p1, h0:h1] += 1
    assert bool((covered == 1).all())  # every row of every plane exactly once


@pytest.mark.parametrize("k", [3, 5, 7, 9, 11, 13, 15])
def test_network_memory_is_bounded(k: int) -> None:
    # Peak extra memory of one chunk of 96x96 planes, counted from the compiled programs: the
    # padded chunk, plus either the column program's live tensors or the sorted columns and the
    # window program's live tensors. The docs promise (k^2 + 2k + 2) chunks at most.
    columns, window, ranks = _median_programs(k)
    r, side = k // 2, 96
    chunk = side * side
    padded = (side + 2 * r) ** 2
    column = side * (side + 2 * r)
    peak = padded + max(columns.max_live * column, len(ranks) * column + window.max_live * chunk)
    assert peak <= (k * k + 2 * k + 2) * chunk


def test_large_batch_is_processed_in_chunks(monkeypatch) -> None:
    from hermes.defenses import median as median_module

    sizes = []
    original = median_module._median_band

    def spy(xp, k):
        sizes.append(xp.numel())
        return original(xp, k)

    monkeypatch.setattr(median_module, "_median_band", spy)
    x = ihc_patches(40, size=32)
    out = median_smoothing(x, 7, chunk_size=4096)
    assert np.array_equal(out.numpy(), scipy_median(x, 7))
    assert len(sizes) == 30 and max(sizes) == 4 * 38 * 38  # 4 planes of 32x32 per chunk


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("chunk_size", [3, DEFAULT_CHUNK_SIZE])
def test_exact_gradient_gradcheck(k: int, chunk_size: int) -> None:
    x = torch.rand(2, 2, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: median_smoothing(v, k, chunk_size=chunk_size), (x,))


def test_exact_gradient_goes_to_the_selected_pixel() -> None:
    x = ihc_patches(1, size=10, dtype=torch.float64).requires_grad_(True)
    out = median_smoothing(x, 3)
    i, j = 4, 6
    (grad,) = torch.autograd.grad(out[0, 1, i, j], x)
    window = x.detach()[0, 1, i - 1 : i + 2, j - 1 : j + 2]
    first = int((window == out[0, 1, i, j].detach()).flatten().nonzero()[0])
    expected = torch.zeros_like(x)
    expected[0, 1, i - 1 + first // 3, j - 1 + first % 3] = 1.0
    assert torch.equal(grad, expected)


def test_exact_gradient_keeps_mass_and_folds_mirrored_borders() -> None:
    x = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    weights = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    (grad,) = torch.autograd.grad(median_smoothing(x, 5), x, weights)
    assert torch.allclose(grad.sum(), weights.sum())  # every output's gradient lands once
    # Mirrored pixels send their gradient back to their source: compare with autograd through
    # an explicit reflect pad and a gather of the selected window entries.
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    patches = xp.unfold(2, 5, 1).unfold(3, 5, 1).reshape(1, 1, 6, 6, 25)
    med = median_smoothing(x, 5).detach()
    index = (patches.detach() == med[..., None]).to(torch.uint8).argmax(-1, keepdim=True)
    (reference,) = torch.autograd.grad(patches.gather(-1, index).squeeze(-1), x, weights)
    assert torch.allclose(grad, reference)


def test_exact_gradient_tie_goes_to_the_first_window_entry() -> None:
    x = torch.full((1, 1, 3, 3), 0.5, requires_grad=True)
    (grad,) = torch.autograd.grad(median_smoothing(x, 3)[0, 0, 1, 1], x)
    expected = torch.zeros(1, 1, 3, 3)
    expected[0, 0, 0, 0] = 1.0
    assert torch.equal(grad, expected)


def test_identity_gradient_passes_through() -> None:
    x = ihc_patches(2, size=16).requires_grad_(True)
    out = median_smoothing(x, 5, gradient="identity")
    assert torch.equal(out, median_smoothing(x.detach(), 5))
    g = torch.randn_like(out)
    assert torch.equal(torch.autograd.grad(out, x, g)[0], g)


# --- module and errors ------------------------------------------------------------------------


def test_module_matches_function() -> None:
    x = ihc_patches(2)
    assert torch.equal(MedianSmoothing(3)(x), median_smoothing(x, 3))
    assert MedianSmoothing().window_size == 5 and MedianSmoothing().gradient == "exact"
    assert "window_size=3" in repr(MedianSmoothing(3))


@pytest.mark.parametrize("module", [hermes.defenses, hermes.defenses.median])
def test_spatial_smoothing_is_a_deprecated_alias(module) -> None:
    with pytest.warns(DeprecationWarning, match="SpatialSmoothing is a deprecated alias"):
        alias = module.SpatialSmoothing
    assert alias is MedianSmoothing
    with pytest.warns(DeprecationWarning, match="use hermes.defenses.MedianSmoothing"):
        from hermes.defenses import SpatialSmoothing
    assert SpatialSmoothing is MedianSmoothing
    assert "SpatialSmoothing" not in hermes.defenses.__all__
    with pytest.raises(AttributeError, match="no attribute 'Spatial'"):
        module.Spatial  # noqa: B018


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"window_size": 4}, "window_size"),
        ({"window_size": 0}, "window_size"),
        ({"window_size": -3}, "window_size"),
        ({"window_size": 3.0}, "window_size"),
        ({"gradient": "surrogate"}, "gradient"),
        ({"gradient": "unrolled"}, "gradient"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_arguments(kwargs, name) -> None:
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises((ValueError, TypeError), match=name):
        median_smoothing(x, **kwargs)
    with pytest.raises((ValueError, TypeError), match=name):
        MedianSmoothing(**kwargs)
