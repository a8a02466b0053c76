"""Fine-tuning a pretrained classifier: linear probing, full fine-tuning, or LP-FT.

LP-FT (Kumar et al. 2022) first trains only the new head on the frozen pretrained features
(linear probing, LP), then the whole network starting from that head (fine-tuning, FT); starting
FT from a trained head distorts the pretrained features less than starting from a random one.

The defaults are the HERMES study's settings: 10 LP epochs then 10 FT epochs, AdamW with learning
rate 1e-3 and weight decay 0.05, ``ReduceLROnPlateau`` (factor 0.1, patience 5), batch size 512,
early stopping after 5 epochs without a better validation AUROC, seed 42, augmentation on.

Example:
    >>> import torch
    >>> from hermes.models import resnet18
    >>> x = torch.rand(16, 3, 32, 32)
    >>> y = (x[:, 0].mean(dim=(1, 2)) > 0.5).long()
    >>> model = resnet18(num_outputs=1, weights=None, seed=0)
    >>> model, history = fine_tune(model, (x, y), (x, y), protocol="lp", lp_epochs=2,
    ...                            batch_size=8, augment=False, progress=False)
    >>> [(r.phase, r.epoch) for r in history.epochs]
    [('lp', 1), ('lp', 2)]
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from hermes import _distributed as dist
from hermes._losses import classification_loss
from hermes._random import derive_seed, make_generator, seeded_global_rng
from hermes.evaluation.task_metrics import auroc_per_class
from hermes.models._adversarial_steps import (
    add_gaussian_noise,
    adversarial_loss,
    craft_examples,
    robust_validation_examples,
)
from hermes.models._training_inputs import (
    TrainingConfig,
    checked_batches,
    find_head,
    make_augmentation,
    make_loader,
    make_rank_loader,
    resolve_device,
)
from hermes.models.adversarial_training import AdversarialTraining
from hermes.models.augmentation import Augmentation
from hermes.models.history import EpochRecord, History
from hermes.models.scores import positive_class_scores
from hermes.tasks import task_scores

__all__ = ["EpochRecord", "History", "fine_tune"]

Protocol = Literal["lp-ft", "ft", "lp"]
DataArg = Dataset | DataLoader | tuple[torch.Tensor, torch.Tensor]


def fine_tune(
    model: nn.Module,
    train_data: DataArg,
    val_data: DataArg,
    *,
    protocol: Protocol = "lp-ft",
    lp_epochs: int = 10,
    ft_epochs: int = 10,
    lr_lp: float = 1e-3,
    lr_ft: float = 1e-3,
    weight_decay: float = 0.05,
    batch_size: int = 512,
    augment: bool | Augmentation = True,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    seed: int | None = 42,
    patience: int | None = 5,
    lr_factor: float = 0.1,
    lr_patience: int = 5,
    head: str | nn.Module | None = None,
    num_workers: int = 0,
    progress: bool = True,
    adversarial: AdversarialTraining | None = None,
    noise_sigma: float | None = None,
    keep: str = "clean",
) -> tuple[nn.Module, History]:
    """Train a classifier by linear probing, full fine-tuning, or LP then FT.

    Each phase has its own AdamW optimizer and ``ReduceLROnPlateau`` scheduler (stepped on the
    validation AUROC) and stops early after ``patience`` epochs without a better validation
    AUROC. The weights of the best epoch so far are restored at the end of each phase (so FT
    starts from the best probe) and at the end (so the returned model is the best one seen).

    During LP only the head's parameters train; every other module is in eval mode, so the
    frozen backbone's BatchNorm layers use and keep their running statistics, and its weights
    are left bit-identical.

    The loss and the validation AUROC follow the task (see ``docs/tasks.md``), read from the
    labels and the model's output:

    - binary (one logit, or two, with ``(N,)`` labels 0/1): BCE-with-logits on one logit,
      cross-entropy on two; AUROC of the positive-class probability
      (:func:`~hermes.models.positive_class_scores`).
    - multi-class (``K > 2`` logits, ``(N,)`` class indices ``0..K-1``): cross-entropy; macro
      one-vs-rest AUROC of the softmax probabilities
      (:func:`~hermes.evaluation.task_metrics.auroc_per_class`, as
      ``roc_auc_score(multi_class="ovr")``).
    - multi-label (``K`` logits, ``(N, K)`` float targets of 0/1): BCE-with-logits on each logit,
      summed over the labels; macro AUROC over the labels of the per-label sigmoid.

    A class (or label) whose validation samples are all positive or all negative has no AUROC:
    as in :func:`~hermes.evaluation.task_metrics.auroc_per_class`, the recorded ``val_auroc`` is
    then NaN (with a ``RuntimeWarning`` naming the class), and the kept weights, early stopping
    and the scheduler use the mean AUROC of the classes that have one. Validation data in which
    no class has an AUROC (binary or multi-class: a single class present) is an error.

    Args:
        model: the classifier, mapping ``(B, C, H, W)`` images in ``[0, 1]`` to logits. Moved to
            ``device`` and trained in place.
        train_data: a ``Dataset`` of ``(image (C, H, W) float in [0, 1], label)``, a
            ``DataLoader`` of ``(images, labels)`` batches (used as given), or a pair of tensors
            ``(images (N, C, H, W), labels)``. A label is an int class index (labels ``(N,)``)
            or, for a multi-label model, a float ``(K,)`` vector of 0/1 (labels ``(N, K)``).
        val_data: validation data, same forms and the same kind of labels; must contain at
            least two classes (binary, multi-class) or both values of one label (multi-label).
        protocol: ``"lp-ft"``, ``"lp"`` (head only) or ``"ft"`` (everything from the start).
        lp_epochs: maximum LP epochs (used by ``"lp"`` and ``"lp-ft"``).
        ft_epochs: maximum FT epochs (used by ``"ft"`` and ``"lp-ft"``).
        lr_lp: AdamW learning rate for LP.
        lr_ft: AdamW learning rate for FT.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: batch size when hermes builds the loaders.
        augment: ``True`` for the study's :class:`~hermes.models.Augmentation` suite, ``False``
            for none, or an ``Augmentation`` to use (copied and reseeded from ``seed`` when a seed
            is given). Applied to training batches on ``device``.
        device: where to train; ``None`` keeps the model's current device.
        amp: mixed precision (float16 with gradient scaling on CUDA, bfloat16 on CPU); ``None``
            turns it on for CUDA only.
        seed: makes the run reproducible (shuffling, augmentation, any use of torch's global RNG,
            which is forked and restored after); on CPU the same seed gives bit-identical weights.
            ``None`` leaves randomness to the global RNG.
        patience: epochs without a better validation AUROC before a phase stops; ``None`` never
            stops early.
        lr_factor: the scheduler's learning-rate multiplier.
        lr_patience: the scheduler's patience (epochs without improvement before it cuts the
            learning rate).
        head: the module trained during LP: a submodule or its name; ``None`` means
            ``model.fc`` (the :func:`~hermes.models.resnet18` head).
        num_workers: loader worker processes when hermes builds the loaders.
        progress: show tqdm progress bars (loss and AUROC).
        adversarial: robust training (:class:`~hermes.models.AdversarialTraining`: PGD-AT,
            TRADES or fast AT). Every training batch (after augmentation) is attacked with the
            model in eval mode and the model trains on the protocol's loss; after every epoch the
            validation set is also attacked with PGD and its AUROC recorded as
            ``robust_val_auroc``. Random starts draw from a generator seeded from ``seed``. The
            attacks raise the task's loss (for multi-label targets, the BCE summed over the
            labels); TRADES' KL is the softmax KL for class indices and the per-label Bernoulli
            KL, summed over the labels, for a one-logit or multi-label model.
            ``None``: standard training.
        noise_sigma: Gaussian-noise training for randomized smoothing: every training batch
            (after augmentation) gets ``N(0, noise_sigma^2)`` noise per pixel, not clamped to
            ``[0, 1]``, as :class:`~hermes.certify.RandomizedSmoothing` adds it; drawn from a
            generator seeded from ``seed``. Validation stays clean. Not combined with
            ``adversarial``.
        keep: which validation AUROC picks the weights kept, drives early stopping and the
            scheduler: ``"clean"`` or ``"robust"`` (the best robust epoch, against robust
            overfitting; needs ``adversarial``).

    Returns:
        ``(model, history)``: the model with its best weights, in eval mode, on ``device``; and
        the :class:`History`.

    Raises:
        TypeError, ValueError: a bad argument (the message names it; an ``adversarial`` warm-up
            longer than the training names ``warmup_epochs``), images outside ``[0, 1]``,
            labels that do not fit the output (a class index ``>= K``, multi-label targets of
            another width than the model's output or other than 0/1; the message names
            ``train_data`` or ``val_data``), validation labels of another kind than the training
            labels, or validation data with no AUROC (a single class).
        RuntimeError: the validation scores became NaN (training diverged).

    Under ``torch.distributed`` (a process group of more than one rank, as ``torchrun`` starts;
    see ``docs/scaling.md``), every rank calls ``fine_tune`` with the same arguments:

    - ``batch_size`` stays the *global* batch: each rank trains on its ``batch_size / world``
      share of the global batches one process would draw with the same ``seed`` (so it must be
      divisible by the number of ranks), the model wrapped in ``DistributedDataParallel``; the
      loss is weighted so that the averaged gradient is the global batch's. Without
      augmentation, noise or adversarial training (and with BatchNorm synchronised or frozen),
      the weights match a single-process run up to float rounding.
    - On CUDA, BatchNorm layers become ``SyncBatchNorm`` while training (back to the original
      modules afterwards); on the CPU (gloo) they keep per-rank batch statistics, with a warning.
    - Augmentation, noise, adversarial random starts and the global RNG draw per-rank streams
      derived from ``seed``: augmented runs match a single-process run in distribution only.
    - Every rank validates on the whole ``val_data``; rank 0's numbers are broadcast, so all
      ranks keep the same epoch, stop at the same time and return the same model and history.
    - Only rank 0 shows progress bars; ``fine_tune`` writes no files (save the checkpoint on
      rank 0 only: ``if hermes._distributed.is_main_process(): save_checkpoint(...)``).
    - A ``DataLoader`` given as ``train_data`` is used as given (give it a
      ``DistributedSampler``; its ``set_epoch`` is called every epoch).
    - Returns the plain model (never the DDP wrapper) on every rank.
    """
    config = TrainingConfig(
        protocol=protocol,
        lp_epochs=lp_epochs,
        ft_epochs=ft_epochs,
        lr_lp=lr_lp,
        lr_ft=lr_ft,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        patience=patience,
        lr_factor=lr_factor,
        lr_patience=lr_patience,
        num_workers=num_workers,
        amp=amp,
        progress=progress,
        adversarial=adversarial,
        noise_sigma=noise_sigma,
        keep=keep,
    )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    head_module = find_head(model, head, needed=config.protocol != "ft")
    world, rank = dist.get_world_size(), dist.get_rank()
    seed = config.seed
    if world > 1 and seed is None:  # the ranks must shuffle alike: rank 0's random seed
        seed = dist.broadcast_object(int(torch.randint(2**62, ()).item()))
        config = dataclasses.replace(config, seed=seed)
    # Per-sample randomness differs between ranks: each draws its own stream from the seed.
    rank_seed = seed if world == 1 or seed is None else derive_seed(seed, f"rank {rank}")
    augmentation = make_augmentation(augment, rank_seed)
    device = _device(model, device, world)
    use_amp = device.type == "cuda" if config.amp is None else config.amp
    model.to(device)
    if augmentation is not None:
        augmentation.to(device)

    shuffle_generator = None if seed is None else torch.Generator().manual_seed(seed)
    if world == 1:
        train_loader = make_loader(
            train_data, "train_data", config, shuffle_generator, shuffle=True
        )
    else:
        train_loader = make_rank_loader(
            train_data, "train_data", config, shuffle_generator, rank=rank, world=world
        )
    val_loader = make_loader(val_data, "val_data", config, None, shuffle=False)

    phases = config.phases
    trainer = _Trainer(model, head_module, augmentation, device, use_amp, config, rank_seed)
    rng = nullcontext() if rank_seed is None else seeded_global_rng(rank_seed, device)
    history = History(protocol=config.protocol, keep=config.keep)
    total = sum(p[1] for p in phases)
    show = config.progress and dist.is_main_process()
    restore_norms = _sync_batch_norm(model, device) if world > 1 else None
    with rng, tqdm(total=total, desc="fine-tune", disable=not show) as bar:
        try:
            for phase, epochs, lr in phases:
                trainer.run_phase(phase, epochs, lr, train_loader, val_loader, history, bar)
        finally:
            trainer.restore_flags()
            if restore_norms is not None:
                restore_norms()
    trainer.load_best()
    return model.eval(), history


def _device(model: nn.Module, device: Any, world: int) -> torch.device:
    """Where to train: as in one process, except that under NCCL a model on the CPU (with
    ``device=None``) or ``device="cuda"`` means this rank's own GPU."""
    if world > 1 and dist.rank_device().type == "cuda":
        on_cpu = next((p.device.type for p in model.parameters()), "cpu") == "cpu"
        if (device is None and on_cpu) or (device is not None and str(device) == "cuda"):
            return dist.rank_device()
    return resolve_device(model, device)


