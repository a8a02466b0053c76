"""``evaluate_robustness``: the AUROC grid of defenses x attacks x epsilons."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from hermes import _distributed as dist
from hermes._modes import eval_mode
from hermes._validation import check_choice, check_number, check_positive_int
from hermes.errors import RangeError, ShapeError
from hermes.evaluation._assemble import assemble_report
from hermes.evaluation._batches import BatchSource
from hermes.evaluation._cache import (
    ResultCache,
    describe,
    factory_identity,
    fingerprint_module,
    fingerprint_tensors,
)
from hermes.evaluation._schedule import run_units, unit_cost
from hermes.evaluation._units import BASELINE, plan_units, run_unit
from hermes.evaluation.adaptive import AdaptiveSettings, candidate_modes
from hermes.evaluation.metric_grid import eps_key
from hermes.evaluation.report import RobustnessReport
from hermes.tasks import check_task, infer_task
from hermes.version import __version__

__all__ = ["BASELINE", "evaluate_robustness"]

THREAT_MODELS = ("gray-box", "adaptive", "both")
# Bumped when what a cached unit holds changes (2: float64 scores; 3: one unit per (attack, eps)
# holding the adaptive worst case of every defense), so old caches are not mixed in.
CACHE_FORMAT = 3
AttackFactory = Callable[[nn.Module, float], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def evaluate_robustness(
    model: nn.Module,
    data: Any,
    *,
    attacks: Mapping[str, AttackFactory],
    epsilons: Sequence[float],
    defenses: Mapping[str, nn.Module] | None = None,
    threat_model: str = "gray-box",
    batch_size: int = 128,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
    bootstrap: int = 0,
    ci_level: float = 0.95,
    cache_dir: str | None = None,
    adaptive: AdaptiveSettings | None = None,
    sanity_eps: float | None = None,
    task: str | None = None,
) -> RobustnessReport:
    """AUROC, accuracy and attack success rate of ``model`` over defenses x attacks x epsilons.

    Threat models:

    - ``"gray-box"`` (the HERMES study's): each (attack, epsilon) batch is crafted once on the
      undefended model, then scored through every defense; clean inputs are scored once per
      defense.
    - ``"adaptive"``: the attacker knows the defense, and each (defense, attack, epsilon) cell is
      the per-example worst case over several candidates (:class:`AdaptiveSettings`): the
      gray-box transfer image, the attack against ``nn.Sequential(defense, model)`` through
      every gradient mode the defense offers (exact; BPDA identity or surrogate; unrolled), and
      APGD likewise, with EOT against randomised defenses. Per example the candidate with the
      lowest true-class margin through the defense is kept and scored with fresh randomness.
      Where one candidate applied to every example, or the same column's cell at a smaller
      epsilon, reaches a lower AUROC than that per-example choice (a randomised defense, or a
      multi-class or multi-label macro AUROC, which per-example margins do not order), that
      attack is the cell: the adaptive number is never weaker than an attack hermes ran.
      ``report.selection`` says which candidate won how many examples.
    - ``"both"``: the two side by side in one report: attack columns ``"PGD"`` (gray-box) and
      ``"PGD [adaptive]"``; :meth:`RobustnessReport.threat_model_gap` gives the difference.

    Every task hermes knows works (:mod:`hermes.tasks`): binary (one or two logits), multi-class
    (``K`` softmax logits, class-index labels) and multi-label (``K`` sigmoid logits, ``(N, K)``
    0/1 targets). The task is inferred from the model's output width and the labels, or stated
    with ``task``; a multi-class or multi-label report's AUROC is the macro mean over classes,
    with each class's own AUROC in ``report.per_class_auroc`` (see ``docs/tasks.md``).

    Scores are positive-class (class, label) probabilities, computed in float64 (in float32
    every logit above about 17 scores exactly 1.0, and such ties shift the AUROC); AUROC comes from
    :func:`sklearn.metrics.roc_auc_score`. The model and every defense run in eval mode (each
    module's own mode is restored afterwards), so a defense with batch statistics or dropout is
    scored as at test time and left unchanged.

    Args:
        model: classifier on ``[0, 1]`` images ``(B, C, H, W)`` or volumes ``(B, C, D, H, W)``.
        data: ``(images, labels)`` tensors, a ``Dataset`` or a ``DataLoader`` of
            ``(image in [0, 1], label)``: ``0``/``1``, a class index, or ``(K,)`` 0/1 targets.
            A ``DataLoader`` is used as it is (its own batch size); keep it unshuffled for
            reproducible per-batch seeds.
        attacks: name -> factory ``(model, eps) -> attack`` (e.g. ``FGSM`` or
            ``functools.partial(PGD, steps=10)``); ``attack(x, y)`` returns adversarial images.
        epsilons: budgets in pixel units; ``0`` (clean) is always evaluated.
        defenses: name -> defense module ``(B, C, H, W) -> (B, C, H, W)``; the undefended
            baseline ``"None"`` is always added first.
        threat_model: ``"gray-box"``, ``"adaptive"`` or ``"both"`` (see above).
        batch_size: batch size for tensor and ``Dataset`` data.
        device: where to compute; the model and defenses are moved there. Default: the model's.
            Under an NCCL process group (``torchrun``), ``None`` with a model on the CPU, or
            ``"cuda"``, mean this rank's GPU, ``cuda:LOCAL_RANK`` (see ``docs/scaling.md``).
        seed: every random choice (PGD random starts, TVM masks) gets a per-batch seed derived
            from this one and the cell, so the same call gives the same grid. Modules' own
            ``generator`` attributes are replaced during the run and restored after.
        progress: show a tqdm progress bar.
        bootstrap: number of percentile-bootstrap resamples for AUROC intervals (0: none).
        ci_level: confidence level of the intervals.
        cache_dir: folder where each finished (attack, epsilon) unit is stored; a rerun with
            the same arguments resumes from it, and a changed argument raises an error. The
            data is hashed whole for it (a ``Dataset`` or ``DataLoader`` is read once more up
            front), and an attack factory is known by its code, arguments and captured values,
            so editing a lambda's body or a ``partial``'s keywords reruns its cells.
        adaptive: what the adaptive worst case tries (default :class:`AdaptiveSettings()`: every
            gradient mode, the transfer image, APGD-20, at least 4 EOT draws against randomised
            defenses). Pin one mode to reproduce a single-mode number, e.g.
            ``AdaptiveSettings(gradient_modes=["identity"], transfer=False, apgd_steps=None)``.
        sanity_eps: a large budget in ``(0, 1]`` at which every attack column is also run (a
            probe kept out of the grid, in ``report.sanity``); AUROC there should be about 0, and
            a cell where it is not is listed in ``report.diagnostics``.
        task: ``None`` to infer, or ``"binary"``, ``"multiclass"``, ``"multilabel"``, checked
            against the model's output and the labels (:func:`hermes.tasks.infer_task`).

    Under ``torch.distributed`` (a process group initialised by the caller or ``torchrun``), the
    units of the grid (and their batches, where units are too few) are split across the ranks,
    the results gathered, and every rank returns the same report, equal bit for bit to one
    process's with the same ``seed``; pass the same arguments and the whole data on every rank.
    A ``cache_dir`` may be shared by the ranks: each unit is written by one rank, and a rerun
    after a killed rank recomputes only what is missing. See ``docs/scaling.md``.

    Returns:
        A :class:`~hermes.evaluation.RobustnessReport`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hermes.attacks import FGSM
        >>> from hermes.defenses import GaussianSmoothing
        >>> torch.manual_seed(0) and None
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))
        >>> x, y = torch.rand(32, 3, 8, 8), torch.arange(32) % 2
        >>> report = evaluate_robustness(model, (x, y), attacks={"FGSM": FGSM}, epsilons=[0.0, 0.05],
        ...                              defenses={"Gaussian": GaussianSmoothing(3, 0.8)}, progress=False)
        >>> report.defenses, report.attacks, report.epsilons
        (['None', 'Gaussian'], ['FGSM'], [0.0, 0.05])
    """
    # ---- check every argument before any work ------------------------------------------------
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    check_choice(threat_model, "threat_model", THREAT_MODELS)
    attacks = _check_attacks(attacks)
    epsilons = _check_epsilons(epsilons)
    defenses = _check_defenses(defenses)
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_positive_int(seed, "seed", minimum=0)
    bootstrap = check_positive_int(bootstrap, "bootstrap", minimum=0)
    ci_level = check_number(
        ci_level, "ci_level", low=0, high=1, low_inclusive=False, high_inclusive=False
    )
    if adaptive is None:
        adaptive = AdaptiveSettings()
    elif not isinstance(adaptive, AdaptiveSettings):
        raise TypeError(
            f"adaptive must be a hermes.evaluation.AdaptiveSettings; got {type(adaptive).__name__}"
        )
    if threat_model != "gray-box":
        for name, defense in defenses.items():
            candidate_modes(name, defense, adaptive)  # a pinned mode no defense has fails now
    if sanity_eps is not None:
        sanity_eps = eps_key(
            check_number(sanity_eps, "sanity_eps", low=0.0, high=1.0, low_inclusive=False)
        )
    if task is not None:
        task = check_task(task)
    _check_not_sharded(data)
    source = BatchSource(data, batch_size)
    if dist.rank_device().type == "cuda":  # NCCL: this rank's own GPU, not everyone's cuda:0
        on_cpu = next((p.device.type for p in model.parameters()), "cpu") == "cpu"
        if (device is None and on_cpu) or (device is not None and str(device) == "cuda"):
            device = dist.rank_device()
    if device is not None:
        device = torch.device(device)
        model.to(device)
        for defense in defenses.values():
            defense.to(device)
    else:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))

    task = _resolve_task(model, source, task, device)
    unit_epsilons = sorted({*epsilons, sanity_eps}) if sanity_eps is not None else epsilons
    units = plan_units(threat_model, list(attacks), unit_epsilons)
    manifest = keys = None
    if cache_dir is not None or dist.get_world_size() > 1:
        manifest = _manifest(model, source, defenses, threat_model, seed, batch_size, cache_dir)
        if task != "binary":  # binary caches written before tasks existed stay valid
            manifest["task"] = task
        if threat_model != "gray-box":
            manifest["adaptive"] = adaptive.describe()
        keys = [
            unit.cache_key(factory_identity(attacks[unit.attack]) if unit.attack else None)
            for unit in units
        ]
    if dist.get_world_size() > 1:
        _check_same_on_every_rank({"manifest": manifest, "units": keys})
    cache = None
    if cache_dir is not None:
        cache = dist.main_first(lambda: ResultCache(cache_dir, manifest))  # rank 0 writes it

    bar = tqdm(
        total=len(units) * len(source),  # this rank's share, once planned
        disable=not progress or not dist.is_main_process(),
        desc="evaluate_robustness",
        unit="batch",
    )
    with eval_mode(model), ExitStack() as modes, bar:
        for defense in defenses.values():  # scored (and attacked through) as at test time
            modes.enter_context(eval_mode(defense))
        results = run_units(
            units,
            keys=keys if cache is not None else None,
            cache=cache,
            n_batches=len(source),
            costs=lambda unit: unit_cost(unit, model, attacks.get(unit.attack), defenses, adaptive),
            compute=lambda unit, batches: run_unit(
                unit,
                model,
                source,
                defenses,
                attacks.get(unit.attack),
                seed,
                device,
                bar,
                adaptive,
                batches,
                task,
            ),
            progress=bar,
        )
    metadata = {
        "seed": seed,
        "batch_size": batch_size,
        "bootstrap": bootstrap,
        "ci_level": ci_level,
        "attacks": {a: describe(f) for a, f in attacks.items()},
        "defenses": {d: describe(m) for d, m in defenses.items()},
        **({"adaptive": adaptive.describe()} if threat_model != "gray-box" else {}),
        "hermes_version": __version__,
        "torch_version": torch.__version__,
    }
    return assemble_report(
        results,
        threat_model=threat_model,
        attacks=list(attacks),
        epsilons=epsilons,
        defenses=list(defenses),
        bootstrap=bootstrap,
        ci_level=ci_level,
        seed=seed,
        metadata=metadata,
        sanity_eps=sanity_eps,
        task=task,
    )


def _resolve_task(
    model: nn.Module, source: BatchSource, task: str | None, device: torch.device
) -> str:
    """The task, inferred (or checked) from the model's output on one image and the labels;
    then every batch a loader yields is checked against it."""
    images, labels = source.first_batch
    with torch.no_grad(), eval_mode(model):
        logits = model(images[:1].to(device))
    k = 1 if logits.ndim == 1 else logits.shape[-1]
    labels = source.all_labels if source.all_labels is not None else labels
    task = _infer(k, labels, task)
    source.label_check = lambda y: _infer(k, y, task)
    return task


def _infer(k: int, labels: torch.Tensor, task: str | None) -> str:
    try:
        return infer_task(k, labels, task)
    except (ShapeError, RangeError, TypeError) as error:
        raise type(error)(f"data {error}") from None


def _check_attacks(attacks: Any) -> dict[str, AttackFactory]:
    if not isinstance(attacks, Mapping) or not attacks:
        raise ValueError(f"attacks must be a non-empty mapping name -> factory; got {attacks!r}")
    for name, factory in attacks.items():
        if not isinstance(name, str) or not callable(factory):
            raise TypeError(
                f"attacks must map names to callables (model, eps) -> attack; got {name!r}: {factory!r}"
            )
    return dict(attacks)


def _check_epsilons(epsilons: Any) -> list[float]:
    if (
        isinstance(epsilons, (str, bytes))
        or not isinstance(epsilons, Sequence)
        or not len(epsilons)
    ):
        raise ValueError(f"epsilons must be a non-empty list of numbers >= 0; got {epsilons!r}")
    values = [check_number(e, f"epsilons[{i}]", low=0.0) for i, e in enumerate(epsilons)]
    return sorted({eps_key(e) for e in [0.0, *values]})


def _check_defenses(defenses: Any) -> dict[str, nn.Module]:
    defenses = {} if defenses is None else defenses
    if not isinstance(defenses, Mapping):
        raise TypeError(
            f"defenses must be a mapping name -> nn.Module; got {type(defenses).__name__}"
        )
    out: dict[str, nn.Module] = {BASELINE: nn.Identity()}
    for name, defense in defenses.items():
        if not isinstance(name, str):
            raise TypeError(f"defenses must be keyed by names (str); got {name!r}")
        if name == BASELINE:
            raise ValueError(
                f"defenses must not use the reserved name {BASELINE!r} (the undefended baseline)"
            )
        if not isinstance(defense, nn.Module):
            raise TypeError(
                f"defenses[{name!r}] must be a torch.nn.Module; got {type(defense).__name__}"
            )
        out[name] = defense
    return out


def _check_not_sharded(data: Any) -> None:
    sampler = getattr(data, "sampler", None)
    if dist.get_world_size() > 1 and isinstance(sampler, torch.utils.data.DistributedSampler):
        raise ValueError(
            "data must be the whole test set on every rank; got a DataLoader with a "
            "DistributedSampler (evaluate_robustness splits the work across ranks itself)"
        )


def _check_same_on_every_rank(call: dict[str, Any]) -> None:
    """Raise on every rank when the ranks were not given the same evaluation."""
    digest = hashlib.sha256(json.dumps(call, sort_keys=True).encode()).hexdigest()
    digests = dist.all_gather_object(digest)
    differing = [r for r, d in enumerate(digests) if d != digests[0]]
    if differing:
        raise ValueError(
            "evaluate_robustness must get the same model, data and settings on every rank; "
            f"rank(s) {differing} differ from rank 0 (model weights, data, defenses, seed, "
            "batch size, threat model, attacks or epsilons)"
        )


def _manifest(model, source, defenses, threat_model, seed, batch_size, cache_dir) -> dict[str, Any]:
    """What every cached unit depends on, besides its own attack and epsilon.

    Without a ``cache_dir`` (only asked for to compare the ranks of a distributed run) the data is
    known by its length and first batch rather than read through once more.
    """
    if cache_dir is None:
        first = fingerprint_tensors(*source.first_batch)
        data = f"{len(source)} batches, first {first}"
    else:
        data = source.fingerprint()
    return {
        "format": CACHE_FORMAT,
        "model": fingerprint_module(model),
        "data": data,
        "defenses": {name: fingerprint_module(d) for name, d in defenses.items()},
        "threat_model": threat_model,
        "seed": seed,
        "batch_size": batch_size,
    }
