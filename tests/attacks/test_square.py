"""Square attack: the schedule and pattern, the search's guarantees, closed forms, torchattacks."""

from __future__ import annotations

import math
import pickle
from functools import partial

import pytest
import torch
import torchattacks
from torch import nn

from hermes._losses import true_class_margin
from hermes.attacks._square_updates import (
    CHUNK,
    iteration_draws,
    p_schedule,
    pseudo_gaussian,
    side_lengths,
)
from hermes.attacks.pgd import PGD
from hermes.attacks.square import Square, square
from hermes.errors import RangeError
from tests.attacks.conftest import (
    accuracy,
    assert_as_strong_as_reference,
    make_tiny_cnn,
)
from tests.attacks.test_bpda_eot import RandomNoise
from tests.attacks.test_invariants import check_invariants, perturbation_norm

# ------------------------------------------------------------------- schedule and pattern


def reference_p(p_init: float, iteration: int, queries: int) -> float:
    """The paper's schedule, written out as in its reference implementation."""
    it = int(iteration / queries * 10000)
    for bound, halvings in [(8000, 9), (6000, 8), (4000, 7), (2000, 6), (1000, 5)]:
        if it > bound:
            return p_init / 2**halvings
    for low, high, halvings in [(500, 1000, 4), (200, 500, 3), (50, 200, 2), (10, 50, 1)]:
        if low < it <= high:
            return p_init / 2**halvings
    return p_init


@pytest.mark.parametrize("queries", [1, 2, 7, 100, 999, 1000, 5000, 10000])
def test_p_schedule_is_the_papers(queries: int) -> None:
    expected = [reference_p(0.3, i, queries) for i in range(queries - 1)]
    assert p_schedule(0.3, queries) == expected


def test_p_halves_after_the_papers_iterations_of_a_10000_query_run() -> None:
    p = p_schedule(1.0, 10000)
    halved_after = [i for i in range(1, len(p)) if p[i] < p[i - 1]]
    assert halved_after == [11, 51, 201, 501, 1001, 2001, 4001, 6001, 8001]
    assert p[-1] == 1.0 / 512


def test_side_lengths_follow_p_and_stay_inside_the_image() -> None:
    sides = side_lengths(0.8, 10000, 96, 96, "inf")
    assert sides[0] == round(math.sqrt(0.8 * 96 * 96)) == 86
    assert sides[-1] == round(math.sqrt(0.8 / 512 * 96 * 96)) == 4
    assert side_lengths(0.8, 100, 8, 8, "inf")[0] == 7  # round(sqrt(51.2)) = 7 = H - 1
    assert set(side_lengths(1.0, 100, 8, 8, "inf")) <= set(range(1, 8))
    assert set(side_lengths(0.8, 100, 5, 1, "inf")) == {1}
    l2 = side_lengths(0.1, 1000, 96, 96, "2")
    assert all(s % 2 == 1 and s >= 3 for s in l2) and l2[0] == 31  # round(sqrt(921.6)) = 30 -> 31
    assert max(side_lengths(1.0, 100, 7, 9, "2")) == 6  # at most min(H, W) - 1


