"""The per-epoch record that :func:`hermes.models.fine_tune` returns.

Example:
    >>> history = History("lp", [EpochRecord("lp", 1, 0.69, 0.68, 0.71, 1e-3)], best_index=0)
    >>> history.best.val_auroc, history.val_auroc, history.robust_val_auroc
    (0.71, [0.71], [None])
    >>> robust = EpochRecord("ft", 1, 0.9, 0.7, 0.8, 1e-3, robust_val_auroc=0.6, train_eps=0.03)
    >>> History("ft", [robust], best_index=0, keep="robust").robust_val_auroc
    [0.6]
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EpochRecord", "History"]


@dataclass(frozen=True)
class EpochRecord:
    """What one training epoch did.

    Attributes:
        phase: ``"lp"`` (head only) or ``"ft"`` (whole network).
        epoch: the epoch's number within its phase, from 1.
        train_loss: mean training loss over the epoch's samples.
        val_loss: mean validation loss after the epoch.
        val_auroc: validation AUROC after the epoch (clean images).
        lr: the learning rate used during the epoch.
        robust_val_auroc: validation AUROC under the PGD attack of robust training
            (:class:`~hermes.models.AdversarialTraining`'s ``val_eps``, ``val_steps``) after the
            epoch; ``None`` when training was not adversarial.
        train_eps: the eps the epoch's training examples were crafted with (below the final eps
            during warm-up); ``None`` when training was not adversarial.
    """

    phase: str
    epoch: int
    train_loss: float
    val_loss: float
    val_auroc: float
    lr: float
    robust_val_auroc: float | None = None
    train_eps: float | None = None


@dataclass
class History:
    """Per-epoch record of a :func:`fine_tune` run.

    Attributes:
        protocol: ``"lp-ft"``, ``"ft"`` or ``"lp"``.
        epochs: one :class:`EpochRecord` per epoch run, in order.
        best_index: index in ``epochs`` of the epoch whose weights were kept.
        stopped_early: the phases that early stopping cut short.
        keep: which validation AUROC chose the best epoch (and drove early stopping and the
            scheduler): ``"clean"`` or ``"robust"``.
    """

    protocol: str
    epochs: list[EpochRecord] = field(default_factory=list)
    best_index: int | None = None
    stopped_early: list[str] = field(default_factory=list)
    keep: str = "clean"

    @property
    def best(self) -> EpochRecord | None:
        """The epoch whose weights the returned model has."""
        return None if self.best_index is None else self.epochs[self.best_index]

    @property
    def val_auroc(self) -> list[float]:
        """Validation AUROC per epoch."""
        return [r.val_auroc for r in self.epochs]

    @property
    def robust_val_auroc(self) -> list[float | None]:
        """Robust validation AUROC per epoch (``None`` where it was not measured)."""
        return [r.robust_val_auroc for r in self.epochs]

    @property
    def train_loss(self) -> list[float]:
        """Mean training loss per epoch."""
        return [r.train_loss for r in self.epochs]
