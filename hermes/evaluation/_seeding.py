"""Per-batch seeds for randomised defenses and attacks, derived from one evaluation seed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["derive_seed", "seeded"]


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
        value = getattr(sub, "generator", None)
        if value is None and "generator" not in vars(sub):
            continue
        if value is None or isinstance(value, (int, torch.Generator)):
            saved.append((sub, value))
            sub.generator = derive_seed(seed, index)
    try:
        yield
    finally:
        for sub, value in saved:
            sub.generator = value