def nested_rectangles(rows: int, cols: int) -> torch.Tensor:
    """The reference construction: rectangles around the centre, ring k adding 1 / (k + 1)^2."""
    bump = torch.zeros(rows, cols, dtype=torch.float64)
    top, left = rows // 2, cols // 2
    for k in range(max(rows // 2, cols // 2) + 1):
        bump[max(top - k, 0) : top + k + 1, max(left - k, 0) : left + k + 1] += 1.0 / (k + 1) ** 2
    return bump / bump.norm()


@pytest.mark.parametrize("side", [1, 2, 3, 4, 5, 8, 11])
def test_pseudo_gaussian_is_two_opposite_bumps(side: int) -> None:
    pattern = pseudo_gaussian(side)
    half = side // 2
    top = nested_rectangles(half, side) if half else torch.zeros(0, side, dtype=torch.float64)
    expected = torch.cat([top, -nested_rectangles(side - half, side)])
    torch.testing.assert_close(pattern, expected / expected.norm(), rtol=0, atol=1e-15)
    assert abs(float(pattern.norm()) - 1.0) < 1e-12
    assert bool((pattern[:half] > 0).all()) and bool((pattern[half:] < 0).all())


def test_draws_of_an_iteration_do_not_depend_on_the_budget() -> None:
    def first(queries: int) -> list:
        sides = [1] * (queries - 1)
        return list(
            iteration_draws(
                torch.Generator().manual_seed(0), sides, 3, 2, 5, 5, "cpu", torch.float32
            )
        )

    short, long = first(10), first(2 * CHUNK + 5)
    assert len(short) == 9 and len(long) == 2 * CHUNK + 4
    for a, b in zip(short, long[:9], strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a[1:], b[1:], strict=True))
    flips = torch.stack([d.flips for d in long])
    assert bool((flips == -1).any(-1).all())  # every flip set is non-empty
    tops = torch.stack([d.top for d in long])
    assert set(tops.flatten().tolist()) == set(range(5))  # every corner row 0..H - side is drawn


# ---------------------------------------------------------------- the search, step by step


class Recorder(nn.Module):
    """A model that keeps every image it is asked about."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.inputs = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.clone())
        return self.model(x)


def small_problem(outputs: int = 3, seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = make_tiny_cnn(2, outputs, seed=seed, dtype=torch.float64).eval()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(6, 2, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, max(outputs, 2), (6,), generator=g)
    return model, x, y


@pytest.mark.parametrize("norm", ["inf", 2])
def test_every_query_is_in_the_ball_and_the_box_and_the_best_one_is_returned(norm) -> None:
    model, x, y = small_problem()
    recorder = Recorder(model)
    eps = 0.1 if norm == "inf" else 0.5
    x_adv = square(recorder, x, y, eps, queries=60, norm=norm, generator=0)
    queried = torch.stack(recorder.inputs)  # (60, B, C, H, W)
    assert queried.shape[0] == 60
    delta = queried - x
    assert bool((perturbation_norm(delta.flatten(0, 1), str(norm)) <= eps + 1e-9).all())
    assert float(queried.min()) >= 0.0 and float(queried.max()) <= 1.0
    if norm == "inf":  # every pixel at a vertex of the ball, clipped to the box
        vertex = ((delta.abs() - eps).abs() < 1e-12) | (queried == 0) | (queried == 1)
        assert bool(vertex.all())
    else:  # the norm is spent, up to clipping
        unclipped = ((queried > 0) & (queried < 1)).flatten(2).all(2)
        norms = delta.flatten(2).norm(dim=2)
        torch.testing.assert_close(norms[unclipped], torch.full_like(norms[unclipped], eps))
    with torch.no_grad():
        margins = torch.stack([true_class_margin(model(q), y) for q in queried])
        final = true_class_margin(model(x_adv), y)
    torch.testing.assert_close(final, margins.min(0).values, rtol=0, atol=1e-12)
    # the search did move: some query after the first one was accepted for every sample
    assert bool((final < margins[0]).all())


@pytest.mark.parametrize("channels", [1, 3])
def test_every_linf_proposal_changes_its_square(channels: int) -> None:
    # squares of one pixel: every query differs from the best point so far in exactly that pixel
    # (signs that would change nothing are replaced; with one channel, half of the draws would)
    model = make_tiny_cnn(channels, 3, dtype=torch.float64).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, channels, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (5,), generator=g)
    recorder = Recorder(model)
    square(recorder, x, y, 0.1, queries=80, p_init=1 / 36, generator=0)
    queried = torch.stack(recorder.inputs)
    with torch.no_grad():
        margins = torch.stack([true_class_margin(model(q), y) for q in queried])
    for j in range(1, len(queried)):
        best = margins[:j].argmin(0)  # the first of the lowest: a tie is not an improvement
        current = queried[best, torch.arange(5)]
        changed_pixels = (queried[j] != current).any(1).flatten(1).sum(1)
        assert changed_pixels.tolist() == [1] * 5, j


@pytest.mark.parametrize("norm", ["inf", 2])
def test_more_queries_never_raise_the_margin(norm) -> None:
    # with squares of a fixed size the budget does not change the schedule, so a 200-query run
    # makes the 50 queries of a 50-query run first, and can only improve on them
    model, x, y = small_problem(seed=1)
    eps = 0.05 if norm == "inf" else 0.3
    p_init = 1 / 64 if norm == "inf" else 0.01  # squares of side 1 (L-inf) and 3 (L2) throughout
    kwargs = dict(norm=norm, p_init=p_init, generator=3)
    margins = []
    for queries in (50, 200):
        with torch.no_grad():
            x_adv = square(model, x, y, eps, queries=queries, **kwargs)
            margins.append(true_class_margin(model(x_adv), y))
    assert bool((margins[1] <= margins[0]).all()), margins
    assert bool((margins[1] < margins[0]).any())


def test_linf_start_is_vertical_stripes() -> None:
    model, _, y = small_problem()
    x = torch.full((6, 2, 8, 8), 0.5, dtype=torch.float64)
    delta = square(model, x, y, 0.1, queries=1, generator=0) - x
    torch.testing.assert_close(delta.abs(), torch.full_like(delta, 0.1), rtol=0, atol=1e-12)
    assert torch.equal(delta, delta[:, :, :1].expand_as(delta))  # each column is one sign
    assert bool((delta[:, :, 0] > 0).any()) and bool((delta[:, :, 0] < 0).any())


def test_l2_start_is_a_grid_of_squares_with_norm_eps() -> None:
    model, _, y = small_problem()
    x = torch.full((6, 2, 10, 10), 0.5, dtype=torch.float64)
    delta = square(model, x, y, 0.5, queries=1, norm=2, generator=0) - x
    norms = delta.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, 0.5), rtol=0, atol=1e-12)
    # squares of side 10 // 5 = 2, each a +-pseudo_gaussian(2) (or its transpose) per channel
    blocks = delta.unfold(2, 2, 2).unfold(3, 2, 2)  # (B, C, 5, 5, 2, 2)
    shape = pseudo_gaussian(2)
    scale = blocks.flatten(-2).norm(dim=-1, keepdim=True).unsqueeze(-1)
    unit = blocks / scale
    matches = [
        (unit - s * p).abs().amax((-2, -1)) < 1e-9 for s in (1, -1) for p in (shape, shape.T)
    ]
    assert bool(torch.stack(matches).any(0).all())


# ------------------------------------------------------------------------ closed forms


def test_linf_on_a_linear_model_reaches_the_worst_case_corner() -> None:
    # one logit z = w . x: the worst case is x - eps * sign(w) * (2y - 1), clipped
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 1)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(1, 48, generator=g, dtype=torch.float64))
        model[1].bias.zero_()
    x = torch.rand(8, 3, 4, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 1, 0, 1, 0])
    eps = 0.1
    toward = torch.where(y == 1, -1.0, 1.0).double().view(-1, 1, 1, 1)
    worst = (x + toward * eps * model[1].weight.detach().sign().view(3, 4, 4)).clamp(0, 1)
    margins = {}
    for queries in (300, 1000):
        x_adv = square(model, x, y, eps, queries=queries, generator=0)
        with torch.no_grad():
            clean, best, found = (true_class_margin(model(t), y) for t in (x, worst, x_adv))
        margins[queries] = (clean - found) / (clean - best)  # the share of the possible drop
        assert bool((found >= best - 1e-12).all())  # never beyond the optimum
    assert float(margins[300].min()) > 0.9, margins
    # with enough queries, every coordinate is at its worst-case vertex: the optimum itself
    torch.testing.assert_close(x_adv, worst, rtol=0, atol=1e-12)


def test_l2_on_a_linear_model_moves_most_of_the_way_to_the_gradient_direction() -> None:
    # z = w . x with a random w (no spatial structure for the squares to exploit): the margin
    # falls by at most eps * ||w|| (the step along w); a random direction gets ~0 of that
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 1)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(1, 64, generator=g, dtype=torch.float64))
        model[1].bias.zero_()
    x = torch.full((6, 1, 8, 8), 0.5, dtype=torch.float64)  # far from the box edges
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    eps = 0.5
    with torch.no_grad():
        clean = true_class_margin(model(x), y)
        optimum = clean - eps * model[1].weight.norm()
        achieved = [
            (clean - true_class_margin(model(square(model, x, y, eps, **kw)), y))
            / (clean - optimum)
            for kw in (
                dict(queries=100, norm=2, generator=0),
                dict(queries=400, norm=2, generator=0),
            )
        ]
    assert float(achieved[0].min()) > 0.4 and float(achieved[1].min()) > 0.55, achieved
    assert float(achieved[1].mean()) > float(achieved[0].mean())
    assert float(achieved[1].max()) <= 1.0 + 1e-12  # never beyond the optimum


def test_one_logit_and_two_logit_forms_of_a_classifier_are_attacked_alike(
    trained_classifier,
) -> None:
    two, x, y = trained_classifier
    one = nn.Sequential(two, LogitDifference())  # the same decisions and margins, one logit
    for kwargs in ({}, {"norm": 2, "loss": "margin"}):
        a = square(two, x[:32], y[:32], 0.1, queries=40, generator=0, **kwargs)
        b = square(one, x[:32], y[:32], 0.1, queries=40, generator=0, **kwargs)
        assert torch.equal(a, b)


class LogitDifference(nn.Module):
    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 1:] - logits[:, :1]


# ------------------------------------------------------------------- gradients not needed


class Detach(nn.Module):
    """Cuts the input gradient: gradient attacks see nothing, the scores are unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach()


def test_works_where_the_gradient_is_cut_and_pgd_cannot(trained_classifier) -> None:
    model, x, y = trained_classifier
    cut = nn.Sequential(Detach(), model)
    with pytest.raises(RuntimeError, match="does not depend on its input"):
        PGD(cut, 0.1, steps=2, generator=0)(x, y)
    x_adv = Square(cut, 0.1, queries=100, generator=0)(x, y)
    assert accuracy(model, x, y) > 0.95
    assert accuracy(model, x_adv, y) < 0.1
    assert all(p.grad is None for p in model.parameters())


def test_runs_under_inference_mode(tiny_cnn) -> None:
    x = torch.rand(3, 3, 6, 6)
    with torch.inference_mode():
        out = square(tiny_cnn, x, torch.tensor([0, 1, 1]), 0.1, queries=5, generator=0)
    assert not torch.equal(out, x)


# ------------------------------------------------------------- torchattacks on trained models


@pytest.fixture(scope="module")
def trained_sets(trained_classifier, digits_classifier) -> dict[str, tuple]:
    return {"binary": trained_classifier, "digits": digits_classifier}


# (data set, norm, eps): budgets where torchattacks breaks some examples and not others
SETTINGS = [
    ("binary", "inf", 0.1),
    ("binary", 2, 0.9),
    ("digits", "inf", 0.1),
    ("digits", 2, 0.8),
]
SEEDS = (0, 1, 2)
QUERIES = 100
SAMPLES = 128


@pytest.mark.parametrize(("name", "norm", "eps"), SETTINGS)
def test_as_strong_as_torchattacks_square(trained_sets, name, norm, eps) -> None:
    model, x, y = trained_sets[name]
    x, y = x[:SAMPLES], y[:SAMPLES]

    def ours(seed: int) -> torch.Tensor:
        return square(model, x, y, eps, queries=QUERIES, norm=norm, generator=seed)

    def theirs(seed: int) -> torch.Tensor:
        reference = torchattacks.Square(
            model,
            norm="Linf" if norm == "inf" else "L2",
            eps=eps,
            n_queries=QUERIES - 1,  # its iterations; plus one query for the start
            n_restarts=1,
            p_init=0.8,
            loss="margin",
            resc_schedule=True,
            seed=seed,
            verbose=False,
        )
        return reference(x, y)

    assert_as_strong_as_reference(model, x, y, norm, eps, SEEDS, ours, theirs)


def test_targeted_square_reaches_the_target(trained_sets) -> None:
    model, x, y = trained_sets["digits"]
    target = (y[:64] + 1) % 10
    x_adv = square(model, x[:64], target, 0.3, queries=150, targeted=True, generator=0)
    assert accuracy(model, x[:64], target) < 0.05
    assert accuracy(model, x_adv, target) > 0.8


def test_ce_loss_breaks_as_well_as_margin(trained_sets) -> None:
    model, x, y = trained_sets["digits"]
    clean = accuracy(model, x, y)
    ce = accuracy(model, square(model, x, y, 0.1, queries=100, loss="ce", generator=0), y)
    assert ce < clean - 0.2


def test_early_stop_stops_querying_misclassified_samples(trained_sets) -> None:
    model, x, y = trained_sets["binary"]
    recorder = Recorder(model)
    x_adv = square(recorder, x, y, 0.1, queries=100, early_stop=True, generator=0)
    asked = sum(q.shape[0] for q in recorder.inputs)
    fooled = (recorder.model(x_adv).argmax(1) != y).detach()
    assert float(fooled.float().mean()) > 0.9
    assert asked < 0.5 * 100 * x.shape[0]  # most samples fell early and were left alone
    # a sample is no longer queried once it is misclassified: the queries of the run shrink
    sizes = [q.shape[0] for q in recorder.inputs]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == x.shape[0]
    # without early stopping every sample keeps being queried, and margins go further down
    full = square(model, x, y, 0.1, queries=100, generator=0)
    with torch.no_grad():
        assert float(true_class_margin(model(full), y).mean()) < float(
            true_class_margin(model(x_adv), y).mean()
        )


def test_restarts_keep_the_best_run_per_sample() -> None:
    model, x, y = small_problem(seed=2)
    kwargs = dict(eps=0.05, queries=20)
    combined = square(model, x, y, restarts=3, generator=torch.Generator().manual_seed(5), **kwargs)
    g = torch.Generator().manual_seed(5)
    runs = torch.stack([square(model, x, y, generator=g, **kwargs) for _ in range(3)])
    with torch.no_grad():
        margins = torch.stack([true_class_margin(model(r), y) for r in runs])
    assert torch.equal(combined, runs[margins.argmin(0), torch.arange(6)])
    assert len(set(margins.argmin(0).tolist())) > 1  # different runs won for different samples


def test_default_p_init_is_the_papers_per_norm() -> None:
    model, x, y = small_problem()
    for norm, p in (("inf", 0.8), (2, 0.1)):
        a = square(model, x, y, 0.1, queries=30, norm=norm, generator=0)
        assert torch.equal(
            a, square(model, x, y, 0.1, queries=30, norm=norm, p_init=p, generator=0)
        )


# ------------------------------------------------------------------------- EOT, randomness


def test_eot_on_a_randomised_model_is_seeded_and_averages_draws() -> None:
    noise = RandomNoise(0.2)
    model = nn.Sequential(noise, make_tiny_cnn(3, 3, dtype=torch.float64)).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (4,), generator=g)
    attack = Square(model, 0.1, queries=10, eot_samples=3, generator=1)
    first = attack(x, y)
    assert torch.equal(first, attack(x, y))
    assert noise.generator is None  # put back
    recorder = Recorder(model)
    square(recorder, x, y, 0.1, queries=10, eot_samples=3, generator=1)
    assert len(recorder.inputs) == 30  # three forwards per query
    other = Square(model, 0.1, queries=10, eot_samples=3, generator=2)(x, y)
    assert not torch.equal(first, other)


