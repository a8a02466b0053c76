"""TVM against an independent scipy solver and a numpy objective, plus its own contract.

The shared invariants (input untouched, dtype/device, batching, pickling, modes) live in
``test_defense_invariants.py``; here: the quality of the solver, the objective itself, the masks
and their seeding, channel independence, the two gradient modes, and bad arguments.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import check_grad

from hermes.defenses import TVM
from hermes.defenses.functional import tvm
from hermes.defenses.tvm import tv_objective
from tests.defenses.conftest import ihc_patches
from tests.defenses.tv_reference import admm_tvm, lbfgsb_tvm, plane_gradient, plane_objective


def keep_mask(shape: tuple[int, ...], keep_prob: float = 0.3, seed: int = 0) -> torch.Tensor:
    """A Bernoulli(keep_prob) keep-mask (bool), drawn the way ``tvm`` draws its own."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < keep_prob


# --- quality against the study's procedure ------------------------------------------------------


@pytest.mark.parametrize(
    ("norm", "dtype"), [(2, torch.float64), (2, torch.float32), (1, torch.float64)]
)
def test_objective_no_higher_than_per_image_scipy_lbfgsb(norm: int, dtype: torch.dtype) -> None:
    # 16 histology patches x 3 channels = 48 problems, the same masks for both solvers.
    x = ihc_patches(16, 96, 3, dtype)
    mask = keep_mask(x.shape)
    z = tvm(x, mask=mask, norm=norm)  # default steps
    x64, mask64 = x.double(), mask.double()
    ours = tv_objective(z.double(), x64, mask64, 0.5, norm).numpy()
    _, reference = lbfgsb_tvm(x64.numpy(), mask64.numpy(), 0.5, norm, maxiter=10)
    assert (ours <= reference).mean() >= 0.95, (ours - reference).max()
    start = tv_objective(x64, x64, mask64, 0.5, norm).numpy()
    assert (ours < 0.6 * start).all()  # and well below where both started


@pytest.mark.parametrize("norm", [1, 2])
def test_reference_gradient_matches_finite_differences(norm: int) -> None:
    # The scipy reference is only a fair opponent with a correct gradient (ART's is 2x for p=2).
    rng = np.random.default_rng(0)
    x = rng.random((12, 10))
    mask = (rng.random(x.shape) < 0.3).astype(float)
    z = x + 0.05 * rng.standard_normal(x.shape)

    def f(v):
        return plane_objective(v.reshape(x.shape), x, mask, 0.5, norm)

    def g(v):
        return plane_gradient(v.reshape(x.shape), x, mask, 0.5, norm).ravel()

    assert check_grad(f, g, z.ravel()) < 1e-6 * np.linalg.norm(g(z.ravel()))


@pytest.mark.parametrize("norm", [1, 2])
def test_many_steps_reach_the_minimum_found_by_admm(norm: int) -> None:
    # Run to convergence, the solver reaches the exact minimum (found here by a different
    # method), so it minimizes the right objective with the right proximal steps.
    x = ihc_patches(2, 12, 3, torch.float64)
    mask = keep_mask(x.shape, seed=4)
    ours = tv_objective(tvm(x, mask=mask, norm=norm, steps=5000), x, mask, 0.5, norm)
    for b in range(2):
        for c in range(3):
            xp, mp = x[b, c].numpy(), mask[b, c].double().numpy()
            exact = plane_objective(admm_tvm(xp, mp, 0.5, norm), xp, mp, 0.5, norm)
            assert float(ours[b, c]) == pytest.approx(exact, rel=1e-7)
    start = tv_objective(x, x, mask, 0.5, norm)
    assert bool((ours < 0.8 * start).all())


# --- the objective -------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("lamb", [0.0, 0.5, 2.0])
def test_tv_objective_matches_numpy(norm: int, lamb: float) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 7, 9, generator=g, dtype=torch.float64)
    z = 1.4 * torch.rand(2, 3, 7, 9, generator=g, dtype=torch.float64) - 0.2
    mask = keep_mask(x.shape, 0.5, seed=1)
    got = tv_objective(z, x, mask, lamb, norm)
    expected = torch.tensor(
        [
            [
                plane_objective(
                    z[b, c].numpy(), x[b, c].numpy(), mask[b, c].double().numpy(), lamb, norm
                )
                for c in range(3)
            ]
            for b in range(2)
        ],
        dtype=torch.float64,
    )
    assert got.shape == (2, 3)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_tv_objective_of_a_step_edge_by_hand() -> None:
    # A vertical edge of height 1 on a 3x4 plane: every row difference is 0; every one of the
    # 3 columns differences (length 3) is zero except the one across the edge, (1, 1, 1).
    z = torch.zeros(1, 1, 3, 4, dtype=torch.float64)
    z[..., 2:] = 1.0
    mask = torch.ones_like(z)
    assert float(tv_objective(z, z, mask, 1.0, 2)) == pytest.approx(3**0.5)
    assert float(tv_objective(z, z, mask, 1.0, 1)) == pytest.approx(3.0)
    assert float(tv_objective(torch.zeros_like(z), z, mask, 1.0, 2)) == pytest.approx(6**0.5)


