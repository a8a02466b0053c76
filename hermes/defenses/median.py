"""Median smoothing (ART's "spatial smoothing"): each pixel becomes the median of its window.

The median is exact (an odd window has a unique middle element) and borders are mirrored
(``... c b | a b c d | c b a ...``), so the result equals ``scipy.ndimage.median_filter(...,
mode="mirror")`` per channel, bit for bit, and a constant image stays constant.

How it is computed: each window's columns are sorted with a comparator network (shared by every
window that contains the column), the rows of equal rank are sorted next, only the
``k^2 - 2 * excluded`` entries that can still be the median are kept (an entry greater than
``(k^2 - 1) / 2`` others cannot be), and a final network selects their middle element. Every step
is an elementwise ``torch.minimum``/``torch.maximum`` over a whole chunk of the batch, which is
many times faster than sorting ``k^2``-element patches (see ``docs/defenses.md``).

Memory: the batch is processed ``chunk_size`` output pixels at a time (whole images, or bands of
rows of one image when an image alone is larger), so the extra memory is bounded by
``(k^2 + 2k + 2) * chunk_size`` elements whatever the batch size (at most about 17 MB for the
default ``chunk_size`` and ``k = 7`` in float32), on top of the output.

Volumes ``(B, C, D, H, W)`` are filtered in 3D: each voxel becomes the median of the
``k x k x k`` window around it, every border mirrored, which equals
``scipy.ndimage.median_filter(v, size=k, mode="mirror")`` on each ``(D, H, W)`` volume, bit for
bit. The depth columns of ``k`` voxels are sorted once (shared by every window containing them)
and a network selects the middle element of the ``k^2`` sorted columns of each window
(``window_size <= 7``; larger windows use ``kthvalue``). Volumes are processed in chunks of whole
volumes or bands of depth slices (at least one slice), with about ``(k^3 + 2k + 2)`` chunk-sized
tensors of extra memory (plus the mirrored halo). Images ``(B, C, H, W)`` take the 2-D path.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator

import torch

from hermes._settings import setting
from hermes._substitute import by_gradient_mode
from hermes._validation import check_choice, check_images, check_odd_int, check_positive_int
from hermes.defenses._base import GRADIENT, Defense
from hermes.defenses._padding import mirror_indices
from hermes.defenses._sorting import NetworkBuilder, Program

__all__ = ["MedianSmoothing", "median_smoothing"]

GRADIENTS = ("exact", "identity")
DEFAULT_CHUNK_SIZE = 1 << 16

# Beyond this window the networks grow faster than sorting does: select with kthvalue instead.
_MAX_NETWORK_WINDOW = 15
_MAX_NETWORK_WINDOW_3D = 7  # k^3 = 343 inputs; at k = 9 the network has over 20000 steps


@functools.cache
def _median_programs(k: int) -> tuple[Program, Program, tuple[int, ...]]:
    """Column-sorting and window-median programs for a ``k x k`` window, and the ranks used.

    The second program's input ``a * k + b`` is the ``a``-th smallest value of the window's
    column ``b``.
    """
    t = (k * k - 1) // 2
    net = NetworkBuilder(k * k)
    rows = [net.sort([a * k + b for b in range(k)]) for a in range(k)]
    # After sorting columns then rows, entry (a, b) is >= the (a + 1)(b + 1) entries it dominates
    # and <= the (k - a)(k - b) entries dominating it: it can be the median only if both counts
    # are <= t + 1. The excluded entries below the median (``below``) and above it are dropped;
    # each row of candidates stays sorted, and ``select`` merges them down to the median.
    candidates = [
        [rows[a][b] for b in range(k) if (a + 1) * (b + 1) <= t + 1 and (k - a) * (k - b) <= t + 1]
        for a in range(k)
    ]
    below = sum(1 for a in range(k) for b in range(k) if (k - a) * (k - b) > t + 1)
    window = net.compile([net.select(candidates, t - below)])
    ranks = tuple(sorted({i // k for i in window.used_inputs}))
    column_net = NetworkBuilder(k)
    column = column_net.sort(list(range(k)))
    columns = column_net.compile([column[a] for a in ranks])
    return columns, window, ranks


def _median_band(xp: torch.Tensor, k: int) -> torch.Tensor:
    """Median of every ``k x k`` window of ``xp`` of shape ``(n, h + k - 1, w + k - 1)``."""
    h, w = xp.shape[1] - k + 1, xp.shape[2] - k + 1
    if k == 1:
        return xp.clone()
    if k > _MAX_NETWORK_WINDOW:
        patches = xp.unfold(1, k, 1).unfold(2, k, 1).reshape(xp.shape[0], h, w, k * k)
        return patches.kthvalue((k * k + 1) // 2, dim=-1).values
    columns, window, ranks = _median_programs(k)
    sorted_columns = dict(zip(ranks, columns([xp[:, a : a + h, :] for a in range(k)])))
    inputs = [
        sorted_columns[i // k][:, :, i % k : i % k + w] if i in window.used_inputs else None
        for i in range(k * k)
    ]
    return window(inputs)[0]


def _chunks(n: int, h: int, w: int, chunk_size: int) -> Iterator[tuple[int, int, int, int]]:
    """``(p0, p1, h0, h1)``: planes ``p0:p1``, rows ``h0:h1``, at most ``chunk_size`` pixels."""
    if h * w <= chunk_size:
        per = chunk_size // (h * w)
        for p0 in range(0, n, per):
            yield p0, min(p0 + per, n), 0, h
        return
    rows = max(1, chunk_size // w)
    for p in range(n):
        for h0 in range(0, h, rows):
            yield p, p + 1, h0, min(h0 + rows, h)


def _padded(planes: torch.Tensor, k: int, p0: int, p1: int, h0: int, h1: int) -> torch.Tensor:
    """Planes ``p0:p1``, rows ``h0:h1``, with a mirrored halo of ``k // 2`` pixels."""
    r = k // 2
    h, w = planes.shape[1:]
    rows = mirror_indices(h, h0 - r, h1 + r, planes.device)
    cols = mirror_indices(w, -r, w + r, planes.device)
    return planes[p0:p1].index_select(1, rows).index_select(2, cols)


