"""The shipped quick configs chain: synthetic data, training, evaluation, resumed evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hermes.evaluation import RobustnessReport

from .conftest import invoke

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.mark.slow
def test_quick_configs_run_end_to_end(tmp_path):
    data, model, out, cache = (tmp_path / n for n in ("data", "model", "evaluate", "cache"))
    steps = [
        ("data", "synth", "-c", CONFIGS / "data-quick.toml", "--set", f"root='{data}'",
         "--set", "n_train=16", "--set", "n_valid=8", "--set", "n_test=8"),
        ("train", "-c", CONFIGS / "train-quick.toml", "--no-progress",
         "--set", f"output='{model}'", "--set", f"train_data.root='{data}'",
         "--set", f"val_data.root='{data}'", "--set", "batch_size=8"),
        ("evaluate", "-c", CONFIGS / "quick.toml", "--no-progress",
         "--set", f"model='{model / 'model.pt'}'", "--set", f"data.root='{data}'",
         "--set", "data.limit=8", "--set", f"output='{out}'", "--set", f"cache_dir='{cache}'",
         "--set", "report.plot=true"),
    ]  # fmt: skip
    for step in steps:
        result = invoke(*step)
        assert result.exit_code == 0, (step[0], result.output)
    first = RobustnessReport.from_json(out / "report.json")
    assert first.attacks == ["FGSM", "PGD"] and first.metadata["name"] == "quick"
    assert (out / "curves.png").exists()
    units = sorted(p.name for p in cache.glob("unit-*.pt"))
    assert len(units) == 5  # clean + 2 attacks x 2 epsilons
    # the saved config repeats the run: every unit comes from the cache, nothing is recomputed
    again = invoke("evaluate", "-c", out / "config.yaml")
    assert again.exit_code == 0, again.output
    assert RobustnessReport.from_json(out / "report.json") == first
    assert sorted(p.name for p in cache.glob("unit-*.pt")) == units
