"""Isotropic Gaussian noise as a module: the randomness of a smoothed classifier, for attacks.

``nn.Sequential(GaussianNoise(sigma), model)`` is the base classifier under the noise that
randomized smoothing averages over. Attacking it with EOT (several noise draws per gradient)
attacks the smoothed classifier (Salman et al. 2019), which is how :func:`evaluate_certified`
sets the empirical curve beside the certified one. The noise follows hermes' randomness
convention (a ``generator`` attribute), so EOT and the grid can seed it.

Example:
    >>> import torch
    >>> noise = GaussianNoise(0.5, generator=0)
    >>> x = torch.zeros(2, 1, 64, 64)
    >>> round(float(noise(x).std()), 1), torch.equal(noise(x), noise(x))  # int seed: repeats
    (0.5, True)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hermes._random import GeneratorLike, check_generator, make_generator, randn_like
from hermes._validation import check_number

__all__ = ["GaussianNoise"]


class GaussianNoise(nn.Module):
    """Adds ``N(0, sigma^2)`` noise to every pixel, unclamped (as randomized smoothing does).

    Args:
        sigma: the noise's standard deviation in pixel units, ``> 0``.
        generator: source of the noise: a ``torch.Generator`` (its state advances from call to
            call), an int seed (every call restarts from it) or ``None`` (fresh OS entropy).

    Shape:
        - Input: any float tensor, e.g. :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`.
        - Output: the same shape; values may leave ``[0, 1]``.
    """

    def __init__(self, sigma: float, *, generator: GeneratorLike = None) -> None:
        super().__init__()
        self.sigma = check_number(
            sigma, "sigma", low=0.0, low_inclusive=False, high=math.inf, high_inclusive=False
        )
        self.generator = check_generator(generator)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a float tensor; got {type(x).__name__}")
        return x + self.sigma * randn_like(x, make_generator(self.generator))
