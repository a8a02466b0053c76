"""Tiny synthetic PCam files, a checkpoint, and helpers to write configs and run the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from hermes.cli import cli
from hermes.data import make_synthetic_pcam
from hermes.models import resnet18, save_checkpoint


@pytest.fixture(scope="package")
def pcam_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pcam")
    make_synthetic_pcam(root, n_train=16, n_valid=8, n_test=16, seed=0)
    return root


@pytest.fixture(scope="package")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) one-logit ResNet-18: enough for comparing two runs cell by cell."""
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_checkpoint(resnet18(num_outputs=1, weights=None, seed=0).eval(), path)
    return path


def evaluate_config(pcam_root: Path, checkpoint: Path, output: Path, **changes: Any) -> dict:
    """A small evaluate config (as a dict, the way a TOML file would hold it)."""
    config = {
        "model": str(checkpoint),
        "output": str(output),
        "epsilons": [0.0, 0.02],
        "batch_size": 4,
        "seed": 3,
        "progress": False,
        "data": {"root": str(pcam_root), "split": "test", "limit": 8, "stratify": True},
        "attacks": {"FGSM": {"type": "FGSM"}, "PGD": {"type": "PGD", "steps": 1}},
        "defenses": {"Blur": {"type": "GaussianSmoothing", "kernel_size": 3, "sigma": 0.8}},
    }
    config.update(changes)
    return config


def write_yaml(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def invoke(*args: str) -> Result:
    """Run ``hermes ARGS`` in-process; exceptions become exit codes as they would for a user."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
