"""A small trained binary classifier, data, and simple defenses for the evaluation tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hermes._random import make_generator, rand_like


def binary_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """3x8x8 images; positives have a darker centre. Overlapping classes, so AUROC < 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.3 + 0.4 * torch.rand(n, 3, 8, 8, generator=g)
    shift = (0.08 * torch.randn(n, generator=g) - 0.15 * y).view(-1, 1, 1, 1)
    x[:, :, 2:6, 2:6] += shift
    return x.clamp(0, 1), y


def train_small_cnn(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> nn.Module:
    """A one-logit conv net trained with full-batch Adam on ``(x, y)``; eval mode, no grads."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(x.shape[1], 8, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * (x.shape[2] // 2) * (x.shape[3] // 2), 1),
        )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(x).view(-1), y.float()).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="package")
def classifier() -> nn.Module:
    return train_small_cnn(*binary_data(512, seed=1))


@pytest.fixture(scope="package")
def test_set() -> tuple[torch.Tensor, torch.Tensor]:
    return binary_data(96, seed=2)


class Blur(nn.Module):
    """A deterministic 3x3 box blur (a stand-in defense)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)


class NoisyDefense(nn.Module):
    """A randomised defense following hermes' convention: randomness from ``self.generator``."""

    def __init__(self, generator=None) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = make_generator(self.generator)
        return (x + 0.1 * (rand_like(x, g) - 0.5)).clamp(0, 1)
