"""APGD: the checkpoint rule, the step-size schedule, closed forms, torchattacks as a reference."""

from __future__ import annotations

import math
import pickle
from fractions import Fraction
from functools import partial

import pytest
import torch
import torchattacks
from torch import nn

from hermes._losses import classification_loss, true_class_margin
from hermes._random import draw_seed, seeded
from hermes.attacks._apgd_steps import ascend
from hermes.attacks.apgd import APGD, apgd, apgd_checkpoints, dlr_loss, margin_loss
from hermes.attacks.pgd import PGD
from hermes.defenses import TVM
from hermes.errors import RangeError
from tests.attacks.conftest import (
    accuracy,
    assert_as_strong_as_reference,
    make_tiny_cnn,
)
from tests.attacks.test_bpda_eot import RandomNoise
from tests.attacks.test_closed_form import expected_direction, linear_model
from tests.attacks.test_invariants import check_invariants, perturbation_norm

# ----------------------------------------------------------------------------- checkpoints


def reference_checkpoints(steps: int) -> list[int]:
    """The paper's rule in exact fractions: p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(...)."""
    p = [Fraction(0), Fraction(22, 100)]
    while True:
        following = p[-1] + max(p[-1] - p[-2] - Fraction(3, 100), Fraction(6, 100))
        if following > 1:
            break
        p.append(following)
    return sorted({math.ceil(q * steps) for q in p})


def test_checkpoints_of_a_100_step_run_are_the_papers() -> None:
    assert apgd_checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]


@pytest.mark.parametrize("steps", [1, 2, 5, 10, 20, 37, 50, 99, 100, 101, 250, 1000, 1234])
def test_checkpoints_follow_the_rule(steps: int) -> None:
    assert apgd_checkpoints(steps) == reference_checkpoints(steps)


def test_checkpoints_need_a_positive_number_of_steps() -> None:
    with pytest.raises(RangeError, match="steps must be an integer >= 1; got 0"):
        apgd_checkpoints(0)


# ---------------------------------------------------------------------- step-size schedule

EPS = 0.1


def run_schedule(objectives, *, steps: int = 100, rho: float = 0.75, batch: int = 1):
    """Run APGD's loop on a scripted objective: call ``i`` returns ``objectives(i)`` (shape (B,))
    and a fixed gradient; return the (steps, B) step sizes."""
    calls = []
    x = torch.full((batch, 1, 2, 2), 0.5, dtype=torch.float64)
    grad = torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=torch.float64).view(1, 1, 2, 2)

    def evaluate(point):
        calls.append(point)
        return grad.expand_as(point).clone(), objectives(len(calls) - 1)

    def score(point):
        calls.append(point)
        return objectives(len(calls) - 1)

    run = ascend(
        evaluate,
        score,
        x,
        x.clone(),
        eps=EPS,
        norm="inf",
        steps=steps,
        checkpoints=apgd_checkpoints(steps),
        rho=rho,
        momentum=0.75,
    )
    assert len(calls) == steps + 1  # x_0 .. x_steps, one evaluation each
    return run.step_sizes


def expected_sizes(halvings_at: list[int], steps: int = 100) -> torch.Tensor:
    """Step size per iteration when the step is halved after each iteration in ``halvings_at``."""
    sizes, eta = [], 2 * EPS
    for k in range(steps):
        sizes.append(eta)
        if k + 1 in halvings_at:
            eta /= 2
    return torch.tensor(sizes, dtype=torch.float64)


