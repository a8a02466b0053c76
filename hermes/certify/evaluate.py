"""``evaluate_certified``: certified curves beside empirical ones, for one smoothed classifier.

For every image, :meth:`RandomizedSmoothing.certify` gives a class and a certified L2 radius.
Beside them, at each radius ``r`` of the curve, PGD-L2 with EOT over the smoothing noise attacks
the smoothed classifier with budget ``r`` (Salman et al. 2019's attack on the soft smoothed
classifier, via hermes' :func:`~hermes.attacks.functional.pgd`), and the smoothed classifier's
majority vote on the attacked image is scored. An attack of a smaller radius lies inside every
larger ball, so an image broken at some radius counts as broken at every larger one, and the
empirical AUROC at ``r`` is the lowest reached at any radius ``<= r``. The certified curve is a
guarantee and the empirical one an upper estimate, so the certified curve must lie below the empirical one; an
image certified at radius ``R`` that the attack breaks at a budget ``r < R`` refutes the
certificate (or reveals a bug), and is reported as a failed sanity check.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hermes.certify import RandomizedSmoothing
    >>> torch.manual_seed(0) and None
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    >>> x, y = torch.rand(8, 3, 2, 2), torch.arange(8) % 2
    >>> report = evaluate_certified(RandomizedSmoothing(model, 0.25), (x, y), radii=[0.0, 0.1],
    ...                             n0=10, n=100, attack_steps=2, eot_samples=2, vote_draws=20,
    ...                             progress=False)
    >>> report.radii, len(report.certified_accuracy), len(report.empirical_accuracy)
    ([0.0, 0.1], 2, 2)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from hermes._data_args import as_tensor_pair, check_batch
from hermes._modes import eval_mode
from hermes._random import derive_seed, make_generator, seeded
from hermes._validation import check_positive_int
from hermes.attacks.functional import pgd
from hermes.certify.curves import certified_accuracy, certified_auroc, check_radii
from hermes.certify.noise import GaussianNoise
from hermes.certify.report import CertificationReport
from hermes.certify.smoothing import RandomizedSmoothing, _sample_counts

__all__ = ["evaluate_certified"]


def evaluate_certified(
    smoothed: RandomizedSmoothing,
    data: Any,
    *,
    radii: Sequence[float] = (0.0, 0.125, 0.25, 0.5, 0.75, 1.0),
    n0: int = 100,
    n: int = 1000,
    alpha: float = 0.001,
    attack_steps: int | None = 20,
    eot_samples: int = 8,
    vote_draws: int = 100,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> CertificationReport:
    """Certified accuracy (and certified AUROC, binary) against the radius, with the
    empirical accuracy and AUROC of the smoothed classifier under PGD-L2 + EOT at each radius.

    Args:
        smoothed: the smoothed classifier (its ``sigma`` and base model are used).
        data: ``(images, labels)`` tensors, a ``Dataset`` or a ``DataLoader`` of
            ``(image in [0, 1], int label)``; read whole (certification is costly per image,
            so this is meant for hundreds to a few thousand images).
        radii: L2 radii (pixel units) of the curves, ``>= 0``.
        n0, n, alpha: :meth:`RandomizedSmoothing.certify`'s settings.
        attack_steps: PGD-L2 steps of the empirical curve; ``None`` skips it (certified only).
        eot_samples: noise draws per attack gradient (EOT over the smoothing noise).
        vote_draws: noise draws of the majority vote that scores an attacked image (and gives
            its binary score: the fraction of draws voting class 1).
        batch_size: images per certification and attack batch.
        seed: every noise draw is seeded from it and the batch, so a call repeats exactly.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`~hermes.certify.CertificationReport`.

    Raises:
        TypeError, ValueError: a bad argument (the message names it).
    """
    if not isinstance(smoothed, RandomizedSmoothing):
        raise TypeError(
            f"smoothed must be a hermes.certify.RandomizedSmoothing; got {type(smoothed).__name__}"
        )
    radii = check_radii(radii)
    if attack_steps is not None:
        attack_steps = check_positive_int(attack_steps, "attack_steps")
    eot_samples = check_positive_int(eot_samples, "eot_samples")
    vote_draws = check_positive_int(vote_draws, "vote_draws")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_positive_int(seed, "seed", minimum=0)
    images, labels = _collect(data, batch_size)
    device = next((p.device for p in smoothed.model.parameters()), images.device)

    classes, radius, votes, scores = [], [], [], []
    batches = range(0, images.shape[0], batch_size)
    bar = tqdm(total=len(batches), desc="evaluate_certified", disable=not progress)
    with bar, eval_mode(smoothed.model):
        for index, start in enumerate(batches):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            with seeded(smoothed, derive_seed(seed, "certify", index)):
                c, r = smoothed.certify(x, n0=n0, n=n, alpha=alpha)
            classes.append(c.cpu())
            radius.append(r.cpu())
            if attack_steps is not None:
                v, s = _empirical(
                    smoothed,
                    x,
                    y,
                    radii,
                    attack_steps,
                    eot_samples,
                    vote_draws,
                    derive_seed(seed, "attack", index),
                )
                votes.append(v)
                scores.append(s)
            bar.update(1)
    classes_t, radius_t = torch.cat(classes), torch.cat(radius)
    return _report(
        smoothed, classes_t, radius_t, labels, radii, votes, scores,
        {"n0": n0, "n": n, "alpha": alpha, "attack_steps": attack_steps,
         "eot_samples": eot_samples, "vote_draws": vote_draws, "seed": seed},
    )  # fmt: skip


def _collect(data: Any, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole of ``data`` as a checked ``(images, labels)`` pair on the CPU."""
    pair = as_tensor_pair(data, "data")
    if pair is not None:
        return pair
    if isinstance(data, Dataset) and not isinstance(data, DataLoader):
        data = DataLoader(data, batch_size=batch_size, shuffle=False)
    if not isinstance(data, DataLoader):
        raise TypeError(
            "data must be a (images, labels) pair of tensors, a torch Dataset or a DataLoader; "
            f"got {type(data).__name__}"
        )
    batches = [check_batch(batch, "data") for batch in data]
    if not batches:
        raise ValueError("data must hold at least one image")
    return torch.cat([b[0].cpu() for b in batches]), torch.cat([b[1].cpu() for b in batches])