def test_restarts_on_a_randomised_model_run() -> None:
    model = nn.Sequential(RandomNoise(0.2), make_tiny_cnn(3, 3, dtype=torch.float64)).eval()
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    attack = Square(model, 0.1, queries=5, restarts=2, early_stop=True, generator=4)
    assert torch.equal(attack(x, y), attack(x, y))


def test_seeded_runs_repeat_and_generators_advance(tiny_cnn) -> None:
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 0])
    seeded = Square(tiny_cnn, 0.1, queries=10, generator=7)
    assert torch.equal(seeded(x, y), seeded(x, y))
    advancing = Square(tiny_cnn, 0.1, queries=10, generator=torch.Generator().manual_seed(7))
    first, second = advancing(x, y), advancing(x, y)
    assert torch.equal(first, seeded(x, y))
    assert not torch.equal(first, second)


# -------------------------------------------------------- module, invariants, bad input

CONFIGS = {
    "linf": {},
    "l2": {"norm": 2},
    "ce": {"loss": "ce"},
    "targeted": {"targeted": True},
    "early-stop": {"early_stop": True},
    "eot": {"eot_samples": 2},
    "restarts": {"restarts": 2, "norm": 2},
}


@pytest.mark.parametrize("config", CONFIGS)
def test_module_equals_function(config: str) -> None:
    model = make_tiny_cnn(3, 3).eval()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 6, 6, generator=g)
    y = torch.randint(0, 3, (4,), generator=g)
    kwargs = {"queries": 15, "generator": 7, **CONFIGS[config]}
    assert torch.equal(Square(model, 0.1, **kwargs)(x, y), square(model, x, y, 0.1, **kwargs))


