"""Which process runs which units of an evaluation grid, and putting their results together.

In one process every unit runs whole, in order. Under ``torch.distributed`` (see
:mod:`hermes._distributed`) the units still to compute are split across the ranks by their
estimated cost (:func:`unit_cost`, :func:`plan_parts`); a unit is cut into runs of batches
(parts) only where whole units cannot keep the ranks about equally busy (fewer units than ranks,
or one unit much costlier than the rest). Every batch is seeded from its unit and its number
alone, so which rank ran it changes nothing: the results are gathered on every rank and the parts
of a unit put together in batch order (:func:`merge_parts`) equal the unit run whole, bit for
bit.

With a cache, the ranks first agree on which units are stored (a unit found by any rank counts,
so caches that are not shared between machines work too); each finished unit is written by the
one rank that ran it, and each finished part by its rank, until the rank that ran the unit's
first part writes the whole unit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hermes import _distributed as dist
from hermes._random import has_generators
from hermes.evaluation._cache import ResultCache
from hermes.evaluation._units import ADAPTIVE, GRAY_BOX, Unit, cell_candidates, unit_threats
from hermes.evaluation.adaptive import AdaptiveSettings

__all__ = ["Part", "merge_parts", "plan_parts", "run_units", "unit_cost"]

# A rank may be this much busier than the average before whole units are cut into parts.
TOLERANCE = 1.1


@dataclass(frozen=True)
class Part:
    """Batches ``start`` to ``stop - 1`` of unit number ``unit`` (all of them: a whole unit)."""

    unit: int
    start: int
    stop: int
    whole: bool


def _int_attribute(obj: Any, name: str, default: int) -> int:
    value = getattr(obj, name, default)
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


def attack_cost(attack: Any, eot_samples: int | None = None) -> float:
    """Rough cost of one attack call on a batch, in forward passes of the model.

    A gradient step costs a forward and a backward pass (about 3 forward passes); a gradient-free
    attack (``gradient_free = True``) costs one forward pass per query.
    """
    restarts = _int_attribute(attack, "restarts", 1)
    eot = eot_samples if eot_samples is not None else _int_attribute(attack, "eot_samples", 1)
    if getattr(attack, "gradient_free", False):
        return float(_int_attribute(attack, "queries", 1) * restarts * max(eot, 1))
    return 3.0 * _int_attribute(attack, "steps", 1) * restarts * max(eot, 1)


def unit_cost(
    unit: Unit,
    model: nn.Module,
    factory: Any,
    defenses: dict[str, nn.Module],
    settings: AdaptiveSettings,
) -> float:
    """Estimated cost of one batch of ``unit``, in forward passes of the model.

    Counts the attacks' steps (built with the user's factories, as the unit would build them)
    and one pass per scoring through a defense; the defenses' own cost is not known and not
    counted. Only the ratios between units matter: they decide how units are split.
    """
    if unit.threat == "clean":
        return float(len(defenses))
    threats = unit_threats(unit.threat)
    transfer = factory(model, unit.eps)
    cost = 0.0
    if GRAY_BOX in threats or settings.transfer:
        cost += attack_cost(transfer)
    if GRAY_BOX in threats:
        cost += len(defenses)
    if ADAPTIVE in threats:
        cells = cell_candidates(unit, factory, transfer, defenses, model, settings)
        for name, candidates in cells.items():
            defense = defenses[name]
            cost += sum(attack_cost(c.attack, c.eot_samples) for c in candidates)
            images = len(candidates) + settings.transfer
            draws = 1 + (settings.selection_draws if has_generators(defense) else 0)
            cost += images * draws
    return cost


def _cut(n_batches: int, pieces: int) -> list[tuple[int, int]]:
    """``range(n_batches)`` cut into ``pieces`` runs whose lengths differ by at most one."""
    bounds = [n_batches * i // pieces for i in range(pieces + 1)]
    return list(itertools.pairwise(bounds))


def plan_parts(costs: list[float], n_batches: int, world_size: int) -> list[list[Part]]:
    """The parts each rank runs, deterministically, from each unit's cost per batch.

    Whole units are split by :func:`~hermes._distributed.balanced_split`; while the busiest rank
    would have more than ``TOLERANCE`` times the average work, units costlier than a target are
    cut into runs of batches, the target halving each round (until every unit is cut into single
    batches). One rank: every unit whole.

    Example:
        >>> [[(p.unit, p.start, p.stop) for p in rank] for rank in plan_parts([1.0, 1.0], 4, 2)]
        [[(0, 0, 4)], [(1, 0, 4)]]
        >>> [[(p.unit, p.start, p.stop) for p in rank] for rank in plan_parts([1.0], 4, 2)]
        [[(0, 0, 2)], [(0, 2, 4)]]
    """
    if world_size == 1 or not costs:
        parts = [Part(u, 0, n_batches, True) for u in range(len(costs))]
        return [parts] + [[] for _ in range(world_size - 1)]
    total = sum(costs) * n_batches
    fineness = 1
    while True:
        target = total / (world_size * fineness)
        parts = []
        for u, cost in enumerate(costs):
            pieces = min(n_batches, max(1, math.ceil(cost * n_batches / target - 1e-9)))
            parts += [Part(u, a, b, pieces == 1) for a, b in _cut(n_batches, pieces)]
        part_costs = [costs[p.unit] * (p.stop - p.start) for p in parts]
        groups = dist.balanced_split(part_costs, world_size)
        busiest = max(sum(part_costs[i] for i in group) for group in groups)
        if busiest <= TOLERANCE * total / world_size or len(parts) == n_batches * len(costs):
            return [[parts[i] for i in group] for group in groups]
        fineness *= 2


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, dict):
        return {k: _add(v, b[k]) for k, v in a.items()}
    if isinstance(a, list):
        return [_add(x, y) for x, y in zip(a, b)]
    return a + b


def merge_parts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The result of a whole unit from the results of its parts, in batch order: scores and
    labels concatenated, candidate wins and timings summed.

    Example:
        >>> import torch
        >>> part = lambda lo, hi: {"labels": torch.arange(lo, hi), "gradient_free": False,
        ...     "scores": {"clean": {"None": torch.arange(lo, hi) / 10}}, "candidates": {},
        ...     "wins": {}, "attack_seconds": {"gray-box": 1.0, "adaptive": {}},
        ...     "defense_seconds": {"None": [0.5, hi - lo]}}
        >>> whole = merge_parts([part(0, 2), part(2, 3)])
        >>> whole["labels"].tolist(), whole["defense_seconds"]
        ([0, 1, 2], {'None': [1.0, 3]})
    """
    first = parts[0]

    def cat(pick: Callable[[dict[str, Any]], torch.Tensor]) -> torch.Tensor:
        return torch.cat([pick(p) for p in parts])

    scores = first["scores"]
    candidates = first["candidates"]
    wins, attack_seconds, defense_seconds = (
        first["wins"],
        first["attack_seconds"],
        first["defense_seconds"],
    )
    for p in parts[1:]:
        wins = _add(wins, p["wins"])
        attack_seconds = _add(attack_seconds, p["attack_seconds"])
        defense_seconds = _add(defense_seconds, p["defense_seconds"])
    return {
        "labels": cat(lambda p: p["labels"]),
        "gradient_free": first["gradient_free"],
        "scores": {
            t: {d: cat(lambda p, t=t, d=d: p["scores"][t][d]) for d in per}
            for t, per in scores.items()
        },
        "candidates": {
            d: {c: cat(lambda p, d=d, c=c: p["candidates"][d][c]) for c in per}
            for d, per in candidates.items()
        },
        "wins": wins,
        "attack_seconds": attack_seconds,
        "defense_seconds": defense_seconds,
    }


