"""fine_tune under torch.distributed: 2 gloo processes on the CPU train to the weights of one
process with the same global batch (float tolerance), only rank 0 shows progress and writes the
checkpoint, and a global batch that does not split across the ranks is refused by name. Plus the
split of the global batches, checked without processes."""

from __future__ import annotations

import io
import pickle
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

from hermes import _distributed as dist
from hermes.models import fine_tune
from hermes.models._training_inputs import RankBatches

WORLD = 2
# 29 samples, global batch 8: three full batches (4 + 4 per rank) and a last one of 5 (2 + 3),
# so the loss weighting of an uneven split is exercised too.
N_TRAIN, BATCH = 29, 8
SETTINGS = {
    "protocol": "lp-ft",
    "lp_epochs": 1,
    "ft_epochs": 2,
    "batch_size": BATCH,
    "augment": False,
    "seed": 5,
    "patience": None,
    "head": "fc",
}


class TinyNet(nn.Module):
    """A small conv net without BatchNorm: (B, 3, 16, 16) -> (B, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def tiny_model() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()


def task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.7 * torch.rand(n, 3, 16, 16, generator=generator)
    x[:, 0] += 0.03 * y[:, None, None]  # a weak signal: every epoch improves the AUROC
    return x, y


TRAIN, VAL = task(N_TRAIN, 0), task(64, 1)


# ---- run in the spawned processes -------------------------------------------------------------


def _worker(rank: int, init_file: str, out: Path) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD
    )
    try:
        stderr, sys.stderr = sys.stderr, io.StringIO()  # what the progress bars write
        try:
            model, history = fine_tune(tiny_model(), TRAIN, VAL, progress=True, **SETTINGS)
        finally:
            bars, sys.stderr = sys.stderr.getvalue(), stderr
        state = {k: v.clone() for k, v in model.state_dict().items()}
        result = {"type": type(model).__name__, "state": state, "history": history, "bars": bars}
        (out / f"result-{rank}.pkl").write_bytes(pickle.dumps(result))
        if dist.is_main_process():  # the documented way to save: rank 0 only
            torch.save(model.state_dict(), out / "checkpoint.pt")
        try:
            fine_tune(tiny_model(), TRAIN, VAL, progress=False, **{**SETTINGS, "batch_size": 7})
        except ValueError as error:
            (out / f"bad-batch-{rank}.txt").write_text(str(error))
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(str(out / "rendezvous"), out), nprocs=WORLD, join=True)
    return out


def results(out: Path) -> list[dict]:
    return [pickle.loads((out / f"result-{r}.pkl").read_bytes()) for r in range(WORLD)]


# ---- the tests --------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_gloo_processes_train_the_weights_of_one_process_with_the_global_batch(
    two_ranks,
) -> None:
    torch.set_num_threads(1)
    model, history = fine_tune(tiny_model(), TRAIN, VAL, progress=False, **SETTINGS)
    expected = model.state_dict()
    assert history.best_index == 2  # the last FT epoch is kept: both phases are compared
    for result in results(two_ranks):
        assert result["type"] == "TinyNet"  # the plain model, not the DDP wrapper
        assert result["state"].keys() == expected.keys()
        for key, value in expected.items():
            torch.testing.assert_close(result["state"][key], value, rtol=1e-4, atol=1e-6)
        got = result["history"]
        assert [(r.phase, r.epoch) for r in got.epochs] == [("lp", 1), ("ft", 1), ("ft", 2)]
        assert got.best_index == history.best_index
        for mine, theirs in zip(got.epochs, history.epochs, strict=True):
            assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-5)
            assert mine.val_auroc == pytest.approx(theirs.val_auroc, abs=1e-9)
    rank0, rank1 = results(two_ranks)
    for key, value in rank0["state"].items():  # the ranks agree exactly
        assert torch.equal(value, rank1["state"][key])
    assert rank0["history"] == rank1["history"]


@pytest.mark.slow
def test_only_rank_0_shows_progress_and_writes_the_checkpoint(two_ranks) -> None:
    rank0, rank1 = results(two_ranks)
    assert "fine-tune" in rank0["bars"]
    assert rank1["bars"] == ""
    assert sorted(p.name for p in two_ranks.glob("*.pt")) == ["checkpoint.pt"]
    saved = torch.load(two_ranks / "checkpoint.pt", weights_only=True)
    for key, value in rank0["state"].items():
        assert torch.equal(saved[key], value)


@pytest.mark.slow
def test_a_global_batch_that_does_not_split_across_the_ranks_names_batch_size(
    two_ranks,
) -> None:
    for rank in range(WORLD):
        message = (two_ranks / f"bad-batch-{rank}.txt").read_text()
        assert "batch_size" in message and "divisible" in message and "got batch_size=7" in message


@pytest.mark.parametrize(("n", "batch_size", "world"), [(29, 8, 2), (32, 8, 4), (10, 6, 3)])
def test_the_ranks_shares_make_up_the_single_process_batches(n, batch_size, world) -> None:
    def single() -> list[list[int]]:
        sampler = RandomSampler(range(n), generator=torch.Generator().manual_seed(3))
        return [b for _ in range(2) for b in BatchSampler(sampler, batch_size, drop_last=False)]

    shares = []
    for rank in range(world):
        sampler = RandomSampler(range(n), generator=torch.Generator().manual_seed(3))
        batches = RankBatches(sampler, batch_size, rank=rank, world=world)
        epochs = []
        for epoch in range(2):
            batches.set_epoch(epoch)
            epochs += list(batches)
        shares.append(epochs)
    joined = [[index for share in shares for index in share[i]] for i in range(len(shares[0]))]
    assert joined == single()
    sizes = {len(share[0]) for share in shares}
    assert sizes == {batch_size // world}


def test_rank_batches_refuse_an_epoch_out_of_step() -> None:
    batches = RankBatches(SequentialSampler(range(4)), 2, rank=0, world=2)
    list(batches)
    with pytest.raises(RuntimeError, match="pass 1 comes next, not pass 0"):
        batches.set_epoch(0)