def _sync_batch_norm(model: nn.Module, device: torch.device) -> Callable[[], None] | None:
    """Swap ``model``'s BatchNorm layers for ``SyncBatchNorm`` in place (CUDA only; they share
    the parameters and running statistics) and return what swaps them back. On the CPU, where
    ``SyncBatchNorm`` does not run, warn that each rank normalises by its own share's statistics
    and return ``None``."""
    norms = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.modules.batchnorm._BatchNorm)
        and not isinstance(child, nn.SyncBatchNorm)
    ]
    if not norms:
        return None
    if device.type != "cuda":
        warnings.warn(
            "fine_tune under torch.distributed on the CPU: SyncBatchNorm runs on CUDA only, so "
            "each rank's BatchNorm layers use the statistics of its own share of the batch "
            "(the result differs from one process with the global batch; see docs/scaling.md)",
            UserWarning,
            stacklevel=3,
        )
        return None
    for parent, name, child in norms:
        setattr(parent, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))

    def restore() -> None:
        for parent, name, child in norms:
            setattr(parent, name, child)

    return restore


class _Trainer:
    """The state of one :func:`fine_tune` run: model, best weights, settings."""

    def __init__(
        self,
        model: nn.Module,
        head: nn.Module | None,
        augmentation: Augmentation | None,
        device: torch.device,
        amp: bool,
        config: TrainingConfig,
        rank_seed: int | None = None,
    ) -> None:
        self.model = model
        # What the training step calls: ``model`` itself, or (under torch.distributed) its
        # DistributedDataParallel wrapper, made anew each phase for the phase's parameters.
        self.net = model
        self.world = dist.get_world_size()
        self.head = head
        self.augmentation = augmentation
        self.device = device
        self.amp = amp
        self.config = config
        self.progress = config.progress and dist.is_main_process()
        self.flags = {p: p.requires_grad for p in model.parameters()}
        self.best_auroc = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
        self.adversarial = config.adversarial
        self.epochs_run = 0  # over all phases: the warm-up of eps counts them
        # Whether train_data holds (N, K) multi-label targets (set by the first batch), so that
        # validation labels of another kind are refused.
        self.multilabel: bool | None = None
        # Crafting, noise and the robust validation attack each draw from their own generator,
        # seeded from the run's seed, never from the global RNG.
        # Under torch.distributed each rank has its own streams (rank_seed: derived from seed).
        self.craft_generator = _generator(rank_seed, "adversarial")
        self.noise_generator = _generator(rank_seed, "noise")
        # Every epoch's robust validation restarts from this seed, so epochs are compared on the
        # same random starts (the same on every rank).
        self.val_seed = _generator(config.seed, "robust validation").initial_seed()

    def run_phase(
        self,
        phase: str,
        epochs: int,
        lr: float,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any],
        history: History,
        bar: tqdm,
    ) -> None:
        params = self._trainable(phase)
        # DDP synchronises the parameters that require gradients when it is built: wrap anew
        # for each phase's trainable set (LP trains the head only).
        self.net = dist.wrap_model(self.model) if self.world > 1 else self.model
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=self.config.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=self.config.lr_factor,
            patience=self.config.lr_patience,
        )
        patience = self.config.patience
        phase_best, stale = -math.inf, 0
        for epoch in range(1, epochs + 1):
            current_lr = float(optimizer.param_groups[0]["lr"])
            self.epochs_run += 1
            train_eps = (
                None if self.adversarial is None else self.adversarial.eps_at(self.epochs_run)
            )
            if self.world > 1:
                _set_epoch(train_loader, self.epochs_run - 1)
            train_loss = self._train_epoch(phase, epoch, epochs, train_loader, optimizer)
            if self.world > 1:  # BatchNorm statistics: rank 0's everywhere (DDP's convention)
                for buffer in self.model.buffers():
                    torch.distributed.broadcast(buffer, src=0)
            val = self._validate(val_loader)
            if self.world > 1:  # every rank decides on rank 0's numbers
                val = dist.broadcast_object(val)
            val_loss, val_auroc, robust_auroc = val.loss, val.auroc, val.robust_auroc
            # keep="robust" is only accepted with adversarial training, so the metric exists.
            # The selection metrics equal the AUROCs unless a class has none (NaN AUROC).
            metric = val.robust_select if self.config.keep == "robust" else val.select
            metric = val.select if metric is None else metric
            scheduler.step(metric)
            history.epochs.append(
                EpochRecord(
                    phase,
                    epoch,
                    train_loss,
                    val_loss,
                    val_auroc,
                    current_lr,
                    robust_val_auroc=robust_auroc,
                    train_eps=train_eps,
                )
            )
            if metric > self.best_auroc:
                self.best_auroc = metric
                self.best_state = {
                    k: v.detach().clone() for k, v in self.model.state_dict().items()
                }
                history.best_index = len(history.epochs) - 1
            if metric > phase_best:
                phase_best, stale = metric, 0
            else:
                stale += 1
            bar.update(1)
            postfix = {"phase": phase, "loss": f"{train_loss:.4f}", "auroc": f"{val_auroc:.4f}"}
            if robust_auroc is not None:
                postfix["robust"] = f"{robust_auroc:.4f}"
            bar.set_postfix(postfix)
            if patience is not None and stale >= patience and epoch < epochs:
                history.stopped_early.append(phase)
                bar.update(epochs - epoch)
                break
        self.load_best()
        self.net = self.model

    def _trainable(self, phase: str) -> list[nn.Parameter]:
        if phase == "lp":
            head_params = {id(p) for p in _need(self.head).parameters()}
            for p in self.model.parameters():
                p.requires_grad_(id(p) in head_params and self.flags[p])
        else:
            for p, flag in self.flags.items():
                p.requires_grad_(flag)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"model has no trainable parameters for phase {phase!r}")
        return params

    def _set_mode(self, phase: str) -> None:
        if phase == "lp":
            # The frozen backbone runs in eval mode: BatchNorm uses and keeps its running stats.
            self.model.eval()
            _need(self.head).train()
        else:
            self.model.train()

    def _autocast(self) -> AbstractContextManager[Any]:
        if not self.amp:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _train_epoch(
        self,
        phase: str,
        epoch: int,
        epochs: int,
        loader: Iterable[Any],
        optimizer: torch.optim.Optimizer,
    ) -> float:
        self._set_mode(phase)
        total, count = 0.0, 0
        # The bar is updated by hand: tqdm.auto's bar would call iter(loader) itself, starting a
        # second pass (and a second pool of workers) over the data every epoch.
        batches = tqdm(
            total=_length(loader),
            desc=f"{phase} {epoch}/{epochs}",
            leave=False,
            disable=not self.progress,
        )
        for x, y in checked_batches(loader, "train_data", self.device):
            if self.multilabel is None:
                self.multilabel = y.ndim == 2
            if self.augmentation is not None:
                x = self.augmentation(x)
            if self.config.noise_sigma is not None:
                x = add_gaussian_noise(x, self.config.noise_sigma, self.noise_generator)
            with self._autocast():
                if self.adversarial is None:
                    loss = _loss(self.net(x).float(), y, "train_data")
                else:
                    x_adv = craft_examples(
                        self.model, x, y, self.adversarial, self.epochs_run, self.craft_generator
                    )
                    loss = adversarial_loss(self.net, x, x_adv, y, self.adversarial)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(self._global_weight(loss, x.shape[0])).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
            total += float(loss.detach()) * x.shape[0]
            count += x.shape[0]
            batches.update(1)
            batches.set_postfix(loss=f"{total / count:.4f}")
        batches.close()
        if self.world > 1:  # the mean over the global batches, the same on every rank
            total, count = _sum_over_ranks(total, count)
        if count == 0:
            raise ValueError("train_data is empty")
        return total / count

    def _global_weight(self, loss: torch.Tensor, n: int) -> torch.Tensor:
        """``loss`` (this rank's mean over its ``n`` samples) weighted so that DDP's average of
        the ranks' gradients is the gradient of the global batch's mean loss: ``n * world /
        n_global``, exactly 1 when the global batch splits evenly."""
        if self.world == 1:
            return loss
        n_global = int(_sum_over_ranks(float(n))[0])
        if n * self.world == n_global:
            return loss
        return loss * (n * self.world / n_global)

    @torch.no_grad()
    def _validate(self, loader: Iterable[Any]) -> _Validation:
        """Mean clean loss, clean AUROC and (with adversarial training) robust AUROC."""
        self.model.eval()
        all_logits, all_labels, all_robust = [], [], []
        total = 0.0
        generator = torch.Generator().manual_seed(self.val_seed)
        for x, y in checked_batches(loader, "val_data", self.device):
            _check_same_kind(y, self.multilabel)
            with self._autocast():
                logits = self.model(x)
            logits = logits.float()
            total += float(_loss(logits, y, "val_data")) * x.shape[0]
            all_logits.append(logits.reshape(x.shape[0], -1).cpu())
            all_labels.append(y.cpu())
            if self.adversarial is not None:
                with self._autocast():  # the attack turns gradients back on for itself
                    x_adv = robust_validation_examples(
                        self.model, x, y, self.adversarial, generator
                    )
                    robust = self.model(x_adv).float()
                all_robust.append(robust.reshape(x.shape[0], -1).cpu())
        if not all_logits:
            raise ValueError("val_data is empty")
        logits = torch.cat(all_logits)
        labels = torch.cat(all_labels)
        auroc, select = _auroc(logits, labels)
        robust_auroc, robust_select = (
            _auroc(torch.cat(all_robust), labels) if all_robust else (None, None)
        )
        return _Validation(total / labels.shape[0], auroc, robust_auroc, select, robust_select)

    def load_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def restore_flags(self) -> None:
        for p, flag in self.flags.items():
            p.requires_grad_(flag)


