"""Attacks against models whose input gradient is known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hermes.attacks import FGSM, PGD
from hermes.attacks.functional import fgsm, pgd


def linear_model(outputs: int, seed: int = 0) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, outputs)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(outputs, 12, generator=g, dtype=torch.float64))
        model[1].bias.zero_()
    return model


def inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 3, 2, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    return x, y


def expected_direction(model: nn.Sequential, y: torch.Tensor) -> torch.Tensor:
    """sign of d loss / d x for a linear model: +-sign(w) (BCE) or +-sign(w1 - w0) (2-class CE)."""
    w = model[1].weight.detach()
    w = w[0] if w.shape[0] == 1 else w[1] - w[0]
    flip = torch.where(y == 1, -1.0, 1.0).double().view(-1, 1)
    return (flip * w.sign()).view(-1, 3, 2, 2)


@pytest.mark.parametrize("outputs", [1, 2])
@pytest.mark.parametrize("eps", [0.01, 0.1, 0.5])
def test_fgsm_equals_clipped_sign_step(outputs: int, eps: float) -> None:
    model = linear_model(outputs)
    x, y = inputs()
    expected = (x + eps * expected_direction(model, y)).clamp(0, 1)
    assert torch.equal(fgsm(model, x, y, eps), expected)
    assert torch.equal(FGSM(model, eps)(x, y), expected)


@pytest.mark.parametrize("outputs", [1, 2])
def test_targeted_fgsm_steps_the_other_way(outputs: int) -> None:
    model = linear_model(outputs)
    x, y = inputs()
    expected = (x - 0.05 * expected_direction(model, y)).clamp(0, 1)
    assert torch.equal(fgsm(model, x, y, 0.05, targeted=True), expected)


@pytest.mark.parametrize("outputs", [1, 2])
def test_one_step_pgd_without_random_start_is_fgsm(outputs: int) -> None:
    model = linear_model(outputs)
    x, y = inputs()
    one_step = pgd(model, x, y, 0.07, alpha=0.07, steps=1, random_start=False)
    assert torch.equal(one_step, fgsm(model, x, y, 0.07))


def test_l2_step_is_normalised_gradient() -> None:
    model = linear_model(1)
    x = torch.full((2, 3, 2, 2), 0.5, dtype=torch.float64)  # far from the box edges
    y = torch.tensor([0, 1])
    w = model[1].weight.detach()[0].view(3, 2, 2)
    eps = 0.2
    expected = torch.stack([x[0] + eps * w / w.norm(), x[1] - eps * w / w.norm()])
    out = PGD(model, eps, alpha=eps, steps=1, norm=2, random_start=False)(x, y)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_linf_pgd_on_linear_model_reaches_the_corner() -> None:
    # For a linear model every step follows the same sign, so PGD ends at x + eps * sign (clipped).
    model = linear_model(2)
    x, y = inputs()
    out = pgd(model, x, y, 0.05, steps=10, random_start=True, generator=0)
    expected = (x + 0.05 * expected_direction(model, y)).clamp(0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_restarts_keep_the_highest_loss_per_sample() -> None:
    from hermes._losses import classification_loss

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x, _ = inputs()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    kwargs = dict(eps=0.3, alpha=0.05, steps=2)
    combined = pgd(model, x, y, restarts=3, generator=torch.Generator().manual_seed(5), **kwargs)
    g = torch.Generator().manual_seed(5)
    runs = torch.stack([pgd(model, x, y, generator=g, **kwargs) for _ in range(3)])
    losses = torch.stack([classification_loss(model(r), y) for r in runs]).detach()
    best = runs[losses.argmax(0), torch.arange(6)]
    assert torch.equal(combined, best)
    assert not torch.equal(runs[0], runs[1])  # the restarts did differ


@pytest.mark.parametrize("margin", [1.0, 40.0, 200.0])
def test_l2_step_has_length_alpha_however_confident_the_model(margin) -> None:
    """For logits ``(-m / 2, m / 2)`` with ``m = margin * <w, x> / <w, x0>`` the L2 ascent
    direction of label 1 is ``-w / ||w||``, whatever the margin (the gradient is ~1e-87 at 200)."""
    w = torch.linspace(-1.0, 1.0, 3 * 4 * 4, dtype=torch.float64)
    x = torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64)
    x[0, 0, 0, 0] = 0.7  # <w, x> != 0
    scale = margin / float(w @ x.flatten())

    class TwoLogits(nn.Module):
        def forward(self, images):
            half = scale / 2 * images.flatten(1) @ w
            return torch.stack([-half, half], dim=1)

    eps = 0.2
    x_adv = pgd(
        TwoLogits(), x, torch.tensor([1]), eps, alpha=eps, steps=1, norm=2, random_start=False
    )
    expected = x - eps * w.view_as(x) / w.norm() * (1 if scale > 0 else -1)
    torch.testing.assert_close(x_adv, expected.clamp(0, 1), rtol=0, atol=1e-12)


def test_l2_step_with_a_zero_gradient_stays_put_in_half_precision() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).half()
    with torch.no_grad():
        model[1].weight.zero_()
    x = torch.full((2, 3, 4, 4), 0.5, dtype=torch.float16)
    x_adv = pgd(model, x, torch.tensor([0, 1]), 0.1, steps=2, norm=2, random_start=False)
    assert torch.equal(x_adv, x)
