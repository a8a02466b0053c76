"""Small models and data shared by the attack tests."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
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


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    """Full-batch Adam on cross-entropy; the model comes back in eval mode with no gradients."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


def small_cnn(width: int, spatial: int, outputs: int) -> nn.Module:
    """Conv(width) -> ReLU -> MaxPool -> Linear, seeded, for 1-channel images."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(width * spatial, outputs),
        )


@pytest.fixture(scope="package")
def trained_classifier() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small CNN trained to high accuracy on ``separable_data``, plus held-out data."""
    x, y = separable_data(512, seed=1)
    model = train(small_cnn(8, 16, 2), x, y, epochs=60)
    x_test, y_test = separable_data(256, seed=2)
    return model, x_test, y_test


@pytest.fixture(scope="package")
def digits_classifier() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A 10-class CNN on scikit-learn's 8x8 digits (clean accuracy about 0.92), plus 256
    held-out images."""
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    model = train(small_cnn(16, 16, 10), x[:1500], y[:1500], epochs=80)
    return model, x[1500:1756], y[1500:1756]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def auroc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """AUROC of a 2-logit model's class-1 probability."""
    with torch.no_grad():
        return float(roc_auc_score(y.numpy(), model(x).softmax(1)[:, 1].numpy()))


def assert_as_strong_as_reference(model, x, y, norm, eps, seeds, ours, theirs) -> None:
    """hermes' attack ``ours(seed)`` against a reference library's ``theirs(seed)`` (both return
    adversarial images of ``x``): within the budget, and on average over ``seeds`` accuracy (and,
    for a binary model, AUROC) no higher than the reference's + 0.02. The reference must leave
    the budget neither trivial nor hopeless."""
    ours_scores, theirs_scores = [], []
    binary = int(y.max()) <= 1
    for seed in seeds:
        x_ours = ours(seed)
        with torch.random.fork_rng():  # torchattacks reseeds the global RNG
            x_theirs = theirs(seed)
        flat = (x_ours - x).flatten(1)
        size = flat.abs().amax(1) if str(norm) == "inf" else flat.norm(dim=1)
        assert bool((size <= eps + 1e-6).all())
        ours_scores.append([accuracy(model, x_ours, y)])
        theirs_scores.append([accuracy(model, x_theirs, y)])
        if binary:
            ours_scores[-1].append(auroc(model, x_ours, y))
            theirs_scores[-1].append(auroc(model, x_theirs, y))
    ours_mean = torch.tensor(ours_scores).mean(0)
    theirs_mean = torch.tensor(theirs_scores).mean(0)
    assert (
        0.1 < float(theirs_mean[0]) < accuracy(model, x, y) - 0.05
    )  # neither trivial nor hopeless
    assert bool((ours_mean <= theirs_mean + 0.02).all()), (ours_mean, theirs_mean)