@dataclasses.dataclass(frozen=True)
class _Validation:
    """One validation pass: mean clean loss, the AUROCs recorded in the history, and the values
    that select the weights (each AUROC, or, where it is NaN because a class has none, the mean
    AUROC of the classes that have one)."""

    loss: float
    auroc: float
    robust_auroc: float | None
    select: float
    robust_select: float | None


def _check_same_kind(y: torch.Tensor, multilabel: bool | None) -> None:
    """Refuse validation labels of another kind (class indices vs multi-label targets) than the
    training labels (``multilabel``; ``None``: not known)."""
    if multilabel is None or (y.ndim == 2) == multilabel:
        return
    if multilabel:
        raise ValueError(
            "val_data labels must be (N, K) multi-label targets, as train_data's are; got class "
            f"indices of shape {tuple(y.shape)}"
        )
    raise ValueError(
        "val_data labels must be (N,) class indices, as train_data's are; got multi-label "
        f"targets of shape {tuple(y.shape)}"
    )


def _sum_over_ranks(*values: float) -> tuple[float, ...]:
    """Each of ``values`` summed over all ranks (float64, on the device the backend needs)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=dist.rank_device())
    torch.distributed.all_reduce(tensor)
    return tuple(tensor.tolist())


def _set_epoch(loader: Any, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the loader's sampler and batch sampler that have one."""
    for sampler in {
        id(s): s for s in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None))
    }.values():
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)


