"""evaluate_robustness under torch.distributed: 2 gloo processes on the CPU give the report of one
process, bit for bit; a shared cache resumes a job whose rank was killed, recomputing only what
was lost. Plus the planner and the merging of parts, checked without processes."""

from __future__ import annotations

import itertools
import json
import os
import pickle
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed
import torch.multiprocessing as mp
from torch import nn

from hermes import _distributed as dist
from hermes.attacks import FGSM, PGD
from hermes.evaluation import AdaptiveSettings, evaluate_robustness
from hermes.evaluation._batches import BatchSource
from hermes.evaluation._cache import ResultCache
from hermes.evaluation._schedule import TOLERANCE, merge_parts, plan_parts
from hermes.evaluation._units import Unit, run_unit
from tests.evaluation.conftest import Blur, NoisyDefense, binary_data

WORLD = 2
SMALL_ADAPTIVE = AdaptiveSettings(apgd_steps=2, eot_samples=2, selection_draws=2)


# ---- run in the spawned processes -------------------------------------------------------------

_KILL = {"after": None}  # this process raises on its attack call number "after" + 1
_CALLS = [0]


class CountingPGD(nn.Module):
    """PGD that counts its calls (and raises when told to: a rank dying mid-run)."""

    def __init__(self, model: nn.Module, eps: float) -> None:
        super().__init__()
        self.pgd = PGD(model, eps, steps=2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if _KILL["after"] is not None and _CALLS[0] >= _KILL["after"]:
            raise RuntimeError("rank killed on purpose")
        _CALLS[0] += 1
        return self.pgd(x, y)


def counting_pgd(model: nn.Module, eps: float) -> CountingPGD:
    return CountingPGD(model, eps)


def _log_saves(out: Path, rank: int) -> None:
    """Record every unit or part file this rank writes (ResultCache.save skips existing ones)."""
    save = ResultCache.save

    def logged(self, unit, result, part=None):
        path = self._path({**unit, "batches": list(part)} if part else unit)
        if not path.exists():
            with open(out / f"writes-{rank}.txt", "a") as file:
                file.write(f"{path}\n")
        save(self, unit, result, part)

    ResultCache.save = logged


def _worker(rank, init_file, jobs, out, threads, kill) -> None:
    torch.set_num_threads(threads)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD
    )
    try:
        _log_saves(out, rank)
        if kill is not None and rank == kill[0]:
            _KILL["after"] = kill[1]
        for name, kwargs in jobs.items():
            if name == "differs":  # each rank given another seed: a mistake every rank reports
                try:
                    evaluate_robustness(progress=False, **dict(kwargs, seed=rank))
                except ValueError as error:
                    (out / f"differs-{rank}.txt").write_text(str(error))
                continue
            report = evaluate_robustness(progress=False, **kwargs)
            (out / f"{name}-{rank}.pkl").write_bytes(pickle.dumps(report))
        (out / f"calls-{rank}.txt").write_text(str(_CALLS[0]))
    except Exception as error:
        (out / f"error-{rank}.txt").write_text(str(error))
        raise
    finally:
        torch.distributed.destroy_process_group()


def spawn(tmp_path: Path, jobs: dict, tag: str, kill: tuple[int, int] | None = None) -> Path:
    out = tmp_path / tag
    out.mkdir()
    args = (str(tmp_path / f"rendezvous-{tag}"), jobs, out, torch.get_num_threads(), kill)
    mp.spawn(_worker, args=args, nprocs=WORLD, join=True)
    return out


def results(out: Path, name: str) -> list:
    return [pickle.loads((out / f"{name}-{r}.pkl").read_bytes()) for r in range(WORLD)]


def writes(out: Path) -> list[str]:
    return [
        line
        for r in range(WORLD)
        if (out / f"writes-{r}.txt").exists()
        for line in (out / f"writes-{r}.txt").read_text().split()
    ]


