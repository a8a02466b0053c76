"""Reproducible randomness without touching the global RNG.

Every random draw in hermes goes through :func:`make_generator` and the ``rand``/``randn``
helpers here, so results depend only on the generator or seed the user passes.
"""

from __future__ import annotations

import torch

__all__ = ["check_generator", "make_generator", "rand_like", "randn_like"]

GeneratorLike = torch.Generator | int | None


def check_generator(generator: object) -> GeneratorLike:
    """Return ``generator`` if it is a ``torch.Generator``, an int seed or ``None``; else TypeError.

    Example:
        >>> check_generator(7)
        7
    """
    if isinstance(generator, bool) or not (
        generator is None or isinstance(generator, (int, torch.Generator))
    ):
        raise TypeError(
            f"generator must be a torch.Generator, an int seed or None; got {type(generator).__name__}"
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