INVARIANT_FACTORIES = {
    name: partial(Square, queries=8, generator=0, **kwargs) for name, kwargs in CONFIGS.items()
}


@pytest.mark.parametrize("name", INVARIANT_FACTORIES)
@pytest.mark.parametrize("outputs", [1, 2, 4])
def test_invariants(name: str, outputs: int) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 3, 7, 9, generator=g)
    y = torch.randint(0, 2 if outputs == 1 else outputs, (5,), generator=g)
    check_invariants(INVARIANT_FACTORIES[name], x, y, eps=0.1, outputs=outputs)
    saturated = x.round()  # pixels at the box edges, where clipping matters
    check_invariants(INVARIANT_FACTORIES[name], saturated, y, eps=0.3, outputs=outputs)


@pytest.mark.parametrize("shape", [(2, 1, 1, 1), (3, 2, 1, 6), (2, 3, 5, 2), (1, 1, 2, 2)])
@pytest.mark.parametrize("norm", ["inf", 2])
def test_invariants_on_tiny_images(shape, norm) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.arange(shape[0]) % 2
    check_invariants(partial(Square, queries=12, norm=norm, generator=0), x, y, 0.2, outputs=2)


def test_zero_eps_and_empty_batch_return_copies(tiny_cnn) -> None:
    x = torch.rand(3, 3, 6, 6)
    y = torch.tensor([0, 1, 0])
    out = Square(tiny_cnn, 0.0, queries=5)(x, y)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    assert square(tiny_cnn, x[:0], y[:0], 0.1).shape == (0, 3, 6, 6)