def _generator(seed: int | None, purpose: str) -> torch.Generator:
    """A CPU generator for one kind of draw: seeded from ``seed`` and ``purpose``, or from OS
    entropy when ``seed`` is None."""
    return make_generator(None if seed is None else derive_seed(seed, purpose))


def _length(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:  # an iterable-style dataset
        return None


def _need(head: nn.Module | None) -> nn.Module:
    if head is None:  # _find_head guarantees a head whenever a protocol has an LP phase
        raise RuntimeError("linear probing needs a head module")
    return head


def _loss(logits: torch.Tensor, y: torch.Tensor, name: str) -> torch.Tensor:
    return classification_loss(logits, y, f"{name} labels").mean()


def _auroc(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """The validation AUROC of the task and the value that selects the weights.

    Binary: the AUROC of the positive-class probability, twice. Multi-class and multi-label: the
    macro AUROC of :func:`~hermes.evaluation.task_metrics.auroc_per_class` (NaN, warned, when a
    class has a single label value) and the mean over the classes that have an AUROC.
    """
    if not bool(torch.isfinite(logits).all()):
        raise RuntimeError(
            "validation logits are not finite (training diverged); lower the learning rate or "
            "turn off amp"
        )
    y = labels.numpy()
    if labels.ndim == 2:
        if not bool(((labels == 0).any(dim=0) & (labels == 1).any(dim=0)).any()):
            raise ValueError(
                "val_data must contain both values (0 and 1) of at least one label for AUROC; "
                "every label is constant"
            )
        return _macro_auroc(y, task_scores(logits, "multilabel").numpy(), "multilabel")
    classes = torch.unique(labels)
    if classes.numel() < 2:
        raise ValueError(
            f"val_data must contain at least two classes for AUROC; got only {classes.tolist()}"
        )
    k = 1 if logits.ndim == 1 else logits.shape[1]
    if k <= 2:
        value = float(roc_auc_score(y, positive_class_scores(logits.double()).numpy()))
        return value, value
    return _macro_auroc(y, task_scores(logits, "multiclass").numpy(), "multiclass")


def _macro_auroc(y: np.ndarray, scores: np.ndarray, task: str) -> tuple[float, float]:
    """``auroc_per_class``'s macro AUROC, and the mean over the classes that have an AUROC.

    The evaluation's own function, so training and evaluation agree on the definition and on
    NaN for a class without an AUROC (it imports nothing from :mod:`hermes.models`).
    """
    result = auroc_per_class(y, scores, task)
    per_class = np.asarray(result["per_class"], dtype=np.float64)
    macro = float(result["macro"])
    return macro, macro if math.isfinite(macro) else float(np.nanmean(per_class))
