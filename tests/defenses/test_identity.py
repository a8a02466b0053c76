"""The no-defense baseline: input checked, returned as is, gradient untouched."""

from __future__ import annotations

import pytest
import torch

from hermes.defenses import Identity
from hermes.defenses.identity import identity
from hermes.errors import RangeError, ShapeError
from tests.defenses.conftest import ihc_patches


def test_returns_the_input_itself() -> None:
    x = ihc_patches(2)
    assert Identity()(x) is x
    assert identity(x) is x
    assert Identity().gradient == "exact" and Identity.gradient_modes == ("exact",)


def test_gradient_is_the_incoming_gradient() -> None:
    x = ihc_patches(2, size=8).requires_grad_(True)
    g = torch.randn(2, 3, 8, 8)
    assert torch.equal(torch.autograd.grad(Identity()(x), x, g)[0], g)


def test_rejects_what_every_defense_rejects() -> None:
    defense = Identity()
    with pytest.raises(ShapeError, match="x must be a 4-D"):
        defense(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="x must be"):
        defense(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(RangeError, match="x must be finite"):
        defense(torch.full((1, 3, 2, 2), float("nan")))
    with pytest.raises(RangeError, match=r"x must have values in \[0, 1\]"):
        defense(torch.full((1, 3, 2, 2), 1.5))
    with pytest.raises(ValueError, match="gradient"):
        Identity(gradient="identity")


def test_composes_with_a_model() -> None:
    model = torch.nn.Sequential(Identity(), torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    x = ihc_patches(3, size=8)
    assert torch.equal(model(x), model[2](x.flatten(1)))