def test_float64_pickles_and_flags_itself_gradient_free(tiny_cnn) -> None:
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    attack = Square(tiny_cnn.double(), 0.1, queries=5, generator=0)
    out = attack(x, torch.tensor([0, 1]))
    assert out.dtype == torch.float64 and not torch.equal(out, x)
    assert torch.equal(pickle.loads(pickle.dumps(attack))(x, torch.tensor([0, 1])), out)
    assert Square.gradient_free is True and attack.gradient_free is True


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"queries": 0}, RangeError, "queries must be an integer >= 1; got 0"),
        ({"queries": -5}, RangeError, "queries must be an integer >= 1; got -5"),
        ({"queries": 2.5}, TypeError, "queries must be an integer"),
        ({"queries": True}, TypeError, "queries must be an integer"),
        ({"p_init": 0.0}, RangeError, "p_init must be > 0; got 0.0"),
        ({"p_init": 1.5}, RangeError, "p_init must be <= 1; got 1.5"),
        ({"p_init": float("nan")}, RangeError, "p_init must be a number"),
        ({"p_init": "0.1"}, TypeError, "p_init must be a real number"),
        ({"loss": "dlr"}, ValueError, "loss must be one of 'margin', 'ce'; got 'dlr'"),
        ({"norm": 1}, ValueError, "norm must be one of 'inf', 2; got 1"),
        ({"restarts": 0}, RangeError, "restarts must be an integer >= 1"),
        ({"eot_samples": 0}, RangeError, "eot_samples must be an integer >= 1"),
        ({"early_stop": 1}, TypeError, "early_stop must be a bool; got int"),
        ({"targeted": "yes"}, TypeError, "targeted must be a bool"),
        ({"generator": "seed"}, TypeError, "generator must be"),
        ({"eps": -0.1}, RangeError, "eps must be >= 0; got -0.1"),
        ({"eps": float("inf")}, RangeError, "eps must be < inf"),
    ],
)
def test_bad_settings_name_the_argument(tiny_cnn, kwargs, error, match) -> None:
    settings = {"eps": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        Square(tiny_cnn, **settings)
    with pytest.raises(error, match=match):
        square(tiny_cnn, torch.rand(2, 3, 4, 4), torch.tensor([0, 1]), **settings)


def test_settings_are_checked_when_set(tiny_cnn) -> None:
    attack = Square(tiny_cnn, 0.1, queries=5)
    with pytest.raises(RangeError, match="queries must be an integer >= 1; got 0"):
        attack.queries = 0
    with pytest.raises(RangeError, match="p_init must be <= 1; got 2"):
        attack.p_init = 2
    attack.norm = "L2"
    assert attack.norm == "2" and "norm=2" in repr(attack)


def test_bad_inputs_name_the_argument(tiny_cnn) -> None:
    x, y = torch.rand(2, 3, 4, 4), torch.tensor([0, 1])
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        square(lambda t: t, x, y, 0.1)
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        square(tiny_cnn, x + 1, y, 0.1)
    with pytest.raises(ValueError, match="expected 2 labels, got 3"):
        square(tiny_cnn, x, torch.tensor([0, 1, 0]), 0.1)
    with pytest.raises(ValueError, match=r"y must be in 0\.\.1 for a model with 2 output logits"):
        square(tiny_cnn, x, torch.tensor([0, 2]), 0.1, queries=3)
    with pytest.raises(ValueError, match="model output must have shape"):
        square(nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, 16))), x, y, 0.1)
