"""``hermes data synth``, ``hermes report``, ``hermes info``, ``--help`` and ``python -m hermes``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
import yaml

import hermes
from hermes.data import MedMNIST, PCam, make_synthetic_medmnist, make_synthetic_pcam
from hermes.evaluation import MetricGrid, RobustnessReport

from .conftest import evaluate_config, invoke, write_yaml

SUBCOMMANDS = [["data"], ["data", "synth"], ["train"], ["evaluate"], ["report"], ["info"]]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: hermes {' '.join(command)}")


def test_synth_pcam_equals_the_python_call(tmp_path):
    result = invoke(
        "data",
        "synth",
        "--set",
        f"root='{tmp_path / 'cli'}'",
        "--set",
        "n_train=3",
        "--set",
        "n_valid=2",
        "--set",
        "n_test=4",
        "--set",
        "seed=7",
    )
    assert result.exit_code == 0, result.output
    make_synthetic_pcam(tmp_path / "py", n_train=3, n_valid=2, n_test=4, seed=7)
    for split in ("train", "valid", "test"):
        cli, py = PCam(tmp_path / "cli", split), PCam(tmp_path / "py", split)
        assert torch.equal(cli.load(slice(None))[0], py.load(slice(None))[0])
        assert torch.equal(cli.labels, py.labels)
    saved = yaml.safe_load((tmp_path / "cli" / "config.yaml").read_text())
    assert saved["format"] == "pcam" and saved["seed"] == 7 and saved["label_noise"] == 0.03


def test_synth_medmnist_equals_the_python_call(tmp_path):
    config = write_yaml(
        tmp_path / "synth.yaml",
        {
            "format": "medmnist",
            "root": str(tmp_path / "cli"),
            "flag": "pneumoniamnist",
            "n_per_split": 4,
            "seed": 1,
        },
    )
    result = invoke("data", "synth", "-c", config)
    assert result.exit_code == 0, result.output
    make_synthetic_medmnist(tmp_path / "py", "pneumoniamnist", n_per_split=4, seed=1)
    cli, py = (MedMNIST(tmp_path / d, "pneumoniamnist", "test") for d in ("cli", "py"))
    assert torch.equal(cli[0][0], py[0][0]) and len(cli) == len(py) == 4


def test_synth_unknown_format(tmp_path):
    result = invoke("data", "synth", "--set", "format=medmnst", "--set", f"root='{tmp_path}'")
    assert result.exit_code == 2 and "did you mean 'medmnist'?" in result.output


def _report(values: dict, name: str) -> RobustnessReport:
    cells = {(d, "PGD", e): v for (d, e), v in values.items()}
    return RobustnessReport(auroc=MetricGrid("auroc", cells), n_samples=10, metadata={"name": name})


@pytest.fixture
def reports(tmp_path):
    a = _report(
        {("None", 0.0): 0.9, ("None", 0.01): 0.4, ("JPEG", 0.0): 0.85, ("JPEG", 0.01): 0.7}, "a"
    )
    b = _report(
        {("None", 0.0): 0.8, ("None", 0.01): 0.5, ("JPEG", 0.0): 0.85, ("JPEG", 0.01): 0.6}, "b"
    )
    return a.to_json(tmp_path / "a.json") and tmp_path / "a.json", (
        b.to_json(tmp_path / "b.json") and tmp_path / "b.json"
    )


def test_report_table_csv_json(reports, tmp_path):
    result = invoke(
        "report",
        reports[0],
        "--epsilon",
        "0.01",
        "--csv",
        tmp_path / "g.csv",
        "--json",
        tmp_path / "r.json",
    )
    assert result.exit_code == 0, result.output
    assert "| JPEG | 0.850 | 0.700 |" in result.stdout
    rows = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert {(r["defense"], float(r["epsilon"]), float(r["auroc"])) for r in rows} == {
        ("None", 0.0, 0.9),
        ("None", 0.01, 0.4),
        ("JPEG", 0.0, 0.85),
        ("JPEG", 0.01, 0.7),
    }
    assert RobustnessReport.from_json(tmp_path / "r.json") == RobustnessReport.from_json(reports[0])


def test_report_compare_is_the_cell_difference(reports):
    result = invoke("report", reports[0], "--compare", reports[1], "--digits", "2")
    assert result.exit_code == 0, result.output
    assert "| None | 0.10 | -0.10 |" in result.stdout  # 0.9-0.8, 0.4-0.5
    assert "| JPEG | 0.00 | 0.10 |" in result.stdout


def test_report_plot(reports, tmp_path):
    pytest.importorskip("matplotlib")
    result = invoke("report", reports[0], "--plot", tmp_path / "curves.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_report_bad_inputs(reports, tmp_path):
    assert invoke("report", tmp_path / "absent.json").exit_code == 2
    (tmp_path / "x.json").write_text("{}")
    bad = invoke("report", tmp_path / "x.json")
    assert bad.exit_code == 2 and "not a hermes RobustnessReport" in bad.output
    bad = invoke("report", reports[0], "--epsilon", "0.5")
    assert bad.exit_code == 2 and "unknown epsilon 0.5" in bad.output
    bad = invoke("report", reports[0], "--metric", "f1")
    assert bad.exit_code == 2


def test_info_versions_and_cache(tmp_path, pcam_root, checkpoint):
    config = evaluate_config(
        pcam_root,
        checkpoint,
        tmp_path / "out",
        cache_dir=str(tmp_path / "cache"),
        attacks={"FGSM": {}},
        defenses=None,
        epsilons=[0.0, 0.01],
    )
    assert invoke("evaluate", "-c", write_yaml(tmp_path / "c.yaml", config)).exit_code == 0
    result = invoke("info", "--cache-dir", tmp_path / "cache", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["versions"]["hermes"] == hermes.__version__
    assert info["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    units = sorted((tmp_path / "cache").glob("unit-*.pt"))
    assert info["cache"]["unit_files"] == len(units) == 2  # clean and FGSM at 0.01
    assert info["cache"]["manifest"]["threat_model"] == "gray-box"
    text = invoke("info", "--cache-dir", tmp_path / "cache")
    assert "unit_files: 2" in text.stdout and "threat_model: gray-box" in text.stdout
    assert invoke("info", "--cache-dir", tmp_path / "absent").exit_code == 2


@pytest.mark.slow  # a fresh interpreter imports torch: seconds
def test_python_dash_m_hermes():
    """``python -m hermes --help`` works, and ``import hermes`` (done first by ``-m``) does not
    import click: ``-X importtime`` lists each module when its import finishes, so click must
    come after the ``hermes`` package line."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hermes", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("data", "train", "evaluate", "report", "info"):
        assert command in done.stdout
    modules = [
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert modules.index("hermes") < modules.index("click")
    assert modules.index("hermes") < modules.index("hermes.cli")