def test_step_halves_at_every_checkpoint_when_the_objective_never_rises() -> None:
    sizes = run_schedule(lambda i: torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(sizes[:, 0], expected_sizes(apgd_checkpoints(100)), rtol=0, atol=0)
    assert float(sizes[-1, 0]) == 2 * EPS / 2**8  # halved at 22, 41, ..., 99: the last step's


def test_step_never_halves_when_every_step_raises_the_objective() -> None:
    sizes = run_schedule(lambda i: torch.full((1,), float(i), dtype=torch.float64))
    assert torch.equal(sizes, torch.full((100, 1), 2 * EPS, dtype=torch.float64))


def test_step_halves_where_progress_stops_per_sample() -> None:
    # sample 0 rises on every step; sample 1 rises until iteration 30, then stays flat
    def objectives(i: int) -> torch.Tensor:
        return torch.tensor([float(i), float(min(i, 30))], dtype=torch.float64)

    sizes = run_schedule(objectives, batch=2)
    assert torch.equal(sizes[:, 0], expected_sizes([]))
    # at 41: 8 of 19 steps rose (< 0.75); then nothing rises and nothing improves
    torch.testing.assert_close(
        sizes[:, 1], expected_sizes([41, 57, 70, 80, 87, 93, 99]), rtol=0, atol=0
    )


@pytest.mark.parametrize(("offset", "halves"), [(-0.5, False), (0.5, True)])
def test_rho_is_the_fraction_of_rising_steps_below_which_the_step_halves(offset, halves) -> None:
    # the objective climbs but drops a little on every 4th step: the best keeps improving, so
    # only the fraction of rising steps (rho) decides
    def objectives(i: int) -> torch.Tensor:
        return torch.tensor([i - 1.5 * (i % 4 == 0)], dtype=torch.float64)

    rises = sum(float(objectives(i + 1)) > float(objectives(i)) for i in range(22))
    rho = (rises + offset) / 22
    sizes = run_schedule(objectives, rho=rho)
    assert (float(sizes[22, 0]) == EPS) is halves
    assert float(sizes[21, 0]) == 2 * EPS


def test_step_halves_when_the_best_objective_stalls_even_if_most_steps_rise() -> None:
    # The objective climbs on 3 of 4 steps but never beats its start: with rho = 0.5 only the
    # second condition (step size and best objective unchanged since the previous checkpoint)
    # halves the step. A halving changes the step, so the next checkpoint lets it be.
    def objectives(i: int) -> torch.Tensor:
        return torch.tensor([10.0 if i == 0 else -4.0 + (i - 1) % 4], dtype=torch.float64)

    sizes = run_schedule(objectives, rho=0.5)
    torch.testing.assert_close(sizes[:, 0], expected_sizes([22, 57, 80, 93]), rtol=0, atol=0)


def test_after_a_halving_rises_are_counted_from_the_best_objective() -> None:
    # f(x_0) = 0 is the best; flat -1 until the halving at 22, which resets the iterate and its
    # objective to the best (0). Then f climbs from -0.5 past 0: of the 19 steps to checkpoint 41
    # the first is a drop (-0.5 < 0) and 18 rise, so rho = 18.5 / 19 halves the step at 41.
    def objectives(i: int) -> torch.Tensor:
        value = 0.0 if i == 0 else -1.0 if i <= 22 else -0.5 + 0.1 * (i - 23)
        return torch.tensor([value], dtype=torch.float64)

    sizes = run_schedule(objectives, rho=18.5 / 19)
    assert [float(sizes[k, 0]) for k in (21, 22, 40, 41)] == [2 * EPS, EPS, EPS, EPS / 2]


def test_the_best_point_seen_is_returned_not_the_last() -> None:
    points = []
    x = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    grad = torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=torch.float64).view(1, 1, 2, 2)

    def evaluate(point):
        points.append(point)
        return grad, torch.tensor([-((len(points) - 11.0) ** 2)], dtype=torch.float64)

    run = ascend(
        evaluate,
        lambda point: evaluate(point)[1],
        x,
        x + 0.03,
        eps=EPS,
        norm="2",
        steps=30,
        checkpoints=apgd_checkpoints(30),
        rho=0.75,
        momentum=0.75,
    )
    assert torch.equal(run.x, points[10]) and float(run.objective) == 0.0
    assert not torch.equal(points[10], points[-1])