def _median_forward(x: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    b, c, h, w = x.shape
    planes = x.detach().reshape(b * c, h, w)
    out = torch.empty_like(planes)
    for p0, p1, h0, h1 in _chunks(b * c, h, w, chunk_size):
        out[p0:p1, h0:h1] = _median_band(_padded(planes, k, p0, p1, h0, h1), k)
    return out.view(b, c, h, w)


# --- volumes -----------------------------------------------------------------------------------


@functools.cache
def _median_programs_3d(k: int) -> tuple[Program, Program, tuple[int, ...]]:
    """Depth-column-sorting and window-median programs for a ``k x k x k`` window, and the ranks.

    The second program's input ``(a * k + b) * k + c`` is the ``a``-th smallest value of the
    window's depth column at row offset ``b`` and column offset ``c``.
    """
    t = (k**3 - 1) // 2
    net = NetworkBuilder(k**3)
    columns_of_window = [
        [(a * k + b) * k + c for a in range(k)] for b in range(k) for c in range(k)
    ]
    window = net.compile([net.select(columns_of_window, t)])
    ranks = tuple(sorted({i // (k * k) for i in window.used_inputs}))
    column_net = NetworkBuilder(k)
    column = column_net.sort(list(range(k)))
    columns = column_net.compile([column[a] for a in ranks])
    return columns, window, ranks


def _median_band_3d(xp: torch.Tensor, k: int) -> torch.Tensor:
    """Median of every ``k x k x k`` window of ``xp`` of shape ``(n, d + k - 1, h + k - 1, w + k - 1)``."""
    n = xp.shape[0]
    d, h, w = (size - k + 1 for size in xp.shape[1:])
    if k == 1:
        return xp.clone()
    if k > _MAX_NETWORK_WINDOW_3D:
        patches = xp.unfold(1, k, 1).unfold(2, k, 1).unfold(3, k, 1).reshape(n, d, h, w, k**3)
        return patches.kthvalue((k**3 + 1) // 2, dim=-1).values
    columns, window, ranks = _median_programs_3d(k)
    sorted_columns = dict(zip(ranks, columns([xp[:, a : a + d] for a in range(k)])))
    inputs = []
    for i in range(k**3):
        a, b, c = i // (k * k), (i // k) % k, i % k
        used = i in window.used_inputs
        inputs.append(sorted_columns[a][:, :, b : b + h, c : c + w] if used else None)
    return window(inputs)[0]


def _padded_3d(volumes: torch.Tensor, k: int, p0: int, p1: int, d0: int, d1: int) -> torch.Tensor:
    """Volumes ``p0:p1``, depth slices ``d0:d1``, with a mirrored halo of ``k // 2`` voxels."""
    r = k // 2
    d, h, w = volumes.shape[1:]
    depths = mirror_indices(d, d0 - r, d1 + r, volumes.device)
    rows = mirror_indices(h, -r, h + r, volumes.device)
    cols = mirror_indices(w, -r, w + r, volumes.device)
    return volumes[p0:p1].index_select(1, depths).index_select(2, rows).index_select(3, cols)


def _median_forward_3d(x: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    b, c, d, h, w = x.shape
    volumes = x.detach().reshape(b * c, d, h, w)
    out = torch.empty_like(volumes)
    for p0, p1, d0, d1 in _chunks(b * c, d, h * w, chunk_size):
        out[p0:p1, d0:d1] = _median_band_3d(_padded_3d(volumes, k, p0, p1, d0, d1), k)
    return out.view(b, c, d, h, w)


def _median_backward_3d(
    x: torch.Tensor, out: torch.Tensor, grad_out: torch.Tensor, k: int, chunk_size: int
) -> torch.Tensor:
    """Send each output's gradient to the first voxel of its window (depth, row, column order)
    equal to its median; mirrored voxels pass it back to their source."""
    r = k // 2
    b, c, d, h, w = x.shape
    volumes = x.reshape(b * c, d, h, w)
    medians = out.reshape(b * c, d, h, w)
    grads = grad_out.reshape(b * c, d, h, w)
    grad_x = torch.zeros(b * c, d * h * w, dtype=grad_out.dtype, device=grad_out.device)
    rows = mirror_indices(h, -r, h + r, x.device)
    cols = mirror_indices(w, -r, w + r, x.device)
    index_dtype = torch.int16 if k**3 <= torch.iinfo(torch.int16).max else torch.int64
    for p0, p1, d0, d1 in _chunks(b * c, d, h * w, chunk_size):
        depths = mirror_indices(d, d0 - r, d1 + r, x.device)
        xp = volumes[p0:p1].index_select(1, depths).index_select(2, rows).index_select(3, cols)
        median = medians[p0:p1, d0:d1]
        first = torch.empty(median.shape, dtype=index_dtype, device=x.device)
        for offset in reversed(range(k**3)):
            dk, rest = divmod(offset, k * k)
            di, dj = divmod(rest, k)
            hit = xp[:, dk : dk + d1 - d0, di : di + h, dj : dj + w] == median
            first.masked_fill_(hit, offset)
        first = first.long()
        src_depth = depths[torch.arange(d1 - d0, device=x.device)[:, None, None] + first // (k * k)]
        src_row = rows[torch.arange(h, device=x.device)[:, None] + (first // k) % k]
        src_col = cols[torch.arange(w, device=x.device) + first % k]
        index = ((src_depth * h + src_row) * w + src_col).reshape(p1 - p0, -1)
        grad_x[p0:p1].scatter_add_(1, index, grads[p0:p1, d0:d1].reshape(p1 - p0, -1))
    return grad_x.view(b, c, d, h, w)


class _ExactMedian(torch.autograd.Function):
    """Median forward; the gradient of each output goes to the pixel it selected.

    Where several pixels of a window share the median value, the first in row-major window
    order (top-left first; for volumes, depth then row then column) receives it; mirrored
    border pixels pass it back to their source.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
        out = (_median_forward_3d if x.ndim == 5 else _median_forward)(x, k, chunk_size)
        ctx.k, ctx.chunk_size = k, chunk_size
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        x, out = ctx.saved_tensors
        if x.ndim == 5:
            return _median_backward_3d(x, out, grad_out, ctx.k, ctx.chunk_size), None, None
        k, r = ctx.k, ctx.k // 2
        b, c, h, w = x.shape
        planes = x.reshape(b * c, h, w)
        medians = out.reshape(b * c, h, w)
        grads = grad_out.reshape(b * c, h, w)
        grad_x = torch.zeros(b * c, h * w, dtype=grad_out.dtype, device=grad_out.device)
        cols = mirror_indices(w, -r, w + r, x.device)
        index_dtype = torch.int16 if k * k <= torch.iinfo(torch.int16).max else torch.int64
        for p0, p1, h0, h1 in _chunks(b * c, h, w, ctx.chunk_size):
            rows = mirror_indices(h, h0 - r, h1 + r, x.device)
            xp = planes[p0:p1].index_select(1, rows).index_select(2, cols)
            median = medians[p0:p1, h0:h1]
            # Window offset of the first (row-major) entry equal to the median: scan offsets
            # from last to first, so the first one found overwrites the others.
            first = torch.empty(median.shape, dtype=index_dtype, device=x.device)
            for offset in reversed(range(k * k)):
                di, dj = divmod(offset, k)
                hit = xp[:, di : di + h1 - h0, dj : dj + w] == median
                first.masked_fill_(hit, offset)
            first = first.long()
            src_row = rows[torch.arange(h1 - h0, device=x.device)[:, None] + first // k]
            src_col = cols[torch.arange(w, device=x.device) + first % k]
            index = (src_row * w + src_col).reshape(p1 - p0, -1)
            grad_x[p0:p1].scatter_add_(1, index, grads[p0:p1, h0:h1].reshape(p1 - p0, -1))
        return grad_x.view(b, c, h, w), None, None


def median_smoothing(
    x: torch.Tensor,
    window_size: int = 5,
    gradient: str = "exact",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Replace every pixel by the median of the ``window_size x window_size`` window around it.

    Each channel is filtered on its own; borders are mirrored (scipy's ``mode="mirror"``,
    torch's ``"reflect"``). ART's ``SpatialSmoothing`` uses scipy's ``mode="reflect"``, which
    repeats the border pixel, so results differ from ART's along the borders only. Volumes are
    filtered in 3D: each voxel becomes the median of the ``window_size`` cube around it.

    Args:
        x: images (or volumes) in ``[0, 1]``.
        window_size: side of the square window (of the cube, for volumes); a positive odd
            integer (``1`` is the identity).
        gradient: ``"exact"`` (default): the subgradient, each output's gradient goes to the pixel
            its window selected; ``"identity"``: BPDA, the gradient passes through unchanged.
        chunk_size: at most this many output pixels are filtered at once, which bounds the
            extra memory to about ``(window_size^2 + 2 * window_size + 2) * chunk_size``
            elements (``window_size^3`` in place of ``window_size^2`` for volumes, which are
            split no finer than one depth slice).

    Returns:
        The filtered images, same shape, dtype and device as ``x``.

    Shape:
        - x: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)`
        - output: the shape of ``x``

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 1, 3, 3)
        >>> x[0, 0, 1, 1] = 1.0                      # a single bright pixel
        >>> median_smoothing(x, window_size=3).sum().item()
        0.0
        >>> y = torch.tensor([[[[0.0, 1.0, 0.25, 0.75]]]])    # one row; borders are mirrored
        >>> median_smoothing(y, window_size=3).flatten().tolist()
        [1.0, 0.25, 0.75, 0.25]
        >>> v = torch.zeros(1, 1, 3, 3, 3)
        >>> v[0, 0, :, 1, 1] = 1.0                   # a bright line through a volume
        >>> median_smoothing(v, window_size=3).sum().item()   # 3 of 27 voxels: below the median
        0.0
    """
    check_images(x, "x", volumes=True)
    return _median_smoothing(
        x,
        check_odd_int(window_size, "window_size"),
        check_choice(gradient, "gradient", GRADIENTS),
        check_positive_int(chunk_size, "chunk_size"),
    )


def _median_smoothing(
    x: torch.Tensor, window_size: int, gradient: str, chunk_size: int
) -> torch.Tensor:
    """:func:`median_smoothing` on checked input and settings."""
    forward = _median_forward_3d if x.ndim == 5 else _median_forward
    return by_gradient_mode(
        x,
        gradient,
        lambda v: forward(v, window_size, chunk_size),
        lambda v: _ExactMedian.apply(v, window_size, chunk_size),
    )


class MedianSmoothing(Defense):
    """Median smoothing defense (the study's "spatial smoothing"); see :func:`median_smoothing`.

    Args:
        window_size: side of the square window (the cube, for volumes), a positive odd integer
            (the study used 3 and 5).
        gradient: ``"exact"`` (default, subgradient) or ``"identity"`` (BPDA).
        chunk_size: output pixels filtered at once (bounds the extra memory).

    Shape:
        - input: :math:`(B, C, H, W)` or volumes :math:`(B, C, D, H, W)`, in ``[0, 1]``
        - output: the shape of the input, in ``[0, 1]``

    Example:
        >>> import torch
        >>> defense = MedianSmoothing(window_size=5)
        >>> x = torch.rand(2, 3, 96, 96)
        >>> defense(x).shape
        torch.Size([2, 3, 96, 96])
        >>> torch.equal(defense(torch.full((1, 3, 8, 8), 0.25)), torch.full((1, 3, 8, 8), 0.25))
        True
        >>> MedianSmoothing(3)(torch.rand(2, 1, 8, 28, 28)).shape   # volumes: a 3x3x3 window
        torch.Size([2, 1, 8, 28, 28])
    """

    gradient_modes = GRADIENTS
    takes_volumes = True
    window_size: int = setting(check_odd_int, default=5)
    gradient: str | None = GRADIENT
    chunk_size: int = setting(check_positive_int, default=DEFAULT_CHUNK_SIZE, shown=False)
    operation = staticmethod(_median_smoothing)


def __getattr__(name: str) -> type[MedianSmoothing]:
    if name == "SpatialSmoothing":
        return _spatial_smoothing(stacklevel=3)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _spatial_smoothing(stacklevel: int) -> type[MedianSmoothing]:
    """``SpatialSmoothing``, ART's name for :class:`MedianSmoothing`: a deprecated alias."""
    warnings.warn(
        "SpatialSmoothing is a deprecated alias of MedianSmoothing (ART's name for it); "
        "use hermes.defenses.MedianSmoothing",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return MedianSmoothing
