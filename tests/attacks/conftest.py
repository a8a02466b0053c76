"""Small models and data shared by the attack tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class TinyCNN(nn.Module):
    """A conv net that accepts any (B, C, H, W) with the given C, for property tests."""

    def __init__(self, channels: int = 3, outputs: int = 2, dropout: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()
        self.head = nn.Linear(24, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def make_tiny_cnn(
    channels: int = 3, outputs: int = 2, seed: int = 0, dtype: torch.dtype = torch.float32
) -> TinyCNN:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = TinyCNN(channels, outputs).to(dtype)
    # Give BatchNorm non-trivial running statistics so eval and train mode differ.
    model.features[1].running_mean.uniform_(-0.2, 0.2)
    model.features[1].running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture
def tiny_cnn() -> TinyCNN:
    return make_tiny_cnn()


def separable_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """1x8x8 images: class 1 has a brighter centre; noisy, but separable with a margin."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.35 + 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    x[:, :, 2:6, 2:6] += (y.float() * 0.3 - 0.15).view(-1, 1, 1, 1)
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def trained_classifier() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small CNN trained to high accuracy on ``separable_data``, plus held-out data."""
    x, y = separable_data(512, seed=1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * 16, 2),
        )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    x_test, y_test = separable_data(256, seed=2)
    return model.eval(), x_test, y_test
