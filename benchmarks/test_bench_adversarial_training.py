"""One PGD-AT epoch against one standard epoch of ``fine_tune`` on the same model and data.

PGD-AT with ``steps`` crafting steps does ``steps`` forward+backward passes (gradient with respect
to the input only) per batch before the ordinary training step, so the issue's bound is

    PGD-AT epoch time <= (steps + 1) x standard epoch time x 1.1

(the attack is the cost, nothing else). Both runs are a one-epoch ``fine_tune(protocol="ft")``
of a ResNet-18 (random weights, one logit) over 256 images of 32x32 in batches of 32, with a
two-image validation set (the robust validation attack gets one step) so that validation adds
almost nothing to either. The PGD-AT entry stores its time ratio to the standard epoch and the
bound in ``extra_info`` (``--benchmark-json``), and ``benchmarks/conftest.py`` prints the ratio
of the two as "standard ... x faster" (the inverse).

    OMP_NUM_THREADS=1 pytest benchmarks/test_bench_adversarial_training.py \
        --benchmark-group-by=group --benchmark-timer=time.process_time
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from hermes.models import AdversarialTraining, fine_tune, resnet18

STEPS = 10
EPS = 8 / 255
GROUP = "fine-tune epoch: ResNet-18 32px, 256 images, batch 32"
BOUND = (STEPS + 1) * 1.1
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def data() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(258, 3, 32, 32, generator=g)
    y = torch.arange(258) % 2
    return (x[:256], y[:256]), (x[256:], y[256:])


def fresh_model(data, adversarial: AdversarialTraining | None) -> tuple[tuple, dict]:
    """``pedantic``'s setup: a new model for every round (fine_tune trains in place), untimed."""
    return (resnet18(num_outputs=1, weights=None, seed=0, progress=False), data, adversarial), {}


def one_epoch(model, data, adversarial: AdversarialTraining | None) -> float:
    train, val = data
    _, history = fine_tune(
        model,
        train,
        val,
        protocol="ft",
        ft_epochs=1,
        batch_size=32,
        augment=False,
        progress=False,
        seed=0,
        adversarial=adversarial,
    )
    return history.epochs[0].train_loss


def _record(benchmark, name: str) -> None:
    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    if stats is not None:
        _TIMES[name] = stats.stats.min


@pytest.mark.benchmark(group=GROUP)
def test_bench_standard_epoch(benchmark, data) -> None:
    setup = partial(fresh_model, data, None)
    loss = benchmark.pedantic(one_epoch, setup=setup, rounds=3, warmup_rounds=1)
    assert loss > 0
    _record(benchmark, "standard")


@pytest.mark.benchmark(group=GROUP)
def test_bench_hermes_pgd_at_epoch(benchmark, data) -> None:
    setting = AdversarialTraining("pgd", EPS, steps=STEPS, val_steps=1)
    setup = partial(fresh_model, data, setting)
    loss = benchmark.pedantic(one_epoch, setup=setup, rounds=3, warmup_rounds=1)
    assert loss > 0
    _record(benchmark, "pgd-at")
    if {"standard", "pgd-at"} <= _TIMES.keys():
        ratio = _TIMES["pgd-at"] / _TIMES["standard"]
        benchmark.extra_info.update(
            {"ratio_to_standard_epoch": round(ratio, 3), "bound": BOUND, "steps": STEPS}
        )
