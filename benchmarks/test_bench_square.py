"""Square attack (L-inf and L2), 100 queries, on a ResNet-18 at 32x32: hermes against
torchattacks and the floor.

The floor is 100 raw forward passes of the batch under ``torch.no_grad()``: what any score-based
attack with that budget must at least do. torchattacks' Square (3.5.1) stops querying an image
once it is misclassified, so the labels here are the model's own predictions and ``eps`` is too
small to flip them within the budget: every entry makes the same 100 queries per image (counted
by a wrapper and checked; torchattacks adds two forward passes to check the predictions before
and after), and the ratios measure the attacks' own overhead.

    pytest benchmarks/test_bench_square.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import nn

from benchmarks._inputs import random_images, seeded_resnet18
from hermes.attacks.square import Square

BATCH = 16
QUERIES = 100
EPS = 1e-4


class _Counted(nn.Module):
    """The model, counting the images it is asked about."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.images = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += x.shape[0]
        return self.model(x)


@pytest.fixture(scope="module")
def resnet_and_batch() -> tuple[_Counted, torch.Tensor, torch.Tensor]:
    model = seeded_resnet18(2)
    x, _ = random_images(BATCH, 32)
    with torch.no_grad():
        y = model(x).argmax(1)  # correct by construction: nobody stops early
    return _Counted(model), x, y


def raw_forwards(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        for _ in range(QUERIES):
            logits = model(x)
    return logits


def torchattacks_square(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str
) -> torch.Tensor:
    with torch.random.fork_rng():  # torchattacks reseeds the global RNG
        attack = torchattacks.Square(
            model, norm=norm, eps=EPS, n_queries=QUERIES - 1, seed=0, verbose=False
        )
        return attack(x, y)


def _measure(benchmark, norm: str, model: _Counted, function, *args):
    """Benchmark ``function(*args)`` in the norm's group; return its last result and the set of
    how many images ``model`` was asked about in each call."""
    benchmark.group = f"square100-{norm}-resnet18-32px-b16"
    counts: list[int] = []

    def run(*args):
        model.images = 0
        out = function(*args)
        counts.append(model.images)
        return out

    out = benchmark.pedantic(run, args=args, rounds=5, warmup_rounds=1)
    return out, set(counts)


NORMS = pytest.mark.parametrize("norm", ["Linf", "L2"])


@NORMS
def test_bench_raw_forwards(benchmark, resnet_and_batch, norm) -> None:
    model, x, _ = resnet_and_batch
    _, counts = _measure(benchmark, norm, model, raw_forwards, model, x)
    assert counts == {QUERIES * BATCH}


@NORMS
def test_bench_hermes_square(benchmark, resnet_and_batch, norm) -> None:
    model, x, y = resnet_and_batch
    attack = Square(model, EPS, queries=QUERIES, norm=norm, generator=0)
    x_adv, counts = _measure(benchmark, norm, model, attack, x, y)
    assert counts == {QUERIES * BATCH}
    assert float(perturbation(x_adv - x, norm).max()) <= EPS + 1e-6


@NORMS
def test_bench_torchattacks_square(benchmark, resnet_and_batch, norm) -> None:
    model, x, y = resnet_and_batch
    x_adv, counts = _measure(benchmark, norm, model, torchattacks_square, model, x, y, norm)
    # the same 100 queries, plus its two checks of the predictions (before and after)
    assert counts == {(QUERIES + 2) * BATCH}
    assert float(perturbation(x_adv - x, norm).max()) <= EPS + 1e-6


def perturbation(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "Linf" else flat.norm(dim=1)
