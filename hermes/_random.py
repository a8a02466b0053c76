"""Every randomness helper of hermes, and the one convention they serve.

The convention:

- A random operation takes ``generator=``: a ``torch.Generator`` (its state advances from call to
  call), an int seed (every call restarts from it) or ``None`` (fresh OS entropy). Nothing in
  hermes draws from, or changes, torch's global RNG, except inside :func:`seeded_global_rng`.
- A module keeps its source of randomness in a public ``generator`` attribute. The evaluation grid
  and EOT attacks set those attributes for a call with :func:`seeded` (seeds derived from one
  seed with :func:`derive_seed`) and put them back afterwards, so results depend only on the seed
  the user gave.
- ``seed=`` means an int, never a generator.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from hermes._validation import check_positive_int

__all__ = [
    "GeneratorLike",
    "check_generator",
    "check_seed",
    "deprecated_generator_seed",
    "derive_seed",
    "draw_seed",
    "has_generators",
    "make_generator",
    "rand_like",
    "randn_like",
    "seeded",
    "seeded_global_rng",
]

GeneratorLike = torch.Generator | int | None


def check_generator(generator: object, name: str = "generator") -> GeneratorLike:
    """Return ``generator`` if it is a ``torch.Generator``, an int seed or ``None``; else TypeError.

    Example:
        >>> check_generator(7)
        7
    """
    if isinstance(generator, bool) or not (
        generator is None or isinstance(generator, (int, torch.Generator))
    ):
        raise TypeError(
            f"{name} must be a torch.Generator, an int seed or None; got {type(generator).__name__}"
        )
    return generator


def make_generator(generator: GeneratorLike, device: torch.device | str = "cpu") -> torch.Generator:
    """Return a ``torch.Generator`` from a generator, an integer seed, or ``None``.

    ``None`` gives a fresh generator seeded from the operating system's entropy (not from,
    and without changing, torch's global RNG). Pass a generator or a seed for reproducibility.

    Example:
        >>> g = make_generator(42)
        >>> g.initial_seed()
        42
    """
    if isinstance(check_generator(generator), torch.Generator):
        return generator
    fresh = torch.Generator(device=device)
    if generator is None:
        fresh.seed()
    else:
        fresh.manual_seed(generator)
    return fresh


def rand_like(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform ``[0, 1)`` noise shaped like ``x``, on ``x``'s device and dtype.

    Draws on the generator's device and moves the result, so a CPU generator works for CUDA
    tensors too (and gives the same numbers on every device).
    """
    noise = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return noise.to(x.device)


def randn_like(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, on ``x``'s device and dtype."""
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return noise.to(x.device)


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


def check_seed(value: Any, name: str = "seed", *, optional: bool = False) -> int | None:
    """Check a seed: a non-negative int (``None`` too when ``optional``).

    ``seed=`` is never a generator in hermes (see ``hermes._random``); a random operation takes
    its generator as ``generator=``.

    Example:
        >>> check_seed(-1)
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: seed must be an integer >= 0; got -1
    """
    if optional and value is None:
        return None
    return check_positive_int(value, name, minimum=0)


def deprecated_generator_seed(seed: Any, where: str, instead: str) -> torch.Generator | None:
    """The ``torch.Generator`` passed as ``seed=`` (deprecated), with a DeprecationWarning; else None.

    Before ``seed=`` meant an int only, ``stratified_indices``, ``PCam`` and ``Augmentation``
    also took a generator there; they still do, for now, and warn with ``instead`` (what to
    write now). The warning points at the caller of ``where`` (two frames up from here).
    """
    if not isinstance(seed, torch.Generator):
        return None
    warnings.warn(
        f"{where}(seed=<torch.Generator>) is deprecated: seed= is an int; {instead}",
        DeprecationWarning,
        stacklevel=3,
    )
    return seed