def test_a_halving_restarts_from_the_best_point_and_its_gradient() -> None:
    # A flat objective: the best point stays the start x_0, where the gradient's sign is s; the
    # gradient elsewhere has random signs. At checkpoint 22 the step halves to eps and the
    # iterate and gradient go back to x_0 and s, so with a = 0.75
    # x_23 = P(x_0 + a * (P(x_0 + eps * s) - x_0) + (1 - a) * (x_0 - x_21))
    #      = x_0 + a * eps * s - (1 - a) * (x_21 - x_0)        (inside the ball and the box)
    points = []
    x = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    s = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64).view(1, 1, 2, 2)
    g = torch.Generator().manual_seed(0)

    def evaluate(point):
        points.append(point)
        grad = 3.0 * s if len(points) == 1 else torch.randn(s.shape, generator=g, dtype=s.dtype)
        return grad, torch.zeros(1, dtype=torch.float64)

    ascend(
        evaluate,
        lambda point: torch.zeros(1, dtype=torch.float64),
        x,
        x.clone(),
        eps=EPS,
        norm="inf",
        steps=30,
        checkpoints=[0, 22],
        rho=0.75,
        momentum=0.75,
    )
    expected = x + 0.75 * EPS * s - 0.25 * (points[21] - x)
    torch.testing.assert_close(points[23], expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_halving_lets_apgd_converge_to_an_interior_maximum(norm: str) -> None:
    # f(x) = -||x - c||^2 peaks inside the ball: a fixed step keeps jumping around c, the halving
    # schedule homes in on it.
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.4 * torch.rand(3, 2, 4, 4, generator=g, dtype=torch.float64)
    eps = 0.1 if norm == "inf" else 0.5
    c = x + 0.4 * eps * (2 * torch.rand(x.shape, generator=g, dtype=torch.float64) - 1) / (
        1 if norm == "inf" else 32**0.5
    )

    def objective(point):
        return -((point - c) ** 2).flatten(1).sum(1)

    def run(checkpoints):
        return ascend(
            lambda p: (-2 * (p - c), objective(p)),
            objective,
            x,
            x.clone(),
            eps=eps,
            norm=norm,
            steps=100,
            checkpoints=checkpoints,
            rho=0.75,
            momentum=0.75,
        ).x

    adaptive, fixed = run(apgd_checkpoints(100)), run([])
    error = perturbation_norm(adaptive - c, norm)
    assert float(error.max()) < 0.02 * eps, error
    assert float(perturbation_norm(fixed - c, norm).min()) > 10 * float(error.max())


def test_each_sample_runs_on_its_own() -> None:
    # every decision of the loop is per sample: a batch equals its samples run one by one
    model = make_tiny_cnn(3, 4, dtype=torch.float64).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 3, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (5,), generator=g)
    start = (x + 0.05 * (2 * torch.rand(x.shape, generator=g, dtype=torch.float64) - 1)).clamp(0, 1)

    def run(i):
        from hermes.attacks._gradients import loss_and_gradient

        def loss(logits, labels):
            return classification_loss(logits, labels)

        def evaluate(point):
            return loss_and_gradient(model, point, y[i], loss_fn=loss)

        return ascend(
            evaluate,
            lambda p: loss(model(p), y[i]).detach(),
            x[i],
            start[i],
            eps=0.05,
            norm="inf",
            steps=20,
            checkpoints=apgd_checkpoints(20),
            rho=0.75,
            momentum=0.75,
        )

    batched = run(slice(None))
    single = [run(slice(i, i + 1)) for i in range(5)]
    torch.testing.assert_close(batched.x, torch.cat([r.x for r in single]), rtol=0, atol=1e-12)
    assert torch.equal(batched.step_sizes, torch.cat([r.step_sizes for r in single], dim=1))
    assert len(set(batched.step_sizes[-1].tolist())) > 1  # the samples' schedules did differ


# ------------------------------------------------------------------------------ closed form


