"""Invariants every attack must keep, on fixed and hypothesis-generated inputs."""

from __future__ import annotations

import pickle
from functools import partial

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hermes.attacks import APGD, FGSM, PGD, Square, list_attacks
from tests.attacks.conftest import make_tiny_cnn

ATTACKS = {
    "fgsm": FGSM,
    "pgd-linf": partial(PGD, steps=3, generator=0),
    "pgd-l2": partial(PGD, steps=3, norm=2, generator=0),
    "pgd-restarts": partial(PGD, steps=2, restarts=2, generator=0),
    "pgd-targeted": partial(PGD, steps=3, targeted=True, generator=0),
    "apgd-linf": partial(APGD, steps=3, generator=0),
    "apgd-l2": partial(APGD, steps=3, norm=2, generator=0),
    "apgd-margin": partial(APGD, steps=3, loss="margin", generator=0),
    "apgd-restarts": partial(APGD, steps=2, restarts=2, generator=0),
    "apgd-targeted": partial(APGD, steps=3, targeted=True, generator=0),
    "apgd-eot": partial(APGD, steps=2, eot_samples=2, generator=0),
    "square-linf": partial(Square, queries=8, generator=0),
    "square-l2": partial(Square, queries=8, norm=2, generator=0),
    "square-ce": partial(Square, queries=8, loss="ce", generator=0),
    "square-targeted": partial(Square, queries=8, targeted=True, generator=0),
    "square-early-stop": partial(Square, queries=8, early_stop=True, generator=0),
    "square-eot": partial(Square, queries=8, eot_samples=2, generator=0),
    "square-restarts": partial(Square, queries=8, restarts=2, norm=2, generator=0),
}


def test_every_registered_attack_is_in_the_invariant_suite() -> None:
    """A new attack is tested the day it is registered: the suite must cover every one."""
    covered = {(f.func if isinstance(f, partial) else f).__name__ for f in ATTACKS.values()}
    assert covered == set(list_attacks())


def perturbation_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "inf" else flat.norm(dim=1)


def check_invariants(
    attack_factory, x: torch.Tensor, y: torch.Tensor, eps: float, outputs: int
) -> None:
    model = make_tiny_cnn(x.shape[1], outputs, dtype=x.dtype).train()
    attack = attack_factory(model, eps)
    norm = getattr(attack, "norm", "inf")
    x_before, version = x.clone(), x._version
    rng_before = torch.random.get_rng_state()

    x_adv = attack(x, y)

    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert bool((perturbation_norm(x_adv - x, norm) <= eps + 1e-6).all())
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert torch.equal(x, x_before) and x._version == version
    assert all(p.grad is None for p in model.parameters())
    assert all(m.training for m in model.modules())
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert not x_adv.requires_grad


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("outputs", [1, 2, 4])
def test_invariants_fixed(name: str, outputs: int) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 3, 7, 9, generator=g)
    y = torch.randint(0, min(outputs, 2) if outputs == 1 else outputs, (5,), generator=g)
    check_invariants(ATTACKS[name], x, y, eps=0.1, outputs=outputs)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(ATTACKS)),
    batch=st.integers(1, 4),
    channels=st.integers(1, 3),
    height=st.integers(2, 8),
    width=st.integers(2, 8),
    eps=st.floats(0.0, 0.5),
    outputs=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
    saturated=st.booleans(),
)
def test_invariants_generated(
    name, batch, channels, height, width, eps, outputs, seed, saturated
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, channels, height, width, generator=g)
    if saturated:  # pixels at the box edges, where clipping matters
        x = x.round()
    y = torch.randint(0, 2 if outputs == 1 else outputs, (batch,), generator=g)
    check_invariants(ATTACKS[name], x, y, eps, outputs)


@pytest.mark.parametrize("name", ["fgsm", "pgd-linf", "pgd-l2"])
def test_batch_equals_per_sample(name: str) -> None:
    model = make_tiny_cnn(3, 2, dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(6, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (6,), generator=g)
    attack = ATTACKS[name](model, 0.05)
    if hasattr(attack, "random_start"):
        attack.random_start = False
    batched = attack(x, y)
    single = torch.cat([attack(x[i : i + 1], y[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-12)


def test_label_shapes_b_and_b1_agree(tiny_cnn) -> None:
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 0])
    attack = PGD(tiny_cnn, 0.1, steps=2, generator=0)
    assert torch.equal(attack(x, y), attack(x, y.view(4, 1)))


def test_zero_eps_returns_x_and_empty_batch_works(tiny_cnn) -> None:
    x = torch.rand(3, 3, 6, 6)
    y = torch.tensor([0, 1, 0])
    out = PGD(tiny_cnn, 0.0)(x, y)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    empty = FGSM(tiny_cnn, 0.1)(x[:0], y[:0])
    assert empty.shape == (0, 3, 6, 6)


def test_seeded_runs_repeat_and_generators_advance(tiny_cnn) -> None:
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 0])
    seeded = PGD(tiny_cnn, 0.1, steps=1, alpha=1e-4, generator=7)
    assert torch.equal(seeded(x, y), seeded(x, y))
    g = torch.Generator().manual_seed(7)
    advancing = PGD(tiny_cnn, 0.1, steps=1, alpha=1e-4, generator=g)
    first, second = advancing(x, y), advancing(x, y)
    assert torch.equal(first, seeded(x, y))
    assert not torch.equal(first, second)


def test_runs_under_no_grad_and_in_float64(tiny_cnn) -> None:
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    model = tiny_cnn.double()
    with torch.no_grad():
        out = PGD(model, 0.1, steps=2, generator=0)(x, torch.tensor([0, 1]))
    assert out.dtype == torch.float64 and not torch.equal(out, x)


def test_attack_modules_pickle(tiny_cnn) -> None:
    x = torch.rand(2, 3, 6, 6)
    y = torch.tensor([0, 1])
    attack = PGD(tiny_cnn, 0.1, steps=2, generator=3)
    clone = pickle.loads(pickle.dumps(attack))
    assert torch.equal(clone(x, y), attack(x, y))
