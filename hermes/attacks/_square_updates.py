"""The pieces of the Square attack (Andriushchenko et al. 2020) that do not touch the model.

The schedule of square sizes, the L2 attack's pseudo-Gaussian pattern, both initialisations, the
random draws of every iteration and the two proposals (L-inf and L2). Kept apart from
:mod:`hermes.attacks.square` (checks, losses, acceptance, restarts, EOT) so that each can be
tested on its own.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator
from typing import NamedTuple

import torch

__all__ = [
    "Draw",
    "Squares",
    "iteration_draws",
    "l2_init",
    "l2_proposal",
    "linf_init",
    "linf_proposal",
    "p_schedule",
    "pseudo_gaussian",
    "side_lengths",
]

#: Iterations (of a 10,000-query run) after which ``p`` is halved (Andriushchenko et al. 2020).
HALVING_POINTS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
#: Iterations whose random numbers are drawn at once (one host-to-device copy per chunk). Fixed,
#: so that the numbers of iteration ``i`` do not depend on the query budget.
CHUNK = 64
#: Channels whose signs the "propose something new" rule may flip (2**30 choices are plenty).
_FLIP_CHANNELS = 30


def p_schedule(p_init: float, queries: int) -> list[float]:
    """The fraction ``p`` of the image a square covers, for each iteration after the first query.

    ``p`` starts at ``p_init`` and is halved after iterations 10, 50, 200, 500, 1000, 2000, 4000,
    6000 and 8000 of a 10,000-query run; for another budget the iteration is rescaled to
    ``i * 10000 // queries`` first, as in the paper's reference implementation.

    Args:
        p_init: the initial fraction, in ``(0, 1]``.
        queries: the query budget, initialisation included (so ``queries - 1`` iterations).

    Returns:
        ``queries - 1`` fractions.

    Example:
        >>> p = p_schedule(0.8, 10000)
        >>> p[10], p[11], p[50], p[51], p[9999 - 1]
        (0.8, 0.4, 0.4, 0.2, 0.0015625)
    """
    return [
        p_init / 2 ** bisect_left(HALVING_POINTS, (i * 10000) // queries)
        for i in range(queries - 1)
    ]


def side_lengths(p_init: float, queries: int, height: int, width: int, norm: str) -> list[int]:
    """The side of the square proposed at each iteration: ``round(sqrt(p * height * width))``.

    L-inf squares are at least 1 pixel wide; L2 squares at least 3 and of odd side (the paper's
    rule, so the pattern has a centre). Either is at most ``min(height, width) - 1`` (``1`` for an
    image one pixel high or wide), so a square never covers the whole image.

    Example:
        >>> side_lengths(0.8, 1000, 32, 32, "inf")[:3], side_lengths(0.05, 1000, 32, 32, "2")[-1]
        ([29, 29, 20], 3)
    """
    largest = max(min(height, width) - 1, 1)
    sides = []
    for p in p_schedule(p_init, queries):
        side = round(math.sqrt(p * height * width))
        if norm == "2":
            side = max(side, 3)
            side += 1 - side % 2
        sides.append(min(max(side, 1), largest))
    return sides


def _bump(rows: int, cols: int) -> torch.Tensor:
    """Concentric rectangles around the centre, ring ``k`` weighted ``sum_{j >= k} 1 / (j + 1)^2``
    (a pseudo-Gaussian that is flat along rings), unit L2 norm; ``(rows, cols)`` in float64."""
    if rows == 0 or cols == 0:
        return torch.zeros(rows, cols, dtype=torch.float64)
    r = (torch.arange(rows) - rows // 2).abs()
    c = (torch.arange(cols) - cols // 2).abs()
    ring = torch.maximum(r[:, None], c[None, :])
    weights = 1.0 / (torch.arange(max(rows, cols) // 2 + 1, dtype=torch.float64) + 1.0) ** 2
    tail = weights.flip(0).cumsum(0).flip(0)  # tail[k] = sum over rings j >= k
    bump = tail[ring]
    return bump / bump.norm()


def pseudo_gaussian(side: int) -> torch.Tensor:
    """The L2 attack's ``side x side`` update pattern, unit L2 norm, float64.

    Two pseudo-Gaussian bumps, one above the other, with opposite signs (top half positive,
    bottom half negative), as in the paper: a local change that moves mass within the square.

    Example:
        >>> pseudo_gaussian(3).sign()
        tensor([[ 1.,  1.,  1.],
                [-1., -1., -1.],
                [-1., -1., -1.]], dtype=torch.float64)
    """
    half = side // 2
    pattern = torch.cat([_bump(half, side), -_bump(side - half, side)])
    return pattern / pattern.norm()


class Squares:
    """Masks and pattern images of ``side x side`` squares at per-sample corners.

    For images of one size on one device: the row and column bands of every corner are tables
    built once per side (the side changes about ten times in a run), so placing a batch of
    squares costs a few indexing ops and no host synchronisation.

    Args:
        height, width: the image size.
        device, dtype: where the images live and their dtype (for the patterns).
    """

    def __init__(
        self, height: int, width: int, device: torch.device | str, dtype: torch.dtype
    ) -> None:
        self.height, self.width, self.device, self.dtype = height, width, device, dtype
        self._tables: dict[int, tuple[torch.Tensor, ...]] = {}

    def _table(self, side: int) -> tuple[torch.Tensor, ...]:
        if side not in self._tables:
            rows = torch.arange(self.height, device=self.device)
            cols = torch.arange(self.width, device=self.device)
            tops = torch.arange(self.height - side + 1, device=self.device)[:, None]
            lefts = torch.arange(self.width - side + 1, device=self.device)[:, None]
            r, c = rows - tops, cols - lefts  # (corners, H) and (corners, W)
            pattern = pseudo_gaussian(side)
            pair = torch.stack([pattern, pattern.T]).flatten()
            self._tables[side] = (
                (r >= 0) & (r < side),
                (c >= 0) & (c < side),
                r.clamp(0, side - 1) * side,
                c.clamp(0, side - 1),
                pair.to(device=self.device, dtype=self.dtype),
            )
        return self._tables[side]

    def mask(self, top: torch.Tensor, left: torch.Tensor, side: int) -> torch.Tensor:
        """``(B, 1, H, W)`` bool: per sample, the square with corner ``(top, left)``."""
        row_band, col_band = self._table(side)[:2]
        return (row_band[top][:, :, None] & col_band[left][:, None, :]).unsqueeze(1)

    def pattern(
        self,
        top: torch.Tensor,
        left: torch.Tensor,
        transpose: torch.Tensor,
        side: int,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, 1, H, W)``: per sample, :func:`pseudo_gaussian` (transposed where
        ``transpose``) in the square ``mask`` (with corner ``(top, left)``), zero elsewhere."""
        _, _, row_index, col_index, pair = self._table(side)
        index = row_index[top][:, :, None] + col_index[left][:, None, :]
        index = index + (transpose.long() * side * side)[:, None, None]
        return pair[index].unsqueeze(1) * mask


