"""The per-epoch record that :func:`hermes.models.fine_tune` returns.

Example:
    >>> history = History("lp", [EpochRecord("lp", 1, 0.69, 0.68, 0.71, 1e-3)], best_index=0)
    >>> history.best.val_auroc, history.val_auroc
    (0.71, [0.71])
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
        val_auroc: validation AUROC after the epoch.
        lr: the learning rate used during the epoch.
    """

    phase: str
    epoch: int
    train_loss: float
    val_loss: float
    val_auroc: float
    lr: float


@dataclass
class History:
    """Per-epoch record of a :func:`fine_tune` run.

    Attributes:
        protocol: ``"lp-ft"``, ``"ft"`` or ``"lp"``.
        epochs: one :class:`EpochRecord` per epoch run, in order.
        best_index: index in ``epochs`` of the epoch whose weights were kept.
        stopped_early: the phases that early stopping cut short.
    """

    protocol: str
    epochs: list[EpochRecord] = field(default_factory=list)
    best_index: int | None = None
    stopped_early: list[str] = field(default_factory=list)

    @property
    def best(self) -> EpochRecord | None:
        """The epoch whose weights the returned model has."""
        return None if self.best_index is None else self.epochs[self.best_index]

    @property
    def val_auroc(self) -> list[float]:
        """Validation AUROC per epoch."""
        return [r.val_auroc for r in self.epochs]

    @property
    def train_loss(self) -> list[float]:
        """Mean training loss per epoch."""
        return [r.train_loss for r in self.epochs]