def test_dlr_loss_values_and_invariance_to_shift_and_scale() -> None:
    logits = torch.tensor([[1.0, 3.0, 0.0, -1.0], [2.0, 0.5, 1.0, 4.0]], dtype=torch.float64)
    y = torch.tensor([1, 0])
    # -(z_y - max_{j != y} z_j) / (z_(1) - z_(3)): -(3 - 1) / (3 - 0) and -(2 - 4) / (4 - 1)
    expected = torch.tensor([-2 / 3, 2 / 3], dtype=torch.float64)
    torch.testing.assert_close(dlr_loss(logits, y), expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(dlr_loss(5 * logits + 2, y), expected, rtol=0, atol=1e-14)
    torch.testing.assert_close(margin_loss(logits, y), torch.tensor([-2.0, 2.0]).double())


@pytest.mark.parametrize("outputs", [1, 2])
@pytest.mark.parametrize("loss", ["ce", "margin"])
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_linf_apgd_on_a_linear_model_reaches_the_clipped_corner(outputs, loss, eps) -> None:
    model = linear_model(outputs)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 2, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    out = apgd(model, x, y, eps, steps=10, loss=loss, generator=0)
    expected = (x + eps * expected_direction(model, y)).clamp(0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    targeted = apgd(model, x, y, eps, steps=10, loss=loss, targeted=True, generator=0)
    torch.testing.assert_close(
        targeted, (x - eps * expected_direction(model, y)).clamp(0, 1), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("outputs", [1, 2])
def test_l2_apgd_on_a_linear_model_reaches_the_gradient_direction(outputs) -> None:
    model = linear_model(outputs)
    x = torch.full((4, 3, 2, 2), 0.5, dtype=torch.float64)  # far from the box edges
    y = torch.tensor([0, 1, 1, 0])
    w = model[1].weight.detach()
    w = (w[0] if outputs == 1 else w[1] - w[0]).view(3, 2, 2)
    eps = 0.2
    sign = torch.where(y == 1, -1.0, 1.0).double().view(-1, 1, 1, 1)
    out = apgd(model, x, y, eps, steps=50, norm=2, generator=0)
    # on the sphere the loss is flat to second order around the optimum: an angle of 1e-8 changes
    # it by ~1e-16, which float64 cannot see, so the best point is found to ~1e-8
    torch.testing.assert_close(out, x + sign * eps * w / w.norm(), rtol=0, atol=1e-7)


# --------------------------------------------------------- torchattacks, PGD: trained models


@pytest.fixture(scope="module")
def trained_sets(trained_classifier, digits_classifier) -> dict[str, tuple]:
    return {"binary": trained_classifier, "digits": digits_classifier}


# (data set, norm, eps): budgets where some examples break and some do not
SETTINGS = [
    ("binary", "inf", 0.08),
    ("binary", 2, 0.5),
    ("digits", "inf", 0.05),
    ("digits", 2, 0.4),
]
SEEDS = (0, 1, 2)
STEPS = 20


@pytest.mark.parametrize(("name", "norm", "eps"), SETTINGS)
def test_as_strong_as_torchattacks_apgd(trained_sets, name, norm, eps) -> None:
    model, x, y = trained_sets[name]

    def ours(seed: int) -> torch.Tensor:
        return apgd(model, x, y, eps, steps=STEPS, norm=norm, generator=seed)

    def theirs(seed: int) -> torch.Tensor:
        reference = torchattacks.APGD(
            model,
            norm="Linf" if norm == "inf" else "L2",
            eps=eps,
            steps=STEPS,
            n_restarts=1,
            seed=seed,
            loss="ce",
            eot_iter=1,
            rho=0.75,
            verbose=False,
        )
        return reference(x, y)

    assert_as_strong_as_reference(model, x, y, norm, eps, SEEDS, ours, theirs)


def test_dlr_as_strong_as_torchattacks_dlr(trained_sets) -> None:
    model, x, y = trained_sets["digits"]
    ours, theirs = [], []
    for seed in SEEDS:
        ours.append(
            accuracy(model, apgd(model, x, y, 0.05, steps=STEPS, loss="dlr", generator=seed), y)
        )
        with torch.random.fork_rng():
            reference = torchattacks.APGD(
                model, norm="Linf", eps=0.05, steps=STEPS, seed=seed, loss="dlr", verbose=False
            )
            theirs.append(accuracy(model, reference(x, y), y))
    assert sum(ours) / 3 <= sum(theirs) / 3 + 0.02, (ours, theirs)


@pytest.mark.parametrize(("name", "norm", "eps"), SETTINGS)
def test_at_least_as_strong_as_pgd_with_as_many_steps(trained_sets, name, norm, eps) -> None:
    model, x, y = trained_sets[name]
    ours, pgd_acc, ours_loss, pgd_loss = [], [], [], []
    for seed in SEEDS:
        x_ours = APGD(model, eps, steps=STEPS, norm=norm, generator=seed)(x, y)
        x_pgd = PGD(model, eps, steps=STEPS, norm=norm, generator=seed)(x, y)
        ours.append(accuracy(model, x_ours, y))
        pgd_acc.append(accuracy(model, x_pgd, y))
        with torch.no_grad():
            ours_loss.append(float(classification_loss(model(x_ours), y).mean()))
            pgd_loss.append(float(classification_loss(model(x_pgd), y).mean()))
    assert sum(ours) <= sum(pgd_acc), (ours, pgd_acc)
    assert sum(ours_loss) > sum(pgd_loss), (ours_loss, pgd_loss)


def test_margin_loss_breaks_a_one_logit_model(trained_sets) -> None:
    two_logit, x, y = trained_sets["binary"]
    one_logit = nn.Sequential(two_logit, _LogitDifference()).eval()  # same decisions, one logit
    for loss in ("ce", "margin"):
        x_adv = apgd(one_logit, x, y, 0.08, steps=STEPS, loss=loss, generator=0)
        with torch.no_grad():
            margin = true_class_margin(one_logit(x_adv), y)
        assert 0.0 < float((margin > 0).float().mean()) < 0.6, loss


class _LogitDifference(nn.Module):
    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 1:] - logits[:, :1]


def test_targeted_apgd_reaches_the_target(trained_sets) -> None:
    model, x, y = trained_sets["digits"]
    target = (y + 1) % 10
    x_adv = apgd(model, x, target, 0.3, steps=STEPS, targeted=True, generator=0)
    assert accuracy(model, x_adv, target) > 0.9


def test_restarts_keep_the_best_run_per_sample() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 2, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    kwargs = dict(eps=0.5, steps=2, norm=2)  # L2: where a run ends depends on its start
    combined = apgd(model, x, y, restarts=3, generator=torch.Generator().manual_seed(5), **kwargs)
    g = torch.Generator().manual_seed(5)
    runs = torch.stack([apgd(model, x, y, generator=g, **kwargs) for _ in range(3)])
    with torch.no_grad():
        losses = torch.stack([classification_loss(model(r), y) for r in runs])
    assert torch.equal(combined, runs[losses.argmax(0), torch.arange(6)])
    assert not torch.equal(runs[0], runs[1])


def test_restarts_on_a_randomised_model_are_judged_under_one_draw() -> None:
    model = nn.Sequential(RandomNoise(0.5), make_tiny_cnn(3, 3, dtype=torch.float64)).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=g)
    kwargs = dict(eps=0.2, steps=3, norm=2, eot_samples=2)
    combined = apgd(model, x, y, restarts=2, generator=torch.Generator().manual_seed(5), **kwargs)
    g = torch.Generator().manual_seed(5)
    judge = draw_seed(g)  # drawn first, then the runs draw their starts and EOT seeds
    runs = torch.stack([apgd(model, x, y, generator=g, **kwargs) for _ in range(2)])
    with torch.no_grad(), seeded(model, judge):
        losses = torch.stack([classification_loss(model(r), y) for r in runs])
    assert torch.equal(combined, runs[losses.argmax(0), torch.arange(8)])
    assert 0 < int(losses.argmax(0).sum()) < 8  # each run won somewhere


# --------------------------------------------------------- module, seeds, invariants, EOT

CONFIGS = {
    "linf": {},
    "l2": {"norm": 2},
    "margin": {"loss": "margin"},
    "restarts": {"restarts": 2},
    "targeted": {"targeted": True},
    "eot": {"eot_samples": 2},
    "no-momentum": {"momentum": 1.0, "rho": 0.5},
}


@pytest.mark.parametrize("config", CONFIGS)
def test_module_equals_function(config: str) -> None:
    model = make_tiny_cnn(3, 3).eval()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 6, 6, generator=g)
    y = torch.randint(0, 3, (4,), generator=g)
    kwargs = {"steps": 5, "generator": 7, **CONFIGS[config]}
    module = APGD(model, 0.1, **kwargs)
    assert torch.equal(module(x, y), apgd(model, x, y, 0.1, **kwargs))


