"""Bad command lines and configs: a clear message, no traceback, and the documented exit code."""

from __future__ import annotations

import functools

import pytest

import hermes
from hermes.cli import EXIT_CONFIG, EXIT_RUN

from .conftest import evaluate_config, invoke, write_yaml


def _config(tmp_path, pcam_root, checkpoint, **changes):
    return write_yaml(
        tmp_path / "c.yaml", evaluate_config(pcam_root, checkpoint, tmp_path / "out", **changes)
    )


def _fails(result, code, *fragments):
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


def test_exit_codes_are_click_conventions():
    assert (EXIT_CONFIG, EXIT_RUN) == (2, 1)


def test_unknown_subcommand_suggests_the_closest():
    _fails(invoke("evalute"), 2, "No such command 'evalute'", "evaluate")


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"epsilon": [0.0]}, ["unknown key 'epsilon'", "did you mean 'epsilons'?"]),
        (
            {"adaptive": {"eot_sample": 8}},
            ["unknown key 'adaptive.eot_sample'", "did you mean 'adaptive.eot_samples'?"],
        ),
        (
            {"attacks": {"PGD": {"type": "PGD", "step": 3}}},
            ["unknown key 'attacks.PGD.step'", "did you mean 'attacks.PGD.steps'?"],
        ),
        (
            {"attacks": {"PGD": {"type": "PDG"}}},
            ["attacks.PGD.type", "unknown attack 'PDG'", "did you mean 'PGD'?"],
        ),
        (
            {"defenses": {"Blur": {"type": "Gaussian"}}},
            ["unknown defense 'Gaussian'", "did you mean 'GaussianSmoothing'?"],
        ),
        ({"report": {"plots": True}}, ["unknown key 'report.plots'", "'report.plot'"]),
    ],
)
def test_unknown_key_names_it_and_suggests(tmp_path, pcam_root, checkpoint, changes, fragments):
    _fails(
        invoke("evaluate", "-c", _config(tmp_path, pcam_root, checkpoint, **changes)), 2, *fragments
    )


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("batch_size=big", ["key 'batch_size' must be an integer", "got the string 'big'"]),
        ("batch_size=true", ["key 'batch_size' must be an integer", "got the boolean true"]),
        ("epsilons=[0, 'a']", ["key 'epsilons[1]' must be a number", "'a'"]),
        ("adaptive.transfer=1", ["key 'adaptive.transfer' must be a boolean", "integer 1"]),
        ("data.limit=2.5", ["key 'data.limit' must be an integer", "2.5"]),
        ("attacks.PGD=3", ["key 'attacks.PGD' must be a table", "got 3"]),
    ],
)
def test_wrong_type_names_the_key_expected_and_got(
    tmp_path, pcam_root, checkpoint, override, fragments
):
    config = _config(tmp_path, pcam_root, checkpoint)
    _fails(invoke("evaluate", "-c", config, "--set", override), 2, *fragments)


def test_missing_data_folder(tmp_path, pcam_root, checkpoint):
    config = _config(tmp_path, pcam_root, checkpoint)
    missing = tmp_path / "nowhere"
    _fails(
        invoke("evaluate", "-c", config, "--set", f"data.root='{missing}'"),
        2,
        "data.root",
        "does not exist",
    )


def test_missing_checkpoint_and_config_file(tmp_path, pcam_root, checkpoint):
    config = _config(tmp_path, pcam_root, checkpoint)
    _fails(
        invoke("evaluate", "-c", config, "--set", "model='no-such.pt'"),
        2,
        "model",
        "no-such.pt",
        "does not exist",
    )
    _fails(invoke("evaluate", "-c", tmp_path / "absent.toml"), 2, "absent.toml", "does not exist")


def test_a_folder_without_data_files(tmp_path, pcam_root, checkpoint):
    config = _config(tmp_path, pcam_root, checkpoint)
    _fails(invoke("evaluate", "-c", config, "--set", f"data.root='{tmp_path}'"), 2, "data:")


def test_missing_required_key(tmp_path, pcam_root, checkpoint):
    raw = evaluate_config(pcam_root, checkpoint, tmp_path / "out")
    del raw["attacks"]
    _fails(
        invoke("evaluate", "-c", write_yaml(tmp_path / "c.yaml", raw)), 2, "missing key 'attacks'"
    )


def test_values_hermes_refuses(tmp_path, pcam_root, checkpoint):
    config = _config(tmp_path, pcam_root, checkpoint)
    _fails(
        invoke("evaluate", "-c", config, "--set", "threat_model=grey-box"),
        2,
        "threat_model must be one of",
    )
    _fails(
        invoke("evaluate", "-c", config, "--set", "attacks.PGD.steps=0"), 2, "attacks.PGD", "steps"
    )
    _fails(
        invoke("evaluate", "-c", config, "--set", "adaptive.eot_samples=0"),
        2,
        "adaptive",
        "eot_samples",
    )


def test_bad_config_files(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("epsilons = [0.0,\n")
    _fails(invoke("evaluate", "-c", broken), 2, "not valid TOML")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    _fails(invoke("evaluate", "-c", listed), 2, "must hold a table")
    other = tmp_path / "config.ini"
    other.write_text("[x]\n")
    _fails(invoke("evaluate", "-c", other), 2, ".toml, .yaml or .yml")


def test_malformed_override(tmp_path, pcam_root, checkpoint):
    config = _config(tmp_path, pcam_root, checkpoint)
    _fails(invoke("evaluate", "-c", config, "--set", "seed"), 2, "KEY=VALUE")
    _fails(invoke("evaluate", "-c", config, "--set", "seed.value=1"), 2, "'seed'", "not a table")


def test_a_failure_during_the_run_exits_1(tmp_path, pcam_root, checkpoint, monkeypatch):
    @functools.wraps(hermes.evaluate_robustness)  # same signature: same config keys
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("hermes.cli.evaluate.evaluate_robustness", broken)
    config = _config(tmp_path, pcam_root, checkpoint)
    _fails(
        invoke("evaluate", "-c", config),
        1,
        "evaluate_robustness failed",
        "RuntimeError: CUDA out of memory",
        "--debug",
    )
    debug = invoke("--debug", "evaluate", "-c", config)  # the traceback for the developer
    assert debug.exit_code == 1 and isinstance(debug.exception, RuntimeError)
