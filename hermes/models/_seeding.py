"""Run code that draws from torch's global RNG under a seed, restoring the caller's RNG after.

Some libraries (kornia's augmentations, ``DataLoader`` shuffling without a generator) draw from
torch's global RNG and take no ``generator=``. Wrapping them here makes them reproducible and
leaves the caller's global RNG state exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["seeded_global_rng"]


@contextmanager
def seeded_global_rng(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Seed the CPU RNG (and ``device``'s, for an accelerator) for the block; restore both after.

    Example:
        >>> before = torch.get_rng_state()
        >>> with seeded_global_rng(0):
        ...     a = torch.rand(2)
        >>> with seeded_global_rng(0):
        ...     b = torch.rand(2)
        >>> torch.equal(a, b), torch.equal(torch.get_rng_state(), before)
        (True, True)
    """
    device = torch.device(device)
    if device.type in ("cpu", "meta"):
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
        return
    module = torch.get_device_module(device.type)
    index = device.index if device.index is not None else module.current_device()
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(seed)
        with module.device(index):
            module.manual_seed(seed)
        yield
