"""The shared classification loss and margin: the multi-label branch against closed forms.

Binary and multi-class inputs are checked here against their closed forms too, so a change to
the multi-label dispatch that leaked into them would show; the attack tests cover them in use.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hermes._losses import classification_loss, true_class_margin
from hermes.attacks.functional import pgd
from hermes.errors import RangeError, ShapeError


def _multilabel_case(b: int = 5, k: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(b, k, generator=g) > 0.5).to(torch.float64)
    return logits, y


def test_multilabel_loss_is_bce_summed_over_labels() -> None:
    logits, y = _multilabel_case()
    # BCE by hand: -(y log sigmoid(z) + (1 - y) log sigmoid(-z)), summed over the K labels.
    expected = -(y * F.logsigmoid(logits) + (1 - y) * F.logsigmoid(-logits)).sum(dim=1)
    loss = classification_loss(logits, y)
    assert loss.shape == (5,)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)


def test_multilabel_loss_takes_float32_targets_for_float64_logits() -> None:
    logits, y = _multilabel_case()
    torch.testing.assert_close(
        classification_loss(logits, y.float()), classification_loss(logits, y)
    )


def test_multilabel_margin_is_the_smallest_signed_logit() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [2.0, -1.0, 0.5], [-3.0, 4.0, 1.0]])
    y = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    # signed logits: [2, 1, .5] -> .5; [2, -1, .5] -> -1; [3, 4, 1] -> 1
    torch.testing.assert_close(true_class_margin(logits, y), torch.tensor([0.5, -1.0, 1.0]))


def test_multilabel_margin_is_positive_exactly_when_every_label_is_right() -> None:
    logits, y = _multilabel_case(b=200, k=5, seed=3)
    all_right = ((logits > 0) == (y == 1)).all(dim=1)
    assert torch.equal(true_class_margin(logits, y) > 0, all_right)


def test_one_label_as_float_column_equals_the_binary_loss() -> None:
    z = torch.tensor([[-1.0], [0.5], [2.0]])
    y = torch.tensor([0, 1, 0])
    torch.testing.assert_close(
        classification_loss(z, y.float().view(-1, 1)), classification_loss(z.view(-1), y)
    )
    torch.testing.assert_close(
        true_class_margin(z, y.float().view(-1, 1)), true_class_margin(z.view(-1), y)
    )


def test_binary_and_multiclass_losses_keep_their_closed_forms() -> None:
    z = torch.tensor([-1.0, 0.5, 2.0])
    y = torch.tensor([0, 1, 1])
    assert torch.equal(
        classification_loss(z, y),
        F.binary_cross_entropy_with_logits(z, y.float(), reduction="none"),
    )
    assert torch.equal(true_class_margin(z, y), torch.tensor([1.0, 0.5, 2.0]))
    logits = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 5.0]])
    labels = torch.tensor([1, 0])
    assert torch.equal(
        classification_loss(logits, labels), F.cross_entropy(logits, labels, reduction="none")
    )
    assert torch.equal(true_class_margin(logits, labels), torch.tensor([2.0, -5.0]))


@pytest.mark.parametrize("function", [classification_loss, true_class_margin])
def test_multilabel_targets_outside_zero_one_are_refused(function) -> None:
    logits = torch.zeros(2, 3)
    with pytest.raises(RangeError, match=r"targets must hold multi-label targets 0 or 1; got 0\.5"):
        function(logits, torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.0, 1.0]]), name="targets")
    with pytest.raises(RangeError, match="y must hold multi-label targets 0 or 1; got nan"):
        function(logits, torch.tensor([[1.0, float("nan"), 0.0], [0.0, 0.0, 1.0]]))


@pytest.mark.parametrize("function", [classification_loss, true_class_margin])
def test_multilabel_targets_of_another_shape_are_refused(function) -> None:
    with pytest.raises(ShapeError, match=r"targets holds multi-label targets of shape \(2, 4\)"):
        function(torch.zeros(2, 3), torch.zeros(2, 4), name="targets")
    with pytest.raises(ShapeError, match=r"got logits of shape \(2,\)"):
        function(torch.zeros(2), torch.zeros(2, 3))


@pytest.mark.parametrize("function", [classification_loss, true_class_margin])
def test_integer_multilabel_targets_are_refused(function) -> None:
    with pytest.raises(TypeError, match="targets of shape \\(B, K\\) are multi-label targets"):
        function(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.long), name="targets")


class TestPgdOnMultilabelModel:
    """PGD with (B, K) float targets on a tiny linear multi-label model."""

    @staticmethod
    def _setup():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        g = torch.Generator().manual_seed(1)
        x = torch.rand(6, 3, 2, 2, generator=g)
        y = (torch.rand(6, 3, generator=g) > 0.5).float()
        return model, x, y

    @pytest.mark.parametrize("norm", ["inf", 2])
    @pytest.mark.parametrize("restarts", [1, 2])
    def test_stays_in_range_and_budget_and_raises_the_summed_loss(self, norm, restarts) -> None:
        model, x, y = self._setup()
        eps = 0.1
        x_adv = pgd(model, x, y, eps, steps=10, norm=norm, restarts=restarts, generator=0)
        assert x_adv.shape == x.shape
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
        delta = (x_adv - x).flatten(1)
        size = delta.abs().amax(dim=1) if norm == "inf" else delta.norm(dim=1)
        assert bool((size <= eps + 1e-6).all())
        with torch.no_grad():
            clean = classification_loss(model(x), y)
            adv = classification_loss(model(x_adv), y)
        assert bool((adv >= clean - 1e-6).all())
        assert float(adv.sum()) > float(clean.sum())

    def test_targeted_lowers_the_summed_loss(self) -> None:
        model, x, y = self._setup()
        x_adv = pgd(model, x, y, 0.1, steps=10, targeted=True, random_start=False)
        with torch.no_grad():
            assert float(classification_loss(model(x_adv), y).sum()) < float(
                classification_loss(model(x), y).sum()
            )

    def test_targets_that_do_not_fit_the_model_are_refused(self) -> None:
        model, x, _ = self._setup()
        with pytest.raises(ShapeError, match=r"multi-label targets of shape \(6, 4\)"):
            pgd(model, x, torch.zeros(6, 4), 0.1, generator=0)
        with pytest.raises(ShapeError, match="one row of targets per image"):
            pgd(model, x, torch.zeros(5, 3), 0.1, generator=0)
        with pytest.raises(RangeError, match="multi-label targets 0 or 1"):
            pgd(model, x, torch.full((6, 3), 2.0), 0.1, generator=0)


def test_apgd_with_the_summed_bce_raises_it_on_a_multilabel_model() -> None:
    from hermes.attacks import APGD

    model, x, y = TestPgdOnMultilabelModel._setup()
    x_adv = APGD(model, eps=0.1, loss="ce", steps=10, generator=0)(x, y)
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    with torch.no_grad():
        assert float(classification_loss(model(x_adv), y).sum()) > float(
            classification_loss(model(x), y).sum()
        )