def test_seeded_runs_repeat_and_generators_advance(tiny_cnn) -> None:
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 0])
    seeded = APGD(tiny_cnn, 0.1, steps=3, generator=7)
    assert torch.equal(seeded(x, y), seeded(x, y))
    advancing = APGD(tiny_cnn, 0.1, steps=3, generator=torch.Generator().manual_seed(7))
    first, second = advancing(x, y), advancing(x, y)
    assert torch.equal(first, seeded(x, y))
    assert not torch.equal(first, second)


INVARIANT_FACTORIES = {
    name: partial(APGD, steps=3, generator=0, **kwargs) for name, kwargs in CONFIGS.items()
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


def test_invariants_dlr_with_four_logits() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 3, 7, 9, generator=g)
    y = torch.randint(0, 4, (5,), generator=g)
    check_invariants(partial(APGD, steps=3, loss="dlr", generator=0), x, y, eps=0.1, outputs=4)


def test_zero_eps_and_empty_batch_return_copies(tiny_cnn) -> None:
    x = torch.rand(3, 3, 6, 6)
    y = torch.tensor([0, 1, 0])
    out = APGD(tiny_cnn, 0.0, steps=2)(x, y)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    assert apgd(tiny_cnn, x[:0], y[:0], 0.1).shape == (0, 3, 6, 6)


