"""Certified accuracy and certified AUROC as functions of the L2 radius.

From :meth:`RandomizedSmoothing.certify`'s output (a class, ``-1`` for abstain, and a certified
radius per image):

- **certified accuracy** at ``r`` (Cohen et al. 2019): the fraction of images whose certified
  class is the true one *and* whose radius is at least ``r``. No L2 perturbation smaller than
  ``r`` can lower the smoothed classifier's accuracy below it (with probability ``1 - alpha`` per
  image).
- **certified AUROC** at ``r`` (binary tasks): a guaranteed lower bound on the AUROC of any score
  that agrees with the smoothed classifier's decision (positive above 1/2, negative below), under
  any L2 attack of size below ``r``. A (positive, negative) pair is surely ranked right when both
  images are certified correct at ``r`` (the positive scores above 1/2, the negative below); any
  other pair the attacker may rank wrong. So the bound is the fraction of surely-right pairs,
  ``TPR_cert(r) * TNR_cert(r)``: the certified accuracy of the positives times that of the
  negatives.

Example:
    >>> import torch
    >>> classes = torch.tensor([1, 1, 0, -1])
    >>> radius = torch.tensor([0.5, 0.1, 0.3, 0.0])
    >>> labels = torch.tensor([1, 0, 0, 1])
    >>> certified_accuracy(classes, radius, labels, [0.0, 0.2, 0.4]).tolist()
    [0.5, 0.5, 0.25]
    >>> certified_auroc(classes, radius, labels, [0.0, 0.2, 0.4]).tolist()
    [0.25, 0.25, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hermes._validation import check_number
from hermes.errors import RangeError, ShapeError

__all__ = ["certified_accuracy", "certified_auroc", "check_radii"]


def check_radii(radii: Any) -> list[float]:
    """The radii of a curve: a non-empty sequence of numbers ``>= 0``, returned sorted.

    Example:
        >>> check_radii([0.5, 0, 0.25])
        [0.0, 0.25, 0.5]
    """
    if isinstance(radii, (str, bytes)) or not isinstance(radii, Sequence) or not len(radii):
        raise ValueError(f"radii must be a non-empty sequence of numbers >= 0; got {radii!r}")
    values = [check_number(r, f"radii[{i}]", low=0.0) for i, r in enumerate(radii)]
    return sorted(set(values))


def _check_certificates(
    classes: Any, radius: Any, labels: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    for name, value in (("classes", classes), ("radius", radius), ("labels", labels)):
        if not isinstance(value, torch.Tensor) or value.ndim != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ShapeError(f"{name} must be a 1-D tensor (one entry per image); got {shape}")
    if not classes.shape == radius.shape == labels.shape:
        raise ShapeError(
            "classes, radius and labels must have one entry per image each; got shapes "
            f"{tuple(classes.shape)}, {tuple(radius.shape)} and {tuple(labels.shape)}"
        )
    if classes.numel() == 0:
        raise ValueError("classes must hold at least one image")
    if radius.is_floating_point() and not bool(torch.isfinite(radius).all()):
        raise RangeError("radius must be finite")
    if bool((radius < 0).any()):
        raise RangeError(f"radius must be >= 0; got {float(radius.min())}")
    return classes, radius.double(), labels.to(classes.device)


def _certified_correct(
    classes: torch.Tensor, radius: torch.Tensor, labels: torch.Tensor, radii: list[float]
) -> torch.Tensor:
    """``(R, N)`` bool: image ``n`` is certified correct at ``radii[r]``."""
    grid = torch.tensor(radii, dtype=torch.float64, device=radius.device)
    correct = (classes == labels) & (classes >= 0)
    return correct[None, :] & (radius[None, :] >= grid[:, None])


def certified_accuracy(
    classes: torch.Tensor, radius: torch.Tensor, labels: torch.Tensor, radii: Sequence[float]
) -> torch.Tensor:
    """The fraction of images certified correct at each radius.

    An image counts at ``r`` when its certified class equals its label (an abstention, ``-1``,
    never does) and its certified radius is ``>= r``.

    Args:
        classes: ``(N,)`` certified classes, ``-1`` for abstain.
        radius: ``(N,)`` certified L2 radii (``0`` where abstained).
        labels: ``(N,)`` true classes.
        radii: the radii to evaluate at, each ``>= 0`` (sorted, duplicates dropped).

    Returns:
        ``(R,)`` float64 certified accuracies, one per radius in ascending order.
    """
    classes, radius, labels = _check_certificates(classes, radius, labels)
    return _certified_correct(classes, radius, labels, check_radii(radii)).double().mean(dim=1)


def certified_auroc(
    classes: torch.Tensor, radius: torch.Tensor, labels: torch.Tensor, radii: Sequence[float]
) -> torch.Tensor:
    """A lower bound on the binary AUROC under any L2 attack below each radius.

    The fraction of (positive, negative) pairs in which both images are certified correct at
    ``r``: the certified accuracy of the positives times that of the negatives (see the module
    docstring for why every other pair may be ranked wrong).

    Args:
        classes: ``(N,)`` certified classes in ``{-1, 0, 1}``.
        radius: ``(N,)`` certified L2 radii.
        labels: ``(N,)`` labels in ``{0, 1}``, both present.
        radii: the radii to evaluate at.

    Returns:
        ``(R,)`` float64 bounds in ``[0, 1]``.

    Raises:
        RangeError: labels outside ``{0, 1}`` or a single class present.
    """
    classes, radius, labels = _check_certificates(classes, radius, labels)
    if bool(((labels != 0) & (labels != 1)).any()):
        raise RangeError(
            f"labels must be 0 or 1 for a binary AUROC; got {labels.unique().tolist()}"
        )
    positive = labels == 1
    if bool(positive.all()) or not bool(positive.any()):
        raise RangeError("labels must contain both classes for an AUROC")
    sure = _certified_correct(classes, radius, labels, check_radii(radii)).double()
    return sure[:, positive].mean(dim=1) * sure[:, ~positive].mean(dim=1)