def _empirical(
    smoothed: RandomizedSmoothing,
    x: torch.Tensor,
    y: torch.Tensor,
    radii: list[float],
    steps: int,
    eot_samples: int,
    vote_draws: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Majority-vote class ``(R, B)`` and class-1 vote share ``(R, B)`` of the smoothed
    classifier on images attacked with PGD-L2 + EOT at each radius (``x`` itself at ``0``)."""
    noisy = nn.Sequential(GaussianNoise(smoothed.sigma), smoothed.model)
    votes, shares = [], []
    for r_index, r in enumerate(radii):
        if r > 0:
            attacked = pgd(noisy, x, y, r, steps=steps, norm="l2", eot_samples=eot_samples,
                           generator=derive_seed(seed, "pgd", r_index))  # fmt: skip
        else:
            attacked = x
        generator = make_generator(derive_seed(seed, "vote", r_index))
        with torch.no_grad():
            counts = _sample_counts(
                smoothed.model, attacked, smoothed.sigma, vote_draws, smoothed.batch_size, generator
            )
        votes.append(counts.argmax(dim=1).cpu())
        share = counts[:, 1] if counts.shape[1] > 1 else torch.zeros_like(counts[:, 0])
        shares.append((share.double() / vote_draws).cpu())
    return torch.stack(votes), torch.stack(shares)


def _report(
    smoothed: RandomizedSmoothing,
    classes: torch.Tensor,
    radius: torch.Tensor,
    labels: torch.Tensor,
    radii: list[float],
    votes: list[torch.Tensor],
    scores: list[torch.Tensor],
    settings: dict[str, Any],
) -> CertificationReport:
    binary = bool(((labels == 0) | (labels == 1)).all()) and labels.unique().numel() == 2
    curves: dict[str, list[float] | None] = {
        "certified_accuracy": certified_accuracy(classes, radius, labels, radii).tolist(),
        "certified_auroc": certified_auroc(classes, radius, labels, radii).tolist()
        if binary
        else None,
        "empirical_accuracy": None,
        "empirical_auroc": None,
    }
    diagnostics = _one_class_check(classes, labels)
    if votes:
        vote, score = torch.cat(votes, dim=1), torch.cat(scores, dim=1)
        # An attack of a smaller radius is inside every larger ball too: an image counts as
        # broken at r when any attack of radius <= r broke it, and the AUROC at r is the lowest
        # reached at any radius <= r, so the empirical curve never rises.
        correct = (vote == labels[None]).cummin(dim=0).values
        curves["empirical_accuracy"] = correct.double().mean(dim=1).tolist()
        if binary:
            aurocs = [float(roc_auc_score(labels.numpy(), s.numpy())) for s in score]
            curves["empirical_auroc"] = list(itertools.accumulate(aurocs, min))
        certified_right = (classes == labels) & (classes >= 0)
        for r_index, r in enumerate(radii):
            broken = certified_right & (radius > r) & ~correct[r_index]
            if bool(broken.any()):
                diagnostics.append(
                    f"certificate refuted: {int(broken.sum())} image(s) certified beyond radius "
                    f"{r:g} are misclassified by the smoothed classifier under a PGD-L2 attack of "
                    "that size (a Monte Carlo miss of the vote or of the certificate, or a bug)"
                )
    return CertificationReport(
        radii=radii,
        classes=classes,
        radius=radius,
        labels=labels,
        metadata={"sigma": smoothed.sigma, **settings},
        diagnostics=diagnostics,
        **curves,
    )


def _one_class_check(classes: torch.Tensor, labels: torch.Tensor) -> list[str]:
    """A diagnostic when the smoothed classifier gives one class to every image it does not
    abstain on while the labels hold several: its certified accuracy is then the class prior.

    The usual cause is a base model that was never accurate under the smoothing noise, e.g.
    BatchNorm running statistics that had too few updates to match noisy inputs: the base
    model's AUROC can be high while every hard vote goes to one class.
    """
    predicted = classes[classes >= 0].unique()
    if labels.unique().numel() < 2 or predicted.numel() != 1:
        return []
    return [
        f"the smoothed classifier predicts class {int(predicted)} for every image it does not "
        "abstain on, so its certified accuracy is the class prior; check the base model's "
        "accuracy under noise of this sigma (too few BatchNorm updates in noise training, or "
        "too large a sigma)"
    ]