def test_runs_in_float64_under_no_grad_and_pickles(tiny_cnn) -> None:
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    attack = APGD(tiny_cnn.double(), 0.1, steps=3, generator=0)
    with torch.no_grad():
        out = attack(x, torch.tensor([0, 1]))
    assert out.dtype == torch.float64 and not torch.equal(out, x)
    assert torch.equal(pickle.loads(pickle.dumps(attack))(x, torch.tensor([0, 1])), out)


@pytest.mark.parametrize("norm", ["inf", 2])
def test_half_precision_images_stay_half_even_when_the_model_answers_in_float32(norm) -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    model = nn.Sequential(_ToFloat(), net).eval()
    x = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(0)).half()
    out = apgd(model, x, torch.tensor([0, 1, 0]), 0.1, steps=5, norm=norm, generator=0)
    assert out.dtype == torch.float16
    assert bool((perturbation_norm((out - x).float(), str(norm)) <= 0.1 + 1e-3).all())


class _ToFloat(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


class CountingModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = make_tiny_cnn(3, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize(("restarts", "eot_samples"), [(1, 1), (2, 1), (1, 3)])
def test_one_forward_per_iteration_and_one_for_the_last_iterate(restarts, eot_samples) -> None:
    model = CountingModel().eval()
    x = torch.rand(2, 3, 6, 6)
    apgd(model, x, torch.tensor([0, 1]), 0.1, steps=7, restarts=restarts, eot_samples=eot_samples)
    assert model.calls == restarts * eot_samples * (7 + 1)


@pytest.mark.parametrize(
    "defense", [lambda: RandomNoise(), lambda: TVM(keep_prob=0.5, steps=3)], ids=["noise", "tvm"]
)
@pytest.mark.parametrize("restarts", [1, 2])
def test_eot_on_a_randomised_model_is_reproducible(defense, restarts) -> None:
    model = nn.Sequential(defense(), make_tiny_cnn(3, 2)).eval()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1])
    kwargs = dict(steps=4, eot_samples=3, restarts=restarts)
    first = APGD(model, 0.05, generator=3, **kwargs)(x, y)
    assert torch.equal(first, APGD(model, 0.05, generator=3, **kwargs)(x, y))
    assert not torch.equal(first, APGD(model, 0.05, generator=4, **kwargs)(x, y))
    assert model[0].generator is None  # the defense's own setting is given back