# --- masks and seeds -----------------------------------------------------------------------------


def test_same_seed_same_output_and_different_seed_different_output() -> None:
    x = ihc_patches(2, 32)
    assert torch.equal(tvm(x, generator=1), tvm(x, generator=1))
    assert not torch.equal(tvm(x, generator=1), tvm(x, generator=2))


@pytest.mark.parametrize("keep_prob", [0.3, 0.7])
def test_drawn_mask_equals_the_explicit_bernoulli_mask(keep_prob: float) -> None:
    x = ihc_patches(2, 32)
    expected = keep_mask(x.shape, keep_prob, seed=5)
    by_seed = tvm(x, keep_prob, generator=5)
    assert torch.equal(by_seed, tvm(x, mask=expected))
    assert torch.equal(by_seed, tvm(x, keep_prob, generator=torch.Generator().manual_seed(5)))
    # the mask does not depend on the dtype: float64 input, same seed, same mask
    torch.testing.assert_close(
        tvm(x.double(), keep_prob, generator=5).float(), by_seed, atol=1e-5, rtol=0
    )
    assert not torch.equal(by_seed, tvm(x, mask=~expected))


def test_mask_marks_the_pixels_kept() -> None:
    # Keeping every pixel with a light total variation leaves x in place (the data term is a
    # norm, an exact penalty); keeping none lets the total variation flatten the image.
    x = ihc_patches(1, 32, 3, torch.float64)
    kept = tvm(x, lamb=0.01, mask=torch.ones_like(x), steps=200)
    dropped = tvm(x, lamb=0.01, mask=torch.zeros_like(x), steps=200)
    assert float((kept - x).abs().max()) < 1e-3
    assert float((dropped - x).abs().max()) > 0.1


def test_module_generator_advances_and_replays() -> None:
    x = ihc_patches(2, 32)
    defense = TVM(generator=torch.Generator().manual_seed(0))
    first, second = defense(x), defense(x)
    assert not torch.equal(first, second)
    replay = TVM(generator=torch.Generator().manual_seed(0))
    assert torch.equal(replay(x), first) and torch.equal(replay(x), second)
    seeded = TVM(generator=3)  # an int seed: the same mask on every call
    assert torch.equal(seeded(x), seeded(x))


def test_global_rng_is_untouched() -> None:
    state = torch.get_rng_state()
    tvm(ihc_patches(1, 16))
    TVM(steps=2)(ihc_patches(1, 16))
    assert torch.equal(torch.get_rng_state(), state)


# --- the output ----------------------------------------------------------------------------------


