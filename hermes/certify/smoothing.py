"""Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): certified L2 robustness.

A base classifier ``f`` is turned into the smoothed classifier ``g(x) = argmax_c P(f(x + e) = c)``
with ``e ~ N(0, sigma^2 I)``. If the top class has probability ``p_A >= p_lower > 1/2`` under the
noise, ``g`` returns that class for every input within L2 distance ``sigma * Phi^-1(p_lower)`` of
``x``. :class:`RandomizedSmoothing` estimates ``g`` by Monte Carlo, with the paper's ``PREDICT``
(abstains unless a two-sided binomial test separates the top two classes) and ``CERTIFY`` (picks
the class from ``n0`` draws, bounds its probability from ``n`` fresh draws with a one-sided
Clopper-Pearson interval at level ``alpha``).

The base classifier may output one logit (binary: class ``logit > 0``) or ``K >= 2`` logits
(class ``argmax``). Noise is added in pixel space and is not clamped to ``[0, 1]`` (the
guarantee is for the unclamped Gaussian).

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    >>> with torch.no_grad():
    ...     _ = model[1].weight.zero_(), model[1].bias.fill_(5.0)  # always class 1
    >>> smoothed = RandomizedSmoothing(model, sigma=0.25, generator=0)
    >>> classes, radius = smoothed.certify(torch.rand(2, 3, 2, 2), n0=100, n=1000, alpha=0.001)
    >>> classes, radius.round(decimals=4)  # 0.25 * Phi^-1(0.001 ** (1 / 1000))
    (tensor([1, 1]), tensor([0.6158, 0.6158]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from scipy.stats import beta as _beta
from scipy.stats import binomtest as _binomtest
from scipy.stats import norm as _norm
from torch import nn

from hermes._modes import eval_mode
from hermes._random import GeneratorLike, check_generator, make_generator, randn_like
from hermes._validation import check_images, check_model_output, check_number, check_positive_int
from hermes.errors import RangeError, ShapeError

__all__ = ["RandomizedSmoothing"]

ABSTAIN = -1


def _check_sigma(sigma: Any) -> float:
    return check_number(
        sigma, "sigma", low=0.0, low_inclusive=False, high=math.inf, high_inclusive=False
    )


def _check_alpha(alpha: Any) -> float:
    return check_number(
        alpha, "alpha", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )


def _check_x(x: Any) -> torch.Tensor:
    """Images ``(B, C, H, W)`` or volumes ``(B, C, D, H, W)``: finite floats in ``[0, 1]``."""
    if isinstance(x, torch.Tensor) and x.ndim == 5:
        if not x.is_floating_point():
            raise TypeError(
                f"x must be a float tensor (B, C, D, H, W) in [0, 1]; got dtype {x.dtype}"
            )
        check_images(x.flatten(1, 2), "x")
        return x
    return check_images(x, "x")


def _classes_from_logits(logits: torch.Tensor, batch: int) -> tuple[torch.Tensor, int]:
    """The base classifier's decision for every row, and the number of classes."""
    k = check_model_output(logits, batch, "model output")
    if k == 1:
        return (logits.reshape(-1) > 0).long(), 2
    return logits.argmax(dim=1), k


