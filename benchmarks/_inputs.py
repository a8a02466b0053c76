"""The model and images the benchmarks share: a ResNet-18 with fixed random weights and uniform
random images, both from seed 0 (the global RNG is left as it was)."""

from __future__ import annotations

import torch
import torchvision
from torch import nn


def seeded_resnet18(num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 with ``num_classes`` outputs, weights drawn from seed 0, in eval
    mode."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return torchvision.models.resnet18(num_classes=num_classes).eval()


def random_images(n: int, size: int) -> tuple[torch.Tensor, torch.Generator]:
    """``(n, 3, size, size)`` uniform images from seed 0, and the generator, to draw labels on."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, size, size, generator=generator), generator
