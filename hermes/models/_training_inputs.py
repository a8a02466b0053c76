"""Turning :func:`hermes.models.fine_tune`'s arguments into what its loop uses, checked.

Data into loaders of checked ``(images, labels)`` batches, the head to probe, the augmentation, the
device, and the numeric settings; each bad argument raises an error naming it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, TensorDataset

from hermes._data_args import as_tensor_pair, check_batch
from hermes._validation import (
    check_choice,
    check_number,
    check_positive_int,
)
from hermes.errors import RangeError
from hermes.models.adversarial_training import AdversarialTraining
from hermes.models.augmentation import Augmentation

__all__ = [
    "KEEP",
    "PROTOCOLS",
    "RankBatches",
    "TrainingConfig",
    "checked_batches",
    "find_head",
    "make_augmentation",
    "make_loader",
    "make_rank_loader",
    "resolve_device",
]

PROTOCOLS: tuple[str, ...] = ("lp-ft", "ft", "lp")
KEEP: tuple[str, ...] = ("clean", "robust")


def checked_batches(loader: Iterable[Any], name: str, device: torch.device) -> Iterator[Any]:
    """Yield ``(images, labels)`` on ``device``, checked."""
    for batch in loader:
        x, y = check_batch(batch, name)
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def make_loader(
    data: Any,
    name: str,
    config: TrainingConfig,
    generator: torch.Generator | None,
    shuffle: bool,
) -> Iterable[Any]:
    if isinstance(data, DataLoader):
        return data
    return DataLoader(
        _as_dataset(data, name),
        batch_size=config.batch_size,
        shuffle=shuffle,
        generator=generator if shuffle else None,
        num_workers=config.num_workers,
    )


class RankBatches(Sampler[list[int]]):
    """This rank's share of every global batch a single process would draw.

    The global batches are those of ``DataLoader(dataset, batch_size, shuffle=..., generator=g)``
    in one process: the same ``BatchSampler(RandomSampler(dataset, generator=g), batch_size)``
    drawn from a generator with the same seed (give the ``DataLoader`` that generator too: it
    draws its workers' base seed from it, as the single-process loader does). Each global batch
    of ``L`` indices is split into ``world`` contiguous slices, rank ``r`` taking
    ``[L * r // world, L * (r + 1) // world)``: equal slices for full batches (``batch_size``
    divisible by ``world``), sizes differing by at most one for the last, partial batch.

    The order is a stream, as in one process: pass ``e`` (from 0) is the ``e``-th draw of the
    generator, identical on every rank as long as every rank runs every pass.
    :meth:`set_epoch` checks that the ranks are in step.

    Args:
        sampler: the global order (a ``RandomSampler`` or ``SequentialSampler``).
        batch_size: the global batch size.
        rank: this process's rank.
        world: the number of processes.

    Example:
        >>> from torch.utils.data import SequentialSampler
        >>> [list(b) for b in RankBatches(SequentialSampler(range(10)), 4, rank=1, world=2)]
        [[2, 3], [6, 7], [9]]
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, *, rank: int, world: int) -> None:
        self.batches = BatchSampler(sampler, batch_size, drop_last=False)
        self.rank = rank
        self.world = world
        self.passes = 0

    def set_epoch(self, epoch: int) -> None:
        """Check that this is pass ``epoch`` (from 0) over the data, as on every other rank."""
        if epoch != self.passes:
            raise RuntimeError(
                f"the training order is a stream shared by all ranks: pass {self.passes} comes "
                f"next, not pass {epoch}"
            )

    def __iter__(self) -> Iterator[list[int]]:
        self.passes += 1
        for batch in self.batches:
            size = len(batch)
            yield batch[size * self.rank // self.world : size * (self.rank + 1) // self.world]

    def __len__(self) -> int:
        return len(self.batches)


def make_rank_loader(
    data: Any,
    name: str,
    config: TrainingConfig,
    generator: torch.Generator | None,
    *,
    rank: int,
    world: int,
) -> Iterable[Any]:
    """The training loader of one rank of ``world``: its share of each global batch of
    ``config.batch_size`` (:class:`RankBatches`), shuffled by ``generator`` exactly as
    :func:`make_loader` shuffles in one process. A ``DataLoader`` is used as given.

    Raises:
        ValueError: ``batch_size`` is not divisible by ``world``, or the last, partial batch
            has fewer samples than there are ranks (a rank would get none).
    """
    if isinstance(data, DataLoader):
        return data
    batch_size = config.batch_size
    if batch_size % world:
        raise ValueError(
            f"batch_size must be divisible by the number of processes ({world}): it is the "
            f"global batch, split evenly across the ranks; got batch_size={batch_size}"
        )
    dataset = _as_dataset(data, name)
    n = len(dataset)  # type: ignore[arg-type]
    last = n % batch_size
    if 0 < last < world:
        raise ValueError(
            f"batch_size must leave a last batch of at least one sample per process: {name} "
            f"has {n} samples, so batch_size={batch_size} leaves a last batch of {last}, fewer "
            f"than the {world} processes; choose another batch_size"
        )
    order = torch.utils.data.RandomSampler(dataset, generator=generator)
    return DataLoader(
        dataset,
        batch_sampler=RankBatches(order, batch_size, rank=rank, world=world),
        generator=generator,
        num_workers=config.num_workers,
    )


def _as_dataset(data: Any, name: str) -> Dataset:
    pair = as_tensor_pair(data, name)
    if pair is not None:
        data = TensorDataset(*pair)
    if not isinstance(data, Dataset):
        raise TypeError(
            f"{name} must be a torch Dataset, a DataLoader or a pair (images, labels) of tensors; "
            f"got {type(data).__name__}"
        )
    return data


def find_head(model: nn.Module, head: Any, needed: bool) -> nn.Module | None:
    if head is None:
        found = getattr(model, "fc", None)
        if isinstance(found, nn.Module):
            return found
        if needed:
            raise ValueError(
                f"head must name the module linear probing trains: {type(model).__name__} has no "
                "'fc' module, so pass head='<submodule name>' or head=<module>"
            )
        return None
    if isinstance(head, str):
        try:
            found = model.get_submodule(head)
        except AttributeError as error:
            raise ValueError(f"head {head!r} is not a submodule of the model") from error
    elif isinstance(head, nn.Module):
        if not any(m is head for m in model.modules()):
            raise ValueError("head must be a submodule of model; got a module outside it")
        found = head
    else:
        raise TypeError(
            f"head must be a submodule name, a module or None; got {type(head).__name__}"
        )
    if found is model:
        raise ValueError("head must be a part of model, not the whole model")
    if not any(p.requires_grad for p in found.parameters()):
        raise ValueError(f"head {head!r} has no trainable parameters")
    return found


def make_augmentation(augment: Any, seed: int | None) -> Augmentation | None:
    if augment is True:
        return Augmentation(seed=seed)
    if augment is False or augment is None:
        return None
    if isinstance(augment, Augmentation):
        return augment if seed is None else copy.deepcopy(augment).manual_seed(seed)
    raise TypeError(f"augment must be True, False or an Augmentation; got {type(augment).__name__}")


def resolve_device(model: nn.Module, device: Any) -> torch.device:
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"device must name a torch device; got {device!r}") from error
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """:func:`~hermes.models.fine_tune`'s settings, checked when built (each bad value raises an
    error naming it) and held as typed attributes.

    Example:
        >>> config = TrainingConfig(
        ...     protocol="lp", lp_epochs=3, ft_epochs=0, lr_lp=1e-3, lr_ft=1e-3, weight_decay=0,
        ...     batch_size=64, seed=0, patience=None, lr_factor=0.5, lr_patience=2,
        ...     num_workers=0, amp=None, progress=False,
        ... )
        >>> config.weight_decay, config.phases
        (0.0, (('lp', 3, 0.001),))
        >>> TrainingConfig(**{**vars(config), "protocol": "ft"})
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: ft_epochs must be an integer >= 1; got 0
        >>> TrainingConfig(**{**vars(config), "keep": "robust"})
        Traceback (most recent call last):
        ...
        ValueError: keep='robust' needs adversarial=AdversarialTraining(...) (the robust validation AUROC comes from it); got adversarial=None

    The robust-training settings (``adversarial``, ``noise_sigma``, ``keep``) default to plain
    training, so constructions that predate them still work.
    """

    protocol: str
    lp_epochs: int
    ft_epochs: int
    lr_lp: float
    lr_ft: float
    weight_decay: float
    batch_size: int
    seed: int | None
    patience: int | None
    lr_factor: float
    lr_patience: int
    num_workers: int
    amp: bool | None
    progress: bool
    adversarial: AdversarialTraining | None = None
    noise_sigma: float | None = None
    keep: str = "clean"

    def __post_init__(self) -> None:
        protocol = check_choice(self.protocol, "protocol", PROTOCOLS)
        lp_min = 1 if protocol in ("lp", "lp-ft") else 0
        ft_min = 1 if protocol in ("ft", "lp-ft") else 0
        checked = {
            "lp_epochs": check_positive_int(self.lp_epochs, "lp_epochs", minimum=lp_min),
            "ft_epochs": check_positive_int(self.ft_epochs, "ft_epochs", minimum=ft_min),
            "lr_lp": check_number(self.lr_lp, "lr_lp", low=0, low_inclusive=False),
            "lr_ft": check_number(self.lr_ft, "lr_ft", low=0, low_inclusive=False),
            "seed": _check_optional_seed(self.seed),
            "patience": None
            if self.patience is None
            else check_positive_int(self.patience, "patience"),
            "amp": None if self.amp is None else _check_switch(self.amp, "amp"),
            "progress": _check_switch(self.progress, "progress"),
            "weight_decay": check_number(self.weight_decay, "weight_decay", low=0),
            "batch_size": check_positive_int(self.batch_size, "batch_size"),
            "lr_factor": check_number(
                self.lr_factor,
                "lr_factor",
                low=0,
                high=1,
                low_inclusive=False,
                high_inclusive=False,
            ),
            "lr_patience": check_positive_int(self.lr_patience, "lr_patience", minimum=0),
            "num_workers": check_positive_int(self.num_workers, "num_workers", minimum=0),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        self._check_robust_training()

    def _check_robust_training(self) -> None:
        adversarial = self.adversarial
        if adversarial is not None and not isinstance(adversarial, AdversarialTraining):
            raise TypeError(
                "adversarial must be an hermes.models.AdversarialTraining or None; "
                f"got {type(adversarial).__name__}"
            )
        if self.noise_sigma is not None:
            sigma = check_number(
                self.noise_sigma,
                "noise_sigma",
                low=0.0,
                high=math.inf,
                low_inclusive=False,
                high_inclusive=False,
            )
            object.__setattr__(self, "noise_sigma", sigma)
            if adversarial is not None:
                raise ValueError(
                    "noise_sigma and adversarial cannot be combined: train with Gaussian noise "
                    f"or adversarially; got noise_sigma={sigma!r} and adversarial={adversarial!r}"
                )
        keep = check_choice(self.keep, "keep", KEEP)
        if keep == "robust" and adversarial is None:
            raise ValueError(
                "keep='robust' needs adversarial=AdversarialTraining(...) (the robust validation "
                "AUROC comes from it); got adversarial=None"
            )
        total = sum(epochs for _, epochs, _ in self.phases)
        if adversarial is not None and adversarial.warmup_epochs > total:
            raise RangeError(
                f"warmup_epochs (the eps schedule of adversarial) must be <= the {total} training "
                f"epoch(s) of protocol {self.protocol!r}; got {adversarial.warmup_epochs}"
            )

    @property
    def phases(self) -> tuple[tuple[str, int, float], ...]:
        """``(phase, epochs, learning rate)`` of each phase the protocol runs, in order."""
        phases = (("lp", self.lp_epochs, self.lr_lp), ("ft", self.ft_epochs, self.lr_ft))
        if self.protocol == "lp-ft":
            return phases
        return tuple(p for p in phases if p[0] == self.protocol)


def _check_optional_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None; got {seed!r}")
    return seed


def _check_switch(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value