# ---- the tests --------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_gloo_processes_give_the_single_process_report_bit_for_bit(
    classifier, tmp_path
) -> None:
    data = binary_data(48, seed=4)
    common = dict(model=classifier, data=data, batch_size=8, seed=3)
    defenses = {"Blur": Blur(), "Noise": NoisyDefense()}
    jobs = {
        # 5 units of unequal cost: split whole across the ranks
        "grid": dict(
            common,
            attacks={"PGD": partial(PGD, steps=2), "FGSM": FGSM},
            epsilons=[0.02, 0.05],
            defenses=defenses,
            bootstrap=20,
            cache_dir=str(tmp_path / "grid-cache"),
        ),
        # 2 units on 2 ranks: cut into runs of batches
        "one-eps": dict(
            common,
            attacks={"PGD": partial(PGD, steps=2)},
            epsilons=[0.05],
            defenses=defenses,
            cache_dir=str(tmp_path / "one-eps-cache"),
        ),
        "adaptive": dict(
            common,
            attacks={"PGD": partial(PGD, steps=2)},
            epsilons=[0.03, 0.06],
            defenses=defenses,
            threat_model="adaptive",
            adaptive=SMALL_ADAPTIVE,
        ),
    }
    out = spawn(tmp_path, {**jobs, "differs": jobs["one-eps"]}, "run")
    for rank in range(WORLD):
        assert (
            "must get the same model, data and settings on every rank; rank(s) [1]"
            in (out / f"differs-{rank}.txt").read_text()
        )
    for name, kwargs in jobs.items():
        single = dict(kwargs, cache_dir=None)
        expected = evaluate_robustness(progress=False, **single)
        for report in results(out, name):  # every rank returns the whole report
            assert report == expected  # every field but timing, AUROC compared with ==
            for key in expected.auroc:
                assert report.auroc[key] == expected.auroc[key]
    assert expected.selection  # the adaptive job did run the worst case
    written = writes(out)
    assert len(written) == len(set(written))  # no file written by two ranks (or twice)
    grid_cache = tmp_path / "grid-cache"
    assert len(list(grid_cache.glob("unit-*.pt"))) == 5
    one_eps = tmp_path / "one-eps-cache"
    assert any(Path(name).name.startswith("part-") for name in written)  # it was split ...
    assert sorted(p.name for p in one_eps.glob("*.pt")) == sorted(
        p.name for p in one_eps.glob("unit-*.pt")
    )  # ... and only whole units remain
    assert len(list(one_eps.glob("unit-*.pt"))) == 2


@pytest.mark.slow
def test_a_killed_rank_resumes_from_the_shared_cache_recomputing_only_lost_units(
    classifier, tmp_path
) -> None:
    cache = tmp_path / "cache"
    job = dict(
        model=classifier,
        data=binary_data(24, seed=5),
        batch_size=8,  # 3 batches
        attacks={"PGD": counting_pgd},
        epsilons=[0.01, 0.02, 0.03, 0.04],
        defenses={"Blur": Blur()},
        cache_dir=str(cache),
    )
    # rank 1 dies at the start of its second attack unit, after writing its first
    with pytest.raises(mp.ProcessRaisedException):  # from rank 1, or rank 0 losing its peer
        spawn(tmp_path, {"grid": job}, "killed", kill=(1, 3))
    assert (tmp_path / "killed" / "error-1.txt").read_text() == "rank killed on purpose"
    survived = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.glob("unit-*.pt")}
    assert 1 <= len(survived) < 5
    attack_units_left = 4 - sum(
        '"attack": "PGD"' in torch.load(p, weights_only=True)["unit"] for p in survived
    )

    out = spawn(tmp_path, {"grid": job}, "resumed")
    expected = evaluate_robustness(progress=False, **dict(job, cache_dir=None))
    assert results(out, "grid") == [expected] * WORLD
    # the surviving files were read, not written again; only the lost units were computed
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in survived} == survived
    assert len(list(cache.glob("unit-*.pt"))) == 5
    units_written = [w for w in writes(out) if Path(w).name.startswith("unit-")]
    assert len(units_written) == 5 - len(survived)  # (a lone unit left is run in parts)
    calls = sum(int((out / f"calls-{r}.txt").read_text()) for r in range(WORLD))
    assert calls == 3 * attack_units_left


# ---- without processes: the pieces the distributed run is made of -----------------------------


def test_balanced_split_is_within_four_thirds_of_the_best_split() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        costs = (torch.rand(7, generator=g) * 10).round().tolist()
        for parts in (2, 3):
            groups = dist.balanced_split(costs, parts)
            assert sorted(i for group in groups for i in group) == list(range(7))
            busiest = max(sum(costs[i] for i in group) for group in groups)
            best = min(  # brute force over every assignment
                max(sum(c for c, a in zip(costs, assign) if a == p) for p in range(parts))
                for assign in itertools.product(range(parts), repeat=7)
            )
            assert busiest <= 4 / 3 * best + 1e-9
            assert dist.balanced_split(costs, parts) == groups  # deterministic


