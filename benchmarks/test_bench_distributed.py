"""One evaluate_robustness grid on 2 gloo processes against 1 process, 1 CPU thread each.

Goal (issue 13): 2 processes finish the grid in <= 0.6x the time of 1 process (a scaling
efficiency of >= 0.83; the summary line's "x faster" should read >= 1.67). Both sides run in
processes started once (spawned, ``torch.set_num_threads(1)``) and kept for every round, so
neither pays for starting Python and importing torch inside the timing; a round is one whole
``evaluate_robustness`` call on every process, from the command to the last report, the
distributed bookkeeping (agreeing on the plan, gathering the scores, every rank assembling the
report) included. Measure on a machine with two free cores: other work on them shows directly in
the ratio.

    OMP_NUM_THREADS=1 pytest benchmarks/test_bench_distributed.py --benchmark-group-by=group
"""

from __future__ import annotations

import os
import tempfile
import time
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed
import torch.multiprocessing as mp
from torch import nn

from hermes import evaluate_robustness
from hermes.attacks import FGSM, PGD
from hermes.defenses import GaussianSmoothing, MedianSmoothing

N, BATCH, SIZE = 256, 32, 32
EPSILONS = [0.0, 0.01, 0.02, 0.03, 0.05]
GROUP = "grid-cpu-2-processes-vs-1-process"


def grid_inputs() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor], dict]:
    """The same model, data and grid in every process (built from fixed seeds)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * (SIZE // 4) ** 2, 1),
        ).eval()
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(N, 3, SIZE, SIZE, generator=g), torch.arange(N) % 2)
    grid = dict(
        attacks={"FGSM": FGSM, "PGD": partial(PGD, steps=5)},
        epsilons=EPSILONS,
        defenses={"Gaussian": GaussianSmoothing(3, 0.8), "Median": MedianSmoothing(3)},
        batch_size=BATCH,
        progress=False,
    )
    return model, data, grid


def _serve(rank: int, world: int, init_file: str, inboxes, outbox) -> None:
    torch.set_num_threads(1)
    if world > 1:
        torch.distributed.init_process_group(
            "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world
        )
    model, data, grid = grid_inputs()
    try:
        while inboxes[rank].get():
            wall, cpu = time.perf_counter(), time.process_time()
            report = evaluate_robustness(model, data, **grid)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            outbox.put((rank, report.auroc["Median", "PGD", 0.05], wall, cpu))
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()


class Pool:
    """``world`` processes that run the grid together whenever :meth:`run` is called."""

    def __init__(self, world: int) -> None:
        context = mp.get_context("spawn")
        self.world = world
        self.folder = tempfile.TemporaryDirectory()
        self.inboxes = [context.Queue() for _ in range(world)]
        self.outbox = context.Queue()
        init_file = str(Path(self.folder.name) / "rendezvous")
        self.processes = [
            context.Process(target=_serve, args=(rank, world, init_file, self.inboxes, self.outbox))
            for rank in range(world)
        ]
        for process in self.processes:
            process.start()

    def run(self) -> list[tuple[int, float, float, float]]:
        """Run the grid once on every process: (rank, one AUROC, seconds, CPU seconds) each."""
        for inbox in self.inboxes:
            inbox.put(True)
        return sorted(self.outbox.get(timeout=600) for _ in range(self.world))

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(False)
        for process in self.processes:
            process.join(timeout=60)
        self.folder.cleanup()


@pytest.fixture(scope="module")
def pools():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    made = {world: Pool(world) for world in (1, 2)}
    yield made
    for pool in made.values():
        pool.close()


def _record(benchmark, results) -> None:
    """CPU seconds per rank in the last round: how evenly the work was split, whatever else ran
    on the machine (wall time counts waiting for a core; CPU time does not)."""
    benchmark.extra_info["cpu_seconds_per_rank"] = [round(r[3], 3) for r in results]
    benchmark.extra_info["seconds_per_rank"] = [round(r[2], 3) for r in results]


@pytest.mark.benchmark(group=GROUP)
def test_bench_grid_1_process_1_thread(benchmark, pools) -> None:
    _record(benchmark, benchmark.pedantic(pools[1].run, rounds=3, warmup_rounds=1))


@pytest.mark.benchmark(group=GROUP)
def test_bench_hermes_grid_2_processes_1_thread_each(benchmark, pools) -> None:
    results = benchmark.pedantic(pools[2].run, rounds=3, warmup_rounds=1)
    _record(benchmark, results)
    single = pools[1].run()[0][1]
    assert [r[1] for r in results] == [single, single]  # every rank's report = one process's
