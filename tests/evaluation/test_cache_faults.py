"""A damaged cache folder: unit files are recomputed, a damaged manifest stops the run with an
error that names the file and what to do (never a raw deserialisation traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hermes.attacks import PGD
from hermes.errors import CacheError
from hermes.evaluation import evaluate_robustness
from tests.evaluation.conftest import binary_data


def run(model, cache_dir: Path):
    return evaluate_robustness(
        model,
        binary_data(32, seed=3),
        attacks={"PGD": lambda m, e: PGD(m, e, steps=2, generator=0)},
        epsilons=[0.02, 0.05],
        batch_size=16,
        progress=False,
        cache_dir=str(cache_dir),
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # a write cut short by a crash
        lambda data: b"not a torch file at all",  # overwritten by something else
    ],
    ids=["truncated", "replaced"],
)
def test_a_damaged_unit_file_is_recomputed_with_a_warning(classifier, tmp_path, damage) -> None:
    first = run(classifier, tmp_path)
    units = sorted(tmp_path.glob("unit-*.pt"))
    assert len(units) == 3  # clean and two epsilons
    victim = units[1]
    victim.write_bytes(damage(victim.read_bytes()))
    with pytest.warns(RuntimeWarning, match=r"unit-.*\.pt'.*recomputing that unit"):
        again = run(classifier, tmp_path)
    assert again == first
    assert torch.load(victim, weights_only=True)["unit"]  # written anew, readable
    run(classifier, tmp_path)  # and a third run reads it without a warning


@pytest.mark.parametrize(
    "text",
    ['{"format": 3, "mod', "[1, 2]", ""],
    ids=["truncated", "not-an-object", "empty"],
)
def test_a_damaged_manifest_names_the_file_and_the_fix(classifier, tmp_path, text) -> None:
    run(classifier, tmp_path)
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(CacheError, match=r"manifest\.json' is damaged .*delete that folder"):
        run(classifier, tmp_path)
    assert isinstance(CacheError("x"), OSError)
