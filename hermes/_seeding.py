"""Seeds derived from one seed, and temporary seeding of modules' ``generator`` attributes.

hermes modules keep their source of randomness in a ``generator`` attribute (a torch.Generator,
an int seed, or None). The evaluation grid and EOT attacks set those attributes for a call and
put them back after, so results depend only on the seed the user gave.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["derive_seed", "draw_seed", "has_generators", "seeded"]


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``parts`` (stable across runs/platforms).

    Example:
        >>> derive_seed(0, "TVM", "PGD", 0.01, 3) == derive_seed(0, "TVM", "PGD", 0.01, 3)
        True
    """
    text = repr((seed, *parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


@contextmanager
def seeded(module: object, seed: int) -> Iterator[None]:
    """Set every ``generator`` attribute in ``module`` (hermes' convention for the source of a
    module's randomness) to a seed derived from ``seed`` for the block, then put the original
    values back. Objects that are not ``nn.Module`` s are left alone."""
    saved = []
    subs = module.modules() if isinstance(module, nn.Module) else ()
    for index, sub in enumerate(subs):
        if "generator" not in vars(sub):
            continue
        value = sub.generator
        if value is None or isinstance(value, (int, torch.Generator)):
            saved.append((sub, value))
            sub.generator = derive_seed(seed, index)
    try:
        yield
    finally:
        for sub, value in saved:
            sub.generator = value


def has_generators(module: object) -> bool:
    """Whether ``module`` (or a submodule) keeps randomness in a ``generator`` attribute."""
    if not isinstance(module, nn.Module):
        return False
    return any("generator" in vars(sub) for sub in module.modules())


def draw_seed(generator: torch.Generator) -> int:
    """One 62-bit seed drawn from ``generator`` (for a randomised module's next call)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