def run_units(
    units: list[Unit],
    *,
    keys: list[dict[str, Any]] | None,
    cache: ResultCache | None,
    n_batches: int,
    costs: Callable[[Unit], float],
    compute: Callable[[Unit, range | None], dict[str, Any]],
    progress: Any,
) -> dict[Unit, dict[str, Any]]:
    """Every unit's result, on every rank: loaded from ``cache``, run here, or run elsewhere.

    Args:
        units: the units of the grid, the same list on every rank.
        keys: each unit's cache key (``None`` without a cache).
        cache: the cache, or ``None``.
        n_batches: batches in the data.
        costs: a unit's estimated cost per batch (only asked for under more than one rank).
        compute: runs a unit whole (``None``) or the batches of a ``range``, updating
            ``progress`` per batch.
        progress: a tqdm bar; its total is set here to the batches this rank handles.
    """
    rank, world_size = dist.get_rank(), dist.get_world_size()
    found: dict[int, dict[str, Any]] = {}
    if cache is not None and keys is not None:
        for i, key in enumerate(keys):
            stored = cache.load(key)
            if stored is not None:
                found[i] = stored
    # a collective: no rank runs (and writes) anything before every rank has looked
    holders = [set(held) for held in dist.all_gather_object(sorted(found))]
    todo = [i for i in range(len(units)) if not any(i in held for held in holders)]
    plan = plan_parts(
        [costs(units[i]) for i in todo] if world_size > 1 else [1.0] * len(todo),
        n_batches,
        world_size,
    )
    mine = [Part(todo[p.unit], p.start, p.stop, p.whole) for p in plan[rank]]
    progress.reset(total=n_batches * len(found) + sum(p.stop - p.start for p in mine))
    progress.update(n_batches * len(found))
    with dist.patient_group() as group:  # a rank done early may wait hours for the others
        computed = _run_share(mine, units, keys, cache, compute, progress)
        if world_size == 1:
            if cache is not None and keys is not None:
                cache.prune_parts(keys)  # parts a distributed run left behind
            return {units[i]: found.get(i) or computed[(i, 0)] for i in range(len(units))}
        # send what the others lack: what ran here, and stored units some rank did not find
        sent = {
            i: found[i]
            for i in found
            if min(r for r, held in enumerate(holders) if i in held) == rank
            and not all(i in held for held in holders)
        }
        gathered = dist.all_gather_object({"computed": computed, "stored": sent}, group)
    results = dict(found)
    pieces: dict[int, list[tuple[int, int, dict[str, Any]]]] = {}
    for r, bundle in enumerate(gathered):
        for i, result in bundle["stored"].items():
            results.setdefault(i, result)
        for (i, start), result in bundle["computed"].items():
            pieces.setdefault(i, []).append((start, r, result))
    whole = {todo[p.unit]: p.whole for parts in plan for p in parts}
    split = []  # (unit, the rank that ran its first part)
    for i, got in pieces.items():
        got.sort(key=lambda item: item[0])
        if whole[i]:
            results[i] = got[0][2]
        else:
            results[i] = merge_parts([result for _, _, result in got])
            split.append((i, got[0][1]))
    if cache is not None and keys is not None and split:
        for i, owner in split:
            if owner == rank:
                cache.save(keys[i], results[i])
        dist.barrier()  # every whole unit is on disk before its parts go
        for part in mine:
            if not part.whole:
                cache.remove(keys[part.unit], (part.start, part.stop))
    if cache is not None and keys is not None and dist.is_main_process():
        cache.prune_parts(keys)  # parts an interrupted run left that were split another way
    return {units[i]: results[i] for i in range(len(units))}


def _run_share(
    mine: list[Part],
    units: list[Unit],
    keys: list[dict[str, Any]] | None,
    cache: ResultCache | None,
    compute: Callable[[Unit, range | None], dict[str, Any]],
    progress: Any,
) -> dict[tuple[int, int], dict[str, Any]]:
    """Run (or, for parts, load) this rank's parts, writing each to the cache once finished."""
    computed: dict[tuple[int, int], dict[str, Any]] = {}
    for part in mine:
        unit, key = units[part.unit], keys[part.unit] if keys is not None else None
        span = None if part.whole else (part.start, part.stop)
        stored = cache.load(key, span) if cache is not None and span is not None else None
        if stored is None:
            progress.set_postfix_str(f"{unit.threat} {unit.attack or ''} eps={unit.eps:g}")
            stored = compute(unit, None if span is None else range(*span))
            if cache is not None:
                cache.save(key, stored, span)
        else:
            progress.update(part.stop - part.start)
        computed[(part.unit, part.start)] = stored
    return computed