class Draw(NamedTuple):
    """The random numbers of one iteration, per sample, on the images' device.

    Attributes:
        side: the side of the square(s) this iteration.
        top, left: ``(B,)`` int64, corner of the (first) square.
        top2, left2: ``(B,)`` int64, corner of the L2 attack's second square.
        transpose: ``(B,)`` int64, 1 where the L2 pattern is transposed.
        signs: ``(B, C)`` ``+-1`` in the images' dtype, the sign of each channel's update.
        flips: ``(B, C)`` ``+-1`` in the images' dtype, not all ``+1``: what to multiply the
            signs by when the L-inf proposal would not change the image.
    """

    side: int
    top: torch.Tensor
    left: torch.Tensor
    top2: torch.Tensor
    left2: torch.Tensor
    transpose: torch.Tensor
    signs: torch.Tensor
    flips: torch.Tensor


def iteration_draws(
    generator: torch.Generator,
    sides: list[int],
    batch: int,
    channels: int,
    height: int,
    width: int,
    device: torch.device | str,
    dtype: torch.dtype,
) -> Iterator[Draw]:
    """The random numbers of every iteration, drawn ``CHUNK`` iterations at a time.

    All numbers come from ``generator`` (on its own device) and reach ``device`` in one copy per
    chunk, so the loop over iterations never waits for the host. The numbers of iteration ``i``
    depend only on the generator's state and ``(i, batch, channels)``, not on the budget.
    """
    n_flip = min(channels, _FLIP_CHANNELS)
    shifts = torch.arange(channels, device=generator.device)
    for start in range(0, len(sides), CHUNK):
        u = torch.rand(
            (CHUNK, batch, 6 + channels),
            generator=generator,
            device=generator.device,
            dtype=torch.float64,
        )
        chunk = sides[start : start + CHUNK]
        side = torch.tensor(chunk + [1] * (CHUNK - len(chunk)), device=generator.device)
        side = side.view(-1, 1)
        top = (u[..., 0] * (height - side + 1)).long().clamp(max=height - side)
        left = (u[..., 1] * (width - side + 1)).long().clamp(max=width - side)
        top2 = (u[..., 2] * (height - side + 1)).long().clamp(max=height - side)
        left2 = (u[..., 3] * (width - side + 1)).long().clamp(max=width - side)
        transpose = (u[..., 4] < 0.5).long()
        corners = torch.stack([top, left, top2, left2, transpose], dim=-1).to(device)
        # a uniform choice among the 2**n_flip - 1 non-empty sets of channels to flip
        choices = 2**n_flip - 1
        k = (u[..., 5] * choices).long().clamp(max=choices - 1) + 1
        flips = 1 - 2 * ((k[..., None] >> shifts) & 1)
        signs = torch.where(u[..., 6:] < 0.5, -1, 1)
        signed = torch.cat([signs, flips], dim=-1).to(device=device, dtype=dtype)
        for i, s in enumerate(chunk):
            c, v = corners[i], signed[i]
            yield Draw(
                s, c[:, 0], c[:, 1], c[:, 2], c[:, 3], c[:, 4], v[:, :channels], v[:, channels:]
            )


