"""BPDA gradients and EOT averaging."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hermes._random import make_generator, rand_like
from hermes.attacks import BPDA, FGSM, PGD
from hermes.attacks._gradients import eot_loss_and_gradient, loss_and_gradient
from tests.attacks.conftest import make_tiny_cnn


def smooth(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.avg_pool2d(nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"), 3, 1) ** 1.5


def test_self_substitute_bpda_reproduces_autograd() -> None:
    model = make_tiny_cnn(3, 2, dtype=torch.float64).eval()
    x = torch.rand(3, 3, 6, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    reference, _ = loss_and_gradient(_Compose(smooth, model), x, y)
    through_bpda, _ = loss_and_gradient(nn.Sequential(BPDA(smooth, backward=smooth), model), x, y)
    torch.testing.assert_close(through_bpda, reference, rtol=1e-12, atol=1e-14)
    assert reference.abs().sum() > 0


def test_identity_bpda_gives_model_gradient_at_preprocessed_input() -> None:
    model = make_tiny_cnn(3, 2, dtype=torch.float64).eval()
    x = torch.rand(3, 3, 6, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    quantize = lambda t: torch.round(t * 4) / 4  # noqa: E731 - zero gradient almost everywhere
    expected, _ = loss_and_gradient(model, quantize(x), y)
    got, _ = loss_and_gradient(nn.Sequential(BPDA(quantize), model), x, y)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert got.abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(BPDA(quantize)(x), quantize(x))  # forward untouched


def test_bpda_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="forward must be a module or callable"):
        BPDA(3)
    with pytest.raises(TypeError, match="backward must be a differentiable callable"):
        BPDA(smooth, backward="identity")


class _Compose(nn.Module):
    def __init__(self, pre, model):
        super().__init__()
        self.pre, self.model = pre, model

    def forward(self, x):
        return self.model(self.pre(x))


class RandomNoise(nn.Module):
    """A randomised preprocessing keeping its randomness in ``self.generator``."""

    def __init__(self, scale: float = 0.3) -> None:
        super().__init__()
        self.scale, self.generator = scale, None

    def forward(self, x):
        noise = rand_like(x, make_generator(self.generator)) - 0.5
        return (x + self.scale * noise).clamp(0, 1)


def test_eot_averaging_lowers_gradient_variance_and_is_seeded() -> None:
    model = nn.Sequential(RandomNoise(), make_tiny_cnn(3, 2, dtype=torch.float64)).eval()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1])

    def estimates(samples: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(1)
        return torch.stack(
            [eot_loss_and_gradient(model, x, y, samples=samples, generator=g)[0] for _ in range(30)]
        )

    var_1 = estimates(1).var(0).mean()
    var_8 = estimates(8).var(0).mean()
    assert var_8 < var_1 / 3, (float(var_1), float(var_8))
    torch.testing.assert_close(estimates(8), estimates(8), rtol=0, atol=0)
    assert model[0].generator is None  # restored


def test_pgd_with_eot_repeats_with_the_same_seed() -> None:
    model = nn.Sequential(RandomNoise(), make_tiny_cnn(3, 2)).eval()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1])
    first = PGD(model, 0.05, steps=3, eot_samples=4, generator=3)(x, y)
    assert torch.equal(first, PGD(model, 0.05, steps=3, eot_samples=4, generator=3)(x, y))
    assert not torch.equal(first, PGD(model, 0.05, steps=3, eot_samples=4, generator=4)(x, y))
    with pytest.raises(ValueError, match="eot_samples must be an integer >= 1"):
        PGD(model, 0.05, eot_samples=0)


def test_fgsm_through_a_randomised_defense_is_seeded_by_its_generator() -> None:
    model = nn.Sequential(RandomNoise(), make_tiny_cnn(3, 2)).eval()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1])
    first = FGSM(model, 0.05, generator=3)(x, y)
    assert torch.equal(first, FGSM(model, 0.05, generator=3)(x, y))
    assert not torch.equal(first, FGSM(model, 0.05, generator=4)(x, y))
    assert model[0].generator is None  # the defense's own setting is given back


class GlobalRandomNoise(nn.Module):
    """Randomised preprocessing a user might write: torch's global RNG, no ``generator``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return (x + 0.1 * (torch.rand_like(x) - 0.5)).clamp(0, 1)


def test_eot_samples_are_drawn_for_randomness_hermes_cannot_seed() -> None:
    noise = GlobalRandomNoise()
    model = nn.Sequential(BPDA(noise), make_tiny_cnn(3, 2)).eval()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    PGD(model, 0.05, steps=3, eot_samples=8, random_start=False)(x, torch.tensor([0, 1]))
    assert noise.calls == 3 * 8
