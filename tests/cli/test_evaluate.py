"""``hermes evaluate``: the same report as the Python call, and runs repeated from saved configs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import yaml

import hermes
from hermes.attacks import FGSM, PGD
from hermes.cli._config import load_config
from hermes.cli.evaluate import build_evaluation, resolve_evaluation
from hermes.data import PCam
from hermes.defenses import GaussianSmoothing
from hermes.evaluation import RobustnessReport
from hermes.evaluation._cache import describe, factory_identity
from hermes.models import load_checkpoint
from hermes.study import study_attacks, study_defenses

from .conftest import evaluate_config, invoke, write_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def cli_run(pcam_root, checkpoint, tmp_path_factory) -> Path:
    """One CLI evaluation (TOML-equivalent YAML config, a cache folder); its output folder."""
    tmp = tmp_path_factory.mktemp("evaluate")
    config = evaluate_config(pcam_root, checkpoint, tmp / "out", cache_dir=str(tmp / "cache"))
    result = invoke("evaluate", "--config", write_yaml(tmp / "study.yaml", config))
    assert result.exit_code == 0, result.output
    return tmp / "out"


def test_evaluate_equals_the_python_call(cli_run, pcam_root, checkpoint):
    expected = hermes.evaluate_robustness(
        load_checkpoint(checkpoint),
        PCam(pcam_root, "test", limit=8, stratify=True),
        attacks={"FGSM": FGSM, "PGD": partial(PGD, steps=1)},
        epsilons=[0.0, 0.02],
        defenses={"Blur": GaussianSmoothing(3, 0.8)},
        batch_size=4,
        seed=3,
        progress=False,
    )
    got = RobustnessReport.from_json(cli_run / "report.json")
    assert got.defenses == ["None", "Blur"] and got.attacks == ["FGSM", "PGD"]
    for cell, value in expected.auroc.items():
        assert got.auroc[cell] == value, cell  # cell for cell, bit for bit
    assert got == RobustnessReport.from_json(expected.to_json())  # every field but timing
    assert (cli_run / "table.md").read_text().count("| Blur |") == 1
    assert (cli_run / "grid.csv").read_text().splitlines()[0].startswith("threat_model,defense")


def test_saved_config_repeats_the_run(cli_run, tmp_path):
    saved = cli_run / "config.yaml"
    again = tmp_path / "again"
    result = invoke(
        "evaluate", "--config", saved, "--set", f"output={again}", "--set", "cache_dir=null"
    )
    assert result.exit_code == 0, result.output
    first = RobustnessReport.from_json(cli_run / "report.json")
    assert RobustnessReport.from_json(again / "report.json") == first  # recomputed: no cache
    resolved_first, resolved_again = load_config(saved), load_config(again / "config.yaml")
    assert resolved_again.pop("output") == str(again)
    assert resolved_again.pop("cache_dir") is None
    resolved_first.pop("output"), resolved_first.pop("cache_dir")
    assert resolved_again == resolved_first


def test_saved_config_is_complete_and_absolute(cli_run, pcam_root):
    saved = load_config(cli_run / "config.yaml")
    assert saved["data"]["root"] == str(pcam_root.resolve())
    assert Path(saved["cache_dir"]).is_absolute()
    # defaults are written out, so a later change of hermes' defaults cannot change the run
    assert saved["threat_model"] == "gray-box" and saved["bootstrap"] == 0
    assert saved["defenses"]["Blur"]["gradient"] is None
    # attack tables keep only the keys given: the factory (and its cache identity) is unchanged
    assert saved["attacks"]["PGD"] == {"type": "PGD", "steps": 1}


def test_another_threat_model_than_the_cache_holds(cli_run, tmp_path):
    result = invoke(
        "evaluate",
        "--config",
        cli_run / "config.yaml",
        "--set",
        "threat_model=adaptive",
        "--set",
        f"output={tmp_path}",
    )
    assert result.exit_code == 2
    assert "cache_dir" in result.output and "threat_model" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "report.json").exists()


def _reproduce_study_defaults() -> dict:
    spec = importlib.util.spec_from_file_location(
        "reproduce_study", EXAMPLES / "reproduce_study.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module.parse_args(["--data-dir", "data/pcam"]))


def test_study_config_is_the_study_script(pcam_root, checkpoint):
    """examples/configs/study.toml builds exactly the evaluation examples/reproduce_study.py runs."""
    raw = load_config(EXAMPLES / "configs" / "study.toml")
    raw["model"], raw["data"]["root"] = str(checkpoint), str(pcam_root)
    raw["data"]["limit"] = 4  # the synthetic stand-in has 16 test patches, not 5000
    _, data, kwargs = build_evaluation(resolve_evaluation(raw))
    args = _reproduce_study_defaults()
    attacks = study_attacks(args["pgd_steps"])
    assert list(kwargs["attacks"]) == list(attacks)
    for name, factory in attacks.items():
        assert factory_identity(kwargs["attacks"][name]) == factory_identity(factory)
        assert describe(kwargs["attacks"][name]) == describe(factory)
    defenses = study_defenses(tvm_steps=args["tvm_steps"])
    assert {k: repr(v) for k, v in kwargs["defenses"].items()} == {
        k: repr(v) for k, v in defenses.items()
    }
    assert kwargs["epsilons"] == [0.0, *args["epsilons"]]
    for key in ("batch_size", "seed", "bootstrap"):
        assert kwargs[key] == args[key], key
    assert kwargs["threat_model"] == "gray-box" and raw["data"]["split"] == "test"
    assert isinstance(data, PCam) and data.split == "test"


def test_quick_config_resolves(pcam_root, checkpoint):
    raw = load_config(EXAMPLES / "configs" / "quick.toml")
    raw["model"], raw["data"]["root"] = str(checkpoint), str(pcam_root)
    tree = resolve_evaluation(raw)
    assert set(tree["attacks"]) == {"FGSM", "PGD"} and tree["threat_model"] == "gray-box"


def test_no_progress_flag_and_print_config(pcam_root, checkpoint, tmp_path):
    config = write_yaml(tmp_path / "c.yaml", evaluate_config(pcam_root, checkpoint, tmp_path))
    result = invoke(
        "evaluate", "-c", config, "--no-progress", "--set", "progress=true", "--print-config"
    )
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.stdout)
    assert resolved["progress"] is False  # --no-progress wins over --set
    assert not (tmp_path / "config.yaml").exists()  # --print-config runs nothing


@pytest.mark.slow
def test_torchrun_two_processes_give_the_same_report(cli_run, tmp_path):
    """``torchrun -m hermes evaluate``: the CLI joins the gloo group torchrun prepares, the grid
    is split across the ranks, and rank 0 writes the same report as one process."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "hermes", "evaluate", "--config", str(cli_run / "config.yaml"),
        "--set", f"output='{tmp_path / 'out'}'", "--set", f"cache_dir='{tmp_path / 'cache'}'",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote report.json") == 1  # rank 0 only
    two = RobustnessReport.from_json(tmp_path / "out" / "report.json")
    assert two == RobustnessReport.from_json(cli_run / "report.json")
    assert len(list((tmp_path / "cache").glob("unit-*.pt"))) == 3  # clean, FGSM, PGD: each once