def linf_init(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Vertical stripes: ``(B, C, H, W)`` signs ``+-1`` (dtype of ``x``), one per column and channel.

    The starting point is ``clip(x + eps * signs, 0, 1)``.
    """
    b, c, h, w = x.shape
    u = torch.rand((b, c, 1, w), generator=generator, device=generator.device)
    signs = torch.where(u < 0.5, -1.0, 1.0).to(device=x.device, dtype=x.dtype)
    return signs.expand(b, c, h, w).contiguous()


def linf_proposal(signs_best: torch.Tensor, window: torch.Tensor, draw: Draw) -> torch.Tensor:
    """The L-inf proposal: the square of each channel set to one vertex ``x +- eps``.

    ``signs_best`` ``(B, C, H, W)`` holds the current point as signs (the point is
    ``clip(x + eps * signs, 0, 1)``); ``window`` is the ``(B, 1, H, W)`` square. Where the drawn
    signs would leave the square as it is, they are multiplied by ``draw.flips``, so every
    proposal changes the image (the paper redraws in that case).

    Returns:
        ``(B, C, H, W)`` the proposal's signs.
    """
    signs = draw.signs[:, :, None, None]
    unchanged = ((signs_best == signs) | ~window).flatten(1).all(1)
    signs = torch.where(unchanged[:, None, None, None], signs * draw.flips[:, :, None, None], signs)
    return torch.where(window, signs, signs_best)


def l2_init(x: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    """The L2 starting point: a grid of pseudo-Gaussian squares with random signs, norm ``eps``.

    The image is tiled with squares of side ``min(H, W) // 5`` (at least 1), centred; each square
    holds :func:`pseudo_gaussian` (transposed at random) times a random sign per channel. The sum
    is scaled to L2 norm ``eps`` per sample and clipped to ``[0, 1]``.

    Returns:
        ``(B, C, H, W)`` the starting point.
    """
    b, c, h, w = x.shape
    side = max(min(h, w) // 5, 1)
    nh, nw = h // side, w // side
    g_device = generator.device
    coins = torch.rand((b, nh, nw), generator=generator, device=g_device) < 0.5
    u = torch.rand((b, c, nh, nw), generator=generator, device=g_device, dtype=torch.float64)
    signs = torch.where(u < 0.5, -1.0, 1.0)
    pattern = pseudo_gaussian(side).to(g_device)
    blocks = torch.where(coins[..., None, None], pattern.T, pattern)  # (B, nh, nw, s, s)
    tiles = blocks.permute(0, 1, 3, 2, 4).reshape(b, 1, nh * side, nw * side)
    tiles = tiles * signs.repeat_interleave(side, 2).repeat_interleave(side, 3)
    delta = torch.zeros(b, c, h, w, dtype=x.dtype, device=x.device)
    oh, ow = (h - nh * side) // 2, (w - nw * side) // 2
    delta[:, :, oh : oh + nh * side, ow : ow + nw * side] = tiles.to(delta)
    return (x + _to_norm(delta, eps)).clamp(0.0, 1.0)


def _norms(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return torch.linalg.vector_norm(t, dim=dims, keepdim=True)


def _inverse(norms: torch.Tensor) -> torch.Tensor:
    """``1 / norms`` where ``norms > 0``, else 0 (what it scales is 0 there)."""
    return torch.where(norms > 0, norms.reciprocal(), torch.zeros_like(norms))


def _to_norm(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """``delta`` scaled to L2 norm ``eps`` per sample (a zero ``delta`` stays zero)."""
    return delta * (_inverse(_norms(delta, (1, 2, 3))) * eps)


def l2_proposal(
    x: torch.Tensor, x_best: torch.Tensor, eps: float, draw: Draw, squares: Squares
) -> torch.Tensor:
    """The L2 proposal (the paper's Algorithm 3), per sample and per channel.

    With ``nu = x_best - x``, squares ``W1`` and ``W2`` and ``unused = eps^2 - ||nu||^2`` (budget
    lost to clipping): in each channel, the mass of ``nu`` on ``W1 u W2`` plus ``unused / C`` is
    moved into ``W1``, in the direction ``sign * eta + nu_W1 / ||nu_W1||`` (``eta`` the unit
    :func:`pseudo_gaussian`, transposed at random), and ``W2`` is emptied. The total norm stays
    ``eps``; the result is scaled to norm ``eps`` again (guarding rounding) and clipped to
    ``[0, 1]``.

    Returns:
        ``(B, C, H, W)`` the proposal.
    """
    channels = x.shape[1]
    w1 = squares.mask(draw.top, draw.left, draw.side)
    w2 = squares.mask(draw.top2, draw.left2, draw.side)
    nu = x_best - x
    nu_w1 = nu * w1
    unused = (eps**2 - _norms(nu, (1, 2, 3)).square()).clamp_min(0.0)
    available = (_norms(nu * (w1 | w2), (2, 3)).square() + unused / channels).sqrt()
    eta = squares.pattern(draw.top, draw.left, draw.transpose, draw.side, w1)
    signs = draw.signs[:, :, None, None]
    direction = torch.addcmul(nu_w1 * _inverse(_norms(nu_w1, (2, 3))), signs, eta)
    update = direction * (_inverse(_norms(direction, (2, 3))) * available)
    nu = torch.where(w1, update, nu.masked_fill(w2, 0.0))
    return (x + _to_norm(nu, eps)).clamp_(0.0, 1.0)