def _sample_counts(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    num: int,
    batch_size: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """How often the base classifier returns each class on ``num`` noisy copies of each image.

    The ``B * num`` noisy copies form one stream cut into forwards of ``batch_size`` copies
    (a forward may hold copies of several images), so small images keep the model busy.

    Returns:
        Counts of shape ``(B, K)``, ``int64``, on ``x``'s device; each row sums to ``num``.
    """
    total = x.shape[0] * num
    counts: torch.Tensor | None = None
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        image = torch.arange(start, stop, device=x.device) // num
        clean = x[image]
        logits = model(clean + sigma * randn_like(clean, generator))
        classes, k = _classes_from_logits(logits, stop - start)
        if counts is None:
            counts = torch.zeros(x.shape[0] * k, dtype=torch.long, device=x.device)
            num_classes = k
        elif k != num_classes:
            raise ShapeError(
                f"model output changed width between forwards: {num_classes} then {k} logits"
            )
        counts.index_add_(
            0, image * num_classes + classes.to(x.device), torch.ones_like(classes, device=x.device)
        )
    return counts.view(x.shape[0], num_classes)


def _clopper_pearson_lower(k: torch.Tensor, n: int, alpha: float) -> torch.Tensor:
    """One-sided ``(1 - alpha)`` Clopper-Pearson lower bound on a binomial proportion (float64)."""
    k_np = k.detach().cpu().numpy()
    bound = _beta.ppf(alpha, k_np, n - k_np + 1)
    bound[k_np == 0] = 0.0
    return torch.as_tensor(bound, dtype=torch.float64)


class RandomizedSmoothing(nn.Module):
    """The smoothed classifier of a base classifier under isotropic Gaussian noise.

    Args:
        model: the base classifier, an ``nn.Module`` mapping images to one logit per image
            (binary: class 1 when the logit is ``> 0``) or ``K >= 2`` logits (class ``argmax``).
            Any normalization belongs inside it; noise is added in pixel space.
        sigma: the noise's standard deviation in pixel units, ``> 0``. Train the base model
            with noise of the same ``sigma``, or it will mostly abstain.
        batch_size: how many noisy copies go through the model in one forward, ``>= 1``.
        generator: source of the noise: a ``torch.Generator`` (its state advances from call to
            call; draw on its device), an int seed (every call restarts from it) or ``None``
            (fresh OS entropy). torch's global RNG is never used.

    Shape:
        - Input ``x``: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`, values in ``[0, 1]``.
        - Output: classes :math:`(B,)` ``int64`` (``-1`` = abstain); radii :math:`(B,)`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> smoothed = RandomizedSmoothing(model, sigma=0.5, batch_size=64, generator=1)
        >>> smoothed.predict(torch.rand(5, 1, 2, 2), n=50).shape
        torch.Size([5])
    """

    ABSTAIN = ABSTAIN

    def __init__(
        self,
        model: nn.Module,
        sigma: float,
        *,
        batch_size: int = 256,
        generator: GeneratorLike = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        self.model = model
        self.sigma = _check_sigma(sigma)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.generator = check_generator(generator)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, batch_size={self.batch_size}"

    def _counts(self, x: torch.Tensor, num: int, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad(), eval_mode(self.model):
            return _sample_counts(
                self.model,
                x,
                _check_sigma(self.sigma),
                num,
                check_positive_int(self.batch_size, "batch_size"),
                generator,
            )

    def predict(self, x: torch.Tensor, n: int = 100, alpha: float = 0.001) -> torch.Tensor:
        """The smoothed classifier's class per image, or ``-1`` where it abstains (``PREDICT``).

        Draws ``n`` noisy copies of each image and returns the most frequent class of the base
        classifier when a two-sided binomial test of the top two counts ``n_A`` vs ``n_B``
        (``H0: p = 1/2`` over ``n_A + n_B`` trials) rejects at level ``alpha``; otherwise
        abstains. The returned class is then the smoothed classifier's class with probability at
        least ``1 - alpha``.

        Args:
            x: images ``(B, C, H, W)`` or volumes ``(B, C, D, H, W)`` in ``[0, 1]``.
            n: number of noisy copies per image, ``>= 1``.
            alpha: the test's level, in ``(0, 1)``.

        Returns:
            Classes, ``int64`` on ``x``'s device, ``-1`` for abstain.

        Shape:
            - Input: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`
            - Output: :math:`(B,)`

        Example:
            >>> import torch
            >>> from torch import nn
            >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
            >>> with torch.no_grad():
            ...     _ = model[1].weight.zero_(), model[1].bias.fill_(-1.0)  # always class 0
            >>> RandomizedSmoothing(model, sigma=0.5, generator=0).predict(torch.rand(2, 1, 2, 2))
            tensor([0, 0])
        """
        x = _check_x(x)
        n = check_positive_int(n, "n")
        alpha = _check_alpha(alpha)
        if x.shape[0] == 0:
            return torch.empty(0, dtype=torch.long, device=x.device)
        counts = self._counts(x, n, make_generator(self.generator))
        top2 = counts.topk(min(2, counts.shape[1]), dim=1)
        n_a = top2.values[:, 0].tolist()
        n_b = top2.values[:, 1].tolist() if counts.shape[1] > 1 else [0] * len(n_a)
        keep = [_binomtest(a, a + b, 0.5).pvalue <= alpha for a, b in zip(n_a, n_b, strict=True)]
        keep_t = torch.tensor(keep, dtype=torch.bool, device=x.device)
        return torch.where(keep_t, top2.indices[:, 0], torch.full_like(top2.indices[:, 0], ABSTAIN))

    def certify(
        self, x: torch.Tensor, n0: int = 100, n: int = 1000, alpha: float = 0.001
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class and certified L2 radius per image, or an abstention (``CERTIFY``).

        ``n0`` noisy copies select the top class ``c_A``; ``n`` fresh copies count how often
        the base classifier returns it (``k``). ``p_A_lower`` is the one-sided
        ``(1 - alpha)`` Clopper-Pearson lower bound ``Beta.ppf(alpha, k, n - k + 1)`` (``0`` when
        ``k == 0``). The method abstains iff ``p_A_lower < 1/2``; otherwise, with probability at
        least ``1 - alpha``, the smoothed classifier returns ``c_A`` on every input within L2
        distance ``sigma * Phi^-1(p_A_lower)`` of ``x`` (pixel units).

        Args:
            x: images ``(B, C, H, W)`` or volumes ``(B, C, D, H, W)`` in ``[0, 1]``.
            n0: noisy copies per image used to select the class, ``>= 1`` and ``<= n``.
            n: noisy copies per image used to estimate the class's probability, ``>= 1``.
            alpha: failure probability of the certificate, in ``(0, 1)``.

        Returns:
            ``(classes, radius)``: classes ``int64`` with ``-1`` for abstain, and the certified
            radius (``0`` where abstained), in ``x``'s dtype; both on ``x``'s device.

        Shape:
            - Input: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`
            - Output: :math:`(B,)`, :math:`(B,)`

        Example:
            >>> import torch
            >>> from torch import nn
            >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
            >>> classes, radius = RandomizedSmoothing(model, 0.25, generator=0).certify(
            ...     torch.rand(3, 1, 2, 2), n0=10, n=100)
            >>> classes.shape, radius.shape, bool((radius[classes == -1] == 0).all())
            (torch.Size([3]), torch.Size([3]), True)
        """
        x = _check_x(x)
        n0 = check_positive_int(n0, "n0")
        n = check_positive_int(n, "n")
        if n0 > n:
            raise RangeError(f"n0 must be <= n; got n0={n0} and n={n}")
        alpha = _check_alpha(alpha)
        if x.shape[0] == 0:
            empty = torch.empty(0, device=x.device)
            return empty.long(), empty.to(x.dtype)
        generator = make_generator(self.generator)
        top = self._counts(x, n0, generator).argmax(dim=1)
        k = self._counts(x, n, generator).gather(1, top[:, None])[:, 0]
        p_lower = _clopper_pearson_lower(k, n, alpha)
        certified = p_lower >= 0.5
        radius = torch.where(
            certified,
            self.sigma * torch.as_tensor(_norm.ppf(p_lower.numpy()), dtype=torch.float64),
            torch.zeros_like(p_lower),
        )
        certified = certified.to(x.device)
        classes = torch.where(certified, top, torch.full_like(top, ABSTAIN))
        return classes, radius.to(device=x.device, dtype=x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`predict` with its defaults (``n=100``, ``alpha=0.001``)."""
        return self.predict(x)