@pytest.mark.parametrize(
    ("costs", "n_batches", "world"),
    [
        ([3.0] * 9, 5, 2),
        ([1.0, 8.0], 6, 2),
        ([2.0, 30.0, 30.0], 4, 3),
        ([5.0], 7, 4),
        ([1.0], 2, 4),
    ],
)
def test_plan_parts_covers_every_batch_once_and_balances(costs, n_batches, world) -> None:
    plan = plan_parts(costs, n_batches, world)
    assert len(plan) == world
    covered = sorted((p.unit, b) for parts in plan for p in parts for b in range(p.start, p.stop))
    assert covered == [(u, b) for u in range(len(costs)) for b in range(n_batches)]
    for parts in plan:
        for p in parts:
            assert p.whole == (p.start == 0 and p.stop == n_batches)
    loads = [sum(costs[p.unit] * (p.stop - p.start) for p in parts) for parts in plan]
    single_batches = all(p.stop - p.start == 1 for parts in plan for p in parts)
    assert max(loads) <= TOLERANCE * sum(loads) / world or single_batches


@pytest.mark.parametrize("threat", ["gray-box", "adaptive", "clean"])
def test_a_unit_run_in_parts_equals_the_unit_run_whole(classifier, threat) -> None:
    source = BatchSource(binary_data(40, seed=6), 8)  # 5 batches
    defenses = {"None": nn.Identity(), "Blur": Blur(), "Noise": NoisyDefense()}
    unit = Unit(threat) if threat == "clean" else Unit(threat, "PGD", 0.05)
    factory = partial(PGD, steps=2)

    def run(batches=None):
        bar = type("Bar", (), {"update": lambda self, n: None})()
        return run_unit(
            unit,
            classifier,
            source,
            defenses,
            factory,
            7,
            torch.device("cpu"),
            bar,
            SMALL_ADAPTIVE,
            batches,
        )

    whole = run()
    merged = merge_parts([run(range(0, 2)), run(range(2, 3)), run(range(3, 5))])
    assert torch.equal(merged["labels"], whole["labels"])
    for t, per in whole["scores"].items():
        for d, s in per.items():
            assert torch.equal(merged["scores"][t][d], s)
    for d, per in whole["candidates"].items():
        for c, s in per.items():
            assert torch.equal(merged["candidates"][d][c], s)
    assert merged["wins"] == whole["wins"]
    assert [v[1] for v in merged["defense_seconds"].values()] == [
        v[1] for v in whole["defense_seconds"].values()
    ]


def test_without_a_process_group_every_helper_is_one_process() -> None:
    assert not dist.is_distributed()
    assert (dist.get_rank(), dist.get_world_size(), dist.is_main_process()) == (0, 1, True)
    assert dist.all_gather_object({"a": 1}) == [{"a": 1}]
    assert dist.main_first(lambda: 5) == 5
    assert dist.shard(list("abcd")) == list("abcd")
    assert dist.rank_device() == torch.device("cpu")


def test_local_rank_is_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert dist.get_local_rank() == 3
    monkeypatch.setenv("LOCAL_RANK", "x")
    with pytest.raises(ValueError, match="LOCAL_RANK must be an integer >= 0; got 'x'"):
        dist.get_local_rank()
    monkeypatch.delenv("LOCAL_RANK")
    assert dist.get_local_rank() == 0
    assert "LOCAL_RANK" not in os.environ


def test_parts_left_by_an_interrupted_run_are_deleted_once_their_unit_is_whole(
    classifier, tmp_path
) -> None:
    kwargs = dict(
        attacks={"FGSM": FGSM},
        epsilons=[0.05],
        batch_size=16,
        progress=False,
        cache_dir=str(tmp_path),
    )
    data = binary_data(32, seed=8)
    first = evaluate_robustness(classifier, data, **kwargs)
    cache = ResultCache(tmp_path, json.loads((tmp_path / "manifest.json").read_text()))
    unit_file = next(tmp_path.glob("unit-*.pt"))
    stored = torch.load(unit_file, weights_only=True)
    key = json.loads(stored.pop("unit"))
    cache.save(key, stored, part=(0, 1))  # as if split another way by a killed job
    (tmp_path / "part-0000000000000000.pt").write_bytes(b"damaged")
    other = dict(key, epsilon=0.5)  # a part of a unit this grid does not have: kept
    cache.save(other, stored, part=(0, 1))
    assert len(list(tmp_path.glob("part-*.pt"))) == 3
    assert evaluate_robustness(classifier, data, **kwargs) == first
    assert [p.name for p in tmp_path.glob("part-*.pt")] == [
        cache._path(dict(other, batches=[0, 1])).name
    ]