# ------------------------------------------------------------------------------ bad input

X = torch.rand(2, 3, 4, 4)
Y = torch.tensor([0, 1])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"eps": -0.1}, RangeError, "eps must be >= 0; got -0.1"),
        ({"eps": float("nan")}, RangeError, "eps must be a number"),
        ({"eps": float("inf")}, RangeError, "eps must be < inf"),
        ({"eps": "0.1"}, TypeError, "eps must be a real number"),
        ({"steps": 0}, RangeError, "steps must be an integer >= 1; got 0"),
        ({"steps": 2.5}, TypeError, "steps must be an integer"),
        ({"norm": 1}, ValueError, "norm must be one of 'inf', 2; got 1"),
        ({"loss": "hinge"}, ValueError, "loss must be one of 'ce', 'margin', 'dlr'; got 'hinge'"),
        ({"restarts": 0}, RangeError, "restarts must be an integer >= 1"),
        ({"rho": 0.0}, RangeError, "rho must be > 0; got 0.0"),
        ({"rho": 1.5}, RangeError, "rho must be <= 1; got 1.5"),
        ({"momentum": 0.0}, RangeError, "momentum must be > 0"),
        ({"momentum": 2}, RangeError, "momentum must be <= 1; got 2"),
        ({"targeted": 1}, TypeError, "targeted must be a bool; got int"),
        ({"generator": "seed"}, TypeError, "generator must be"),
        ({"eot_samples": 0}, RangeError, "eot_samples must be an integer >= 1; got 0"),
    ],
)
def test_bad_settings_name_the_argument(tiny_cnn, kwargs, error, match) -> None:
    settings = {"eps": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        APGD(tiny_cnn, **settings)
    with pytest.raises(error, match=match):
        apgd(tiny_cnn, X, Y, **settings)


def test_bad_images_labels_and_model(tiny_cnn) -> None:
    with pytest.raises(ValueError, match=r"x must be a 4-D float tensor"):
        apgd(tiny_cnn, X[0], Y, 0.1)
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        APGD(tiny_cnn, 0.1)(X + 1, Y)
    with pytest.raises(ValueError, match="expected 2 labels, got 3"):
        apgd(tiny_cnn, X, torch.tensor([0, 1, 1]), 0.1)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        apgd(lambda t: t, X, Y, 0.1)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        APGD(lambda t: t, 0.1)


@pytest.mark.parametrize("outputs", [1, 2])
def test_dlr_needs_three_logits(outputs: int) -> None:
    model = make_tiny_cnn(3, outputs).train()
    with pytest.raises(
        ValueError, match=r"loss='dlr' needs a model with at least 3 output logits; got"
    ):
        apgd(model, X, Y, 0.1, steps=2, loss="dlr")
    assert all(m.training for m in model.modules())


def test_a_model_that_cuts_the_gradient_is_reported() -> None:
    class Detached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))

        def forward(self, x):
            return self.net(x.detach().round())

    with pytest.raises(RuntimeError, match=r"does not depend on its input through autograd.*BPDA"):
        APGD(Detached(), 0.1, steps=2)(X, Y)
