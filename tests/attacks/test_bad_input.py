"""Every bad input raises an error that names the argument."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hermes.attacks import FGSM, PGD
from hermes.attacks.functional import fgsm, pgd
from hermes.errors import RangeError, ShapeError

X = torch.rand(2, 3, 4, 4)
Y = torch.tensor([0, 1])


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.rand(3, 4, 4), ShapeError, r"x must be a 4-D .* got shape \(3, 4, 4\)"),
        (
            torch.randint(0, 255, (2, 3, 4, 4), dtype=torch.uint8),
            TypeError,
            "x .* dtype torch.uint8",
        ),
        (
            X.masked_fill(torch.eye(4, dtype=torch.bool), float("nan")),
            RangeError,
            "x must be finite",
        ),
        (X * 2 + 0.5, RangeError, r"x must have values in \[0, 1\]"),
        (X - 1.0, RangeError, r"x must have values in \[0, 1\]"),
        (X.numpy(), TypeError, "x must be a 4-D float tensor"),
    ],
)
def test_bad_images(tiny_cnn, x, error, match) -> None:
    with pytest.raises(error, match=match):
        fgsm(tiny_cnn, x, Y, 0.1)
    with pytest.raises(error, match=match):
        PGD(tiny_cnn, 0.1)(x, Y)


@pytest.mark.parametrize(
    ("y", "error", "match"),
    [
        (torch.tensor([0, 1, 1]), ShapeError, "expected 2 labels, got 3"),
        (torch.tensor([[0, 1]]), ShapeError, "y must hold one row of targets per image"),
        (torch.zeros(2, 1, 1), ShapeError, r"y must have shape \(B,\) or \(B, 1\)"),
        (torch.tensor([0.5, 1.0]), TypeError, "y must hold class indices"),
        (torch.tensor([-1, 0]), RangeError, "non-negative"),
        (torch.tensor([0, 2]), RangeError, r"y must be in 0\.\.1 for a model with 2 output logits"),
        ([0, 1], TypeError, "y must be a tensor"),
    ],
)
def test_bad_labels(tiny_cnn, y, error, match) -> None:
    with pytest.raises(error, match=match):
        PGD(tiny_cnn, 0.1, steps=1)(X, y)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"eps": -0.1}, RangeError, "eps must be >= 0; got -0.1"),
        ({"eps": float("nan")}, RangeError, "eps must be a number"),
        ({"eps": float("inf")}, RangeError, "eps must be < inf; got inf"),
        ({"eps": 0.1, "alpha": float("inf")}, RangeError, "alpha must be < inf"),
        ({"eps": "0.1"}, TypeError, "eps must be a real number"),
        ({"eps": 0.1, "norm": 1}, ValueError, "norm must be one of 'inf', 2; got 1"),
        ({"eps": 0.1, "norm": "l1"}, ValueError, "norm must be one of"),
        ({"eps": 0.1, "steps": 0}, RangeError, "steps must be an integer >= 1; got 0"),
        ({"eps": 0.1, "steps": 2.5}, TypeError, "steps must be an integer"),
        ({"eps": 0.1, "restarts": 0}, RangeError, "restarts must be an integer >= 1"),
        ({"eps": 0.1, "alpha": -1.0}, RangeError, "alpha must be >= 0"),
        ({"eps": 0.1, "generator": "seed"}, TypeError, "generator must be"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(tiny_cnn, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        PGD(tiny_cnn, **kwargs)


def test_bad_model_and_outputs() -> None:
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        FGSM(lambda t: t, 0.1)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        pgd(lambda t: t, X, Y, 0.1)
    image_output = nn.Conv2d(3, 2, 1)  # (B, 2, H, W): not a classifier
    with pytest.raises(
        ShapeError, match=r"model output must have shape .* got shape \(2, 2, 4, 4\)"
    ):
        FGSM(image_output, 0.1)(X, Y)
    wrong_batch = nn.Sequential(nn.Flatten(0), nn.Unflatten(0, (6, 16)))  # (6, 16) for B = 2
    with pytest.raises(ShapeError, match="B=2"):
        FGSM(wrong_batch, 0.1)(X, Y)


def test_error_leaves_model_mode_and_grads_alone(tiny_cnn) -> None:
    tiny_cnn.train()
    with pytest.raises(RangeError):
        PGD(tiny_cnn, 0.1, steps=1)(X, torch.tensor([0, 5]))
    assert all(m.training for m in tiny_cnn.modules())
    assert all(p.grad is None for p in tiny_cnn.parameters())


class DetachedPreprocessing(nn.Module):
    """The classic gradient-masking mistake: preprocessing that cuts the graph."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))

    def forward(self, x):
        return self.net(x.detach().round())


@pytest.mark.parametrize("attack", [FGSM, PGD])
def test_a_model_that_cuts_the_gradient_is_reported_not_called_robust(attack) -> None:
    with pytest.raises(RuntimeError, match=r"does not depend on its input through autograd.*BPDA"):
        attack(DetachedPreprocessing(), 0.1)(X, Y)
    frozen = DetachedPreprocessing().requires_grad_(False)  # no graph at all, not even params
    with pytest.raises(RuntimeError, match="does not depend on its input"):
        attack(frozen, 0.1)(X, Y)


def test_inference_mode_is_named_in_the_error(tiny_cnn) -> None:
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"torch\.inference_mode\(\)"):
        PGD(tiny_cnn, 0.1, steps=1)(X, Y)


def test_square_refuses_volumes_and_gradient_attacks_take_them() -> None:
    from hermes.attacks import Square
    from hermes.attacks.functional import square

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3 * 3, 2))
    v, y = torch.rand(2, 2, 3, 3, 3), torch.tensor([0, 1])
    with pytest.raises(ShapeError, match=r"x must be 2D images .* for Square"):
        Square(model, 0.1, queries=2)(v, y)
    with pytest.raises(ShapeError, match="for Square"):
        square(model, v, y, 0.1, queries=2)
    x_adv = PGD(model, 0.1, steps=2)(v, y)
    assert x_adv.shape == v.shape and float((x_adv - v).abs().max()) <= 0.1 + 1e-6
