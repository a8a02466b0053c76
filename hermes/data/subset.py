"""Seeded, stratified subsets of a labelled dataset."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hermes._random import (
    GeneratorLike,
    check_generator,
    check_seed,
    deprecated_generator_seed,
    make_generator,
)
from hermes._validation import check_positive_int
from hermes.errors import RangeError

__all__ = ["stratified_indices"]


def stratified_indices(
    labels: Any, n: int, seed: int | None = 0, *, generator: GeneratorLike = None
) -> np.ndarray:
    """Pick ``n`` positions at random so that each class keeps its share of ``labels``.

    Class ``c`` with ``n_c`` of the ``N`` labels gets ``floor(n * n_c / N)`` picks; the few picks
    left over go to the classes with the largest remainders (ties to the smaller class value).
    Within a class the picks are uniform without replacement, drawn from a generator seeded by
    ``seed``, or from ``generator`` when one is given (the global RNG is never used).

    Args:
        labels: ``(N,)`` integer class labels (numpy array, tensor or sequence).
        n: how many positions to pick, ``0 <= n <= N``.
        seed: an int seed (``None``: not reproducible). A ``torch.Generator`` here is
            deprecated (it still works, with a ``DeprecationWarning``): pass it as ``generator``.
        generator: draw from this instead of from ``seed``: a ``torch.Generator`` (its state
            advances, so successive calls pick different subsets) or an int seed.

    Returns:
        ``(n,)`` int64 array of positions into ``labels``, sorted ascending (so that reading
        them from a file visits it in order).

    Example:
        >>> labels = [0] * 6 + [1] * 4
        >>> picked = stratified_indices(labels, 5, seed=0)
        >>> [labels[i] for i in picked].count(1)
        2
        >>> g = torch.Generator().manual_seed(0)
        >>> first, second = (stratified_indices(labels, 5, generator=g) for _ in range(2))
        >>> first.tolist() == picked.tolist(), first.tolist() == second.tolist()
        (True, False)
    """
    values = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if values.ndim != 1 or not (values.size == 0 or values.dtype.kind in "iub"):
        raise TypeError(
            f"labels must be a 1-D sequence of integer class labels; got an array of shape "
            f"{values.shape} and dtype {values.dtype}"
        )
    n = check_positive_int(n, "n", minimum=0)
    if n > values.size:
        raise RangeError(f"n must be at most the number of labels ({values.size}); got {n}")
    legacy = deprecated_generator_seed(seed, "stratified_indices", "pass it as generator=")
    if legacy is not None and generator is not None:
        raise ValueError("pass the generator as generator= only, not as seed= too")
    if legacy is not None or generator is not None:
        generator = make_generator(check_generator(legacy if generator is None else generator))
    else:
        generator = make_generator(check_seed(seed, optional=True))
    classes, counts = np.unique(values, return_counts=True)
    # Integer arithmetic: remainders that are equal must compare equal (in floats 12/9 - 1 is
    # below 3/9), so that ties go to the smaller class value as documented.
    total = max(values.size, 1)
    quotas, remainders = np.divmod(n * counts.astype(np.int64), total)
    leftover = n - int(quotas.sum())
    by_remainder = np.argsort(-remainders, kind="stable")
    quotas[by_remainder[:leftover]] += 1
    picked = []
    for value, quota in zip(classes, quotas):
        members = np.flatnonzero(values == value)
        order = torch.randperm(members.size, generator=generator).numpy()
        picked.append(members[order[:quota]])
    return np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.int64)
