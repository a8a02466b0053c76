"""Square and APGD on multi-label targets: (B, K) float 0/1, one sigmoid per logit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hermes._losses import classification_loss, true_class_margin
from hermes.attacks import APGD, Square
from hermes.attacks.functional import apgd, square


def multilabel_setup(
    labels: int = 4, n: int = 6, seed: int = 0
) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A linear multi-label model on 3x6x6 images, images in (0.1, 0.9) and 0/1 targets."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, labels))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(labels, 3 * 6 * 6, generator=g) / 6)
        model[1].bias.zero_()
    x = 0.1 + 0.8 * torch.rand(n, 3, 6, 6, generator=g)
    y = (torch.rand(n, labels, generator=g) > 0.5).float()
    return model, x, y


def bce_numpy(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """The BCE-with-logits summed over labels, per sample, in float64 numpy (closed form)."""
    z = logits.detach().double().numpy()
    t = y.double().numpy()
    # -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)) = log(1 + e^z) - t z
    return (np.logaddexp(0.0, z) - t * z).sum(axis=1)


def perturbation_size(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    delta = (x_adv - x).flatten(1)
    return delta.abs().amax(dim=1) if norm == "inf" else delta.norm(dim=1)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_square_raises_the_multilabel_bce_within_the_budget(norm: str) -> None:
    model, x, y = multilabel_setup()
    eps = 0.05 if norm == "inf" else 0.5
    x_before = x.clone()
    x_adv = square(model, x, y, eps, norm=norm, loss="ce", queries=200, generator=0)
    assert torch.equal(x, x_before)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert bool((perturbation_size(x_adv, x, norm) <= eps * (1 + 1e-5)).all())
    with torch.no_grad():
        clean, adv = bce_numpy(model(x), y), bce_numpy(model(x_adv), y)
    assert np.all(adv > clean + 1e-3), (clean, adv)
    # the loss Square raised is the one the gradient attacks raise
    with torch.no_grad():
        np.testing.assert_allclose(
            classification_loss(model(x_adv), y).double().numpy(), adv, rtol=1e-5
        )


def test_square_margin_lowers_the_smallest_signed_logit() -> None:
    model, x, y = multilabel_setup()
    x_adv = square(model, x, y, 0.05, loss="margin", queries=200, generator=1)
    with torch.no_grad():
        z_clean, z_adv = model(x).double().numpy(), model(x_adv).double().numpy()
    signs = np.where(y.numpy() == 1, 1.0, -1.0)
    margin_clean = (signs * z_clean).min(axis=1)
    margin_adv = (signs * z_adv).min(axis=1)
    assert np.all(margin_adv < margin_clean - 1e-3), (margin_clean, margin_adv)
    with torch.no_grad():
        np.testing.assert_allclose(
            true_class_margin(model(x_adv), y).double().numpy(), margin_adv, rtol=1e-5
        )


def test_square_finds_the_closed_form_worst_case_of_a_linear_multilabel_model() -> None:
    # Two labels, both positive, with logits w.x and 2 w.x: the summed BCE
    # softplus(-w.x) + softplus(-2 w.x) falls in w.x, so its maximum over the L-inf ball
    # (inside [0, 1]) is at x - eps * sign(w).
    w = torch.tensor([1.0, -1.0, 0.5, 2.0])
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([w, 2 * w]))
        model[1].bias.zero_()
    x = torch.full((1, 1, 2, 2), 0.5)
    y = torch.tensor([[1.0, 1.0]])
    x_adv = square(model, x, y, 0.1, loss="ce", queries=30, generator=0)
    torch.testing.assert_close((x_adv - x).flatten(), -0.1 * torch.sign(w), rtol=0, atol=1e-6)


def test_square_targeted_lowers_the_bce_towards_the_targets() -> None:
    model, x, y = multilabel_setup(seed=3)
    target = 1.0 - y
    x_adv = square(model, x, target, 0.05, loss="ce", targeted=True, queries=200, generator=0)
    with torch.no_grad():
        before, after = bce_numpy(model(x), target), bce_numpy(model(x_adv), target)
    assert np.all(after < before - 1e-3)


def test_square_module_equals_function_on_multilabel_targets() -> None:
    model, x, y = multilabel_setup()
    kwargs = {"queries": 50, "loss": "ce", "generator": 5}
    assert torch.equal(Square(model, 0.05, **kwargs)(x, y), square(model, x, y, 0.05, **kwargs))


class _CountingModel(nn.Module):
    """Records how many images each forward pass scores."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows.append(x.shape[0])
        return self.model(x)


def test_square_early_stop_stops_a_sample_once_one_label_is_wrong() -> None:
    model, x, y = multilabel_setup(n=4)
    with torch.no_grad():  # start from correctly classified samples: the labels are predictions
        y = (model(x) > 0).float()
    counting = _CountingModel(model)
    queries = 100
    x_adv = square(counting, x, y, 0.3, queries=queries, early_stop=True, generator=0)
    with torch.no_grad():
        wrong = ((model(x_adv) > 0).float() != y).sum(dim=1)
    # every sample ends misclassified (at least one label wrong) ...
    assert bool((wrong >= 1).all())
    # ... and stopped being queried then, long before the budget ran out
    assert sum(counting.rows) < x.shape[0] * queries // 2
    # without early stopping every sample is queried for the whole budget
    counting.rows.clear()
    square(counting, x, y, 0.3, queries=queries, early_stop=False, generator=0)
    assert sum(counting.rows) == x.shape[0] * queries


def test_square_refuses_multilabel_targets_that_do_not_fit_the_model() -> None:
    model, x, _ = multilabel_setup()
    with pytest.raises(ValueError, match=r"multi-label targets of shape \(6, 3\)"):
        square(model, x, torch.zeros(6, 3), 0.05, queries=5, generator=0)
    with pytest.raises(ValueError, match="y of shape \\(B, K\\) must hold multi-label targets"):
        square(model, x, torch.full((6, 4), 0.5), 0.05, queries=5, generator=0)


def test_apgd_dlr_refuses_multilabel_targets() -> None:
    model, x, y = multilabel_setup()
    with pytest.raises(ValueError, match=r"loss='dlr' is defined for softmax classifiers"):
        apgd(model, x, y, 0.05, loss="dlr", steps=2, generator=0)
    with pytest.raises(ValueError, match=r"loss='dlr'.*multi-label targets y of shape \(6, 4\)"):
        APGD(model, 0.05, loss="dlr", steps=2, generator=0)(x, y)
    # the other losses take the same targets
    x_adv = apgd(model, x, y, 0.05, loss="margin", steps=2, generator=0)
    assert float((x_adv - x).abs().max()) <= 0.05 + 1e-6


def test_apgd_dlr_still_runs_on_class_indices() -> None:
    model, x, y = multilabel_setup()
    labels = y.argmax(dim=1)  # four softmax classes
    x_adv = apgd(model, x, labels, 0.05, loss="dlr", steps=3, generator=0)
    assert float((x_adv - x).abs().max()) <= 0.05 + 1e-6