def test_channels_are_independent_problems() -> None:
    # The study's code smoothed across colour; here each channel is its own plane.
    x = ihc_patches(2, 32)
    mask = keep_mask(x.shape)
    out = tvm(x, mask=mask)
    changed = x.clone()
    changed[:, 1] = 1 - changed[:, 1]
    changed_out = tvm(changed, mask=mask)
    torch.testing.assert_close(changed_out[:, 0], out[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(changed_out[:, 2], out[:, 2], rtol=0, atol=1e-6)
    assert not torch.allclose(changed_out[:, 1], out[:, 1])
    alone = torch.cat([tvm(x[:, c : c + 1], mask=mask[:, c : c + 1]) for c in range(3)], dim=1)
    torch.testing.assert_close(alone, out, rtol=0, atol=1e-6)


def test_output_range_shape_and_trivial_cases() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 17, 23, generator=g).round()  # saturated: every pixel 0 or 1
    out = tvm(x, generator=0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0 and float(out.max()) <= 1 and not torch.equal(out, x)
    assert torch.equal(tvm(x, steps=0, generator=0), x)
    assert torch.equal(tvm(x, lamb=0.0, generator=0), x)
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert torch.equal(tvm(flat, generator=0), flat)  # no variation to remove


def test_half_precision_input_is_solved_in_float32() -> None:
    x = ihc_patches(1, 32)
    mask = keep_mask(x.shape)
    out = tvm(x.bfloat16(), mask=mask)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(
        out.float(), tvm(x.bfloat16().float(), mask=mask), atol=1 / 128, rtol=0
    )


# --- gradients -----------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", [1, 2])
def test_unrolled_gradient_passes_gradcheck(norm: int) -> None:
    g = torch.Generator().manual_seed(2)
    x = (0.1 + 0.8 * torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64)).requires_grad_()
    mask = keep_mask(x.shape, 0.5, seed=2)
    assert torch.autograd.gradcheck(
        lambda v: tvm(v, mask=mask, norm=norm, steps=4, gradient="unrolled"), (x,)
    )


@pytest.mark.parametrize("norm", [1, 2])
def test_unrolled_and_identity_modes_compute_the_same_output(norm: int) -> None:
    x = ihc_patches(2, 24, 3, torch.float64).requires_grad_()
    mask = keep_mask(x.shape)
    unrolled = tvm(x, mask=mask, norm=norm, gradient="unrolled")
    identity = tvm(x, mask=mask, norm=norm, gradient="identity")
    torch.testing.assert_close(unrolled, identity, rtol=0, atol=1e-12)
    assert unrolled.grad_fn is not None and identity.grad_fn is not None
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    (through,) = torch.autograd.grad(unrolled, x, weights)
    (passed,) = torch.autograd.grad(identity, x, weights)
    assert torch.equal(passed, weights)  # BPDA: unchanged
    assert bool(torch.isfinite(through).all()) and not torch.allclose(through, weights, atol=1e-3)


def test_unrolled_without_autograd_is_the_fast_solver() -> None:
    x = ihc_patches(2, 32)
    mask = keep_mask(x.shape)
    with torch.no_grad():
        unrolled = tvm(x, mask=mask, gradient="unrolled")
    assert torch.equal(unrolled, tvm(x, mask=mask))


# --- the module ------------------------------------------------------------------------------------


def test_module_repr_and_settings() -> None:
    defense = TVM(keep_prob=0.5, lamb=0.25, norm=1, steps=7, generator=0, gradient="unrolled")
    assert repr(defense) == "TVM(keep_prob=0.5, lamb=0.25, norm=1, steps=7, gradient='unrolled')"
    x = ihc_patches(2, 32)
    expected = tvm(x, 0.5, 0.25, 1, 7, generator=0, gradient="unrolled")
    assert torch.equal(defense(x), expected)


# --- bad arguments -----------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"keep_prob": 0.0}, ValueError, "keep_prob"),
    ({"keep_prob": 1.01}, ValueError, "keep_prob"),
    ({"keep_prob": float("nan")}, ValueError, "keep_prob"),
    ({"keep_prob": "0.3"}, TypeError, "keep_prob"),
    ({"lamb": -0.1}, ValueError, "lamb"),
    ({"lamb": None}, TypeError, "lamb"),
    ({"norm": 3}, ValueError, "norm"),
    ({"norm": "l2"}, ValueError, "norm"),
    ({"norm": True}, ValueError, "norm"),
    ({"steps": -1}, ValueError, "steps"),
    ({"steps": 2.5}, TypeError, "steps"),
    ({"gradient": "exact"}, ValueError, "gradient"),
    ({"generator": "seed"}, TypeError, "generator"),
    ({"generator": 1.5}, TypeError, "generator"),
]


@pytest.mark.parametrize(("kwargs", "error", "name"), BAD_SETTINGS)
def test_bad_settings_name_the_argument(kwargs: dict, error: type, name: str) -> None:
    x = ihc_patches(1, 16)
    with pytest.raises(error, match=name):
        tvm(x, **kwargs)
    with pytest.raises(error, match=name):
        TVM(**kwargs)


BAD_MASKS = [
    (lambda x: torch.ones(1, 3, 16, 15), ValueError, "mask must have the shape of x"),
    (lambda x: torch.full_like(x, 0.5), ValueError, "mask must hold only 0s and 1s"),
    (lambda x: 2 * torch.ones_like(x, dtype=torch.int64), ValueError, "mask must hold only"),
    (lambda x: x.tolist(), TypeError, "mask must be a tensor"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD_MASKS)
def test_bad_masks_are_rejected(make, error: type, message: str) -> None:
    x = ihc_patches(1, 16)
    with pytest.raises(error, match=message):
        tvm(x, mask=make(x))
    with pytest.raises(error, match=message):
        tv_objective(x, x, make(x))


def test_mask_and_generator_together_are_rejected() -> None:
    x = ihc_patches(1, 16)
    with pytest.raises(ValueError, match="mask or generator"):
        tvm(x, mask=keep_mask(x.shape), generator=0)


def test_bad_images_and_candidates_are_rejected() -> None:
    x = ihc_patches(1, 16)
    with pytest.raises(ValueError, match="x must be a 4-D"):
        tvm(x[0])
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        tvm(x + 1)
    with pytest.raises(ValueError, match="z must have the shape of x"):
        tv_objective(x[..., :8], x, torch.ones_like(x))
    with pytest.raises(ValueError, match="z must be finite"):
        tv_objective(torch.full_like(x, float("nan")), x, torch.ones_like(x))
