"""``hermes train``: the same weights as ``fine_tune`` with the same settings."""

from __future__ import annotations

import json

import torch

from hermes.data import PCam
from hermes.models import AdversarialTraining, fine_tune, read_checkpoint, resnet18

from .conftest import invoke, write_yaml


def _config(pcam_root, output, **changes):
    config = {
        "output": str(output),
        "model": {"num_outputs": 1, "weights": None, "seed": 0},
        "train_data": {"root": str(pcam_root), "split": "train"},
        "val_data": {"root": str(pcam_root), "split": "valid"},
        "protocol": "lp",
        "lp_epochs": 1,
        "batch_size": 8,
        "augment": False,
        "seed": 5,
        "progress": False,
        "adversarial": {"method": "fast", "eps": 0.01, "val_steps": 1},
    }
    config.update(changes)
    return config


def test_train_equals_fine_tune(tmp_path, pcam_root):
    config = write_yaml(tmp_path / "train.yaml", _config(pcam_root, tmp_path / "run"))
    result = invoke("train", "--config", config)
    assert result.exit_code == 0, result.output

    model, history = fine_tune(
        resnet18(num_outputs=1, weights=None, seed=0),
        PCam(pcam_root, "train"),
        PCam(pcam_root, "valid"),
        protocol="lp",
        lp_epochs=1,
        batch_size=8,
        augment=False,
        seed=5,
        progress=False,
        adversarial=AdversarialTraining("fast", eps=0.01, val_steps=1),
    )
    saved = read_checkpoint(tmp_path / "run" / "model.pt")
    expected = model.state_dict()
    assert saved.state_dict.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(saved.state_dict[key], value.cpu()), key  # same seed, same weights
    stored = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [e["val_auroc"] for e in stored["epochs"]] == history.val_auroc
    assert saved.metadata["config"]["adversarial"]["method"] == "fast"
    assert (tmp_path / "run" / "config.yaml").exists()


def test_train_print_config_fills_fine_tune_defaults(tmp_path, pcam_root):
    config = write_yaml(tmp_path / "train.yaml", _config(pcam_root, tmp_path / "run"))
    result = invoke("train", "-c", config, "--print-config", "--set", "augment={erasing = 0.0}")
    assert result.exit_code == 0, result.output
    import yaml

    resolved = yaml.safe_load(result.stdout)
    assert resolved["lr_lp"] == 1e-3 and resolved["patience"] == 5  # fine_tune's defaults
    assert resolved["augment"]["erasing"] == 0.0 and resolved["augment"]["hflip"] == 0.5
    assert resolved["adversarial"]["beta"] == 6.0 and resolved["adversarial"]["steps"] is None
    assert not (tmp_path / "run").exists()


def test_train_errors(tmp_path, pcam_root):
    config = write_yaml(tmp_path / "train.yaml", _config(pcam_root, tmp_path / "run"))
    bad = invoke("train", "-c", config, "--set", "lp_epoch=2")
    assert bad.exit_code == 2 and "did you mean 'lp_epochs'?" in bad.output
    bad = invoke("train", "-c", config, "--set", "protocol=lpft")
    assert bad.exit_code == 2 and "did you mean 'lp-ft'?" in bad.output
    bad = invoke("train", "-c", config, "--set", "model.num_output=2")
    assert bad.exit_code == 2 and "did you mean 'model.num_outputs'?" in bad.output
    bad = invoke("train", "-c", config, "--set", f"val_data.root='{tmp_path / 'none'}'")
    assert bad.exit_code == 2 and "val_data.root" in bad.output


def test_build_model_by_name(tmp_path, pcam_root):
    config = write_yaml(tmp_path / "train.yaml", _config(pcam_root, tmp_path / "run"))
    result = invoke(
        "train",
        "-c",
        config,
        "--print-config",
        "--set",
        "model={name = 'resnet18', num_outputs = 2, seed = 0}",
    )
    assert result.exit_code == 0, result.output
    assert "name: resnet18" in result.stdout and "in_channels: 3" in result.stdout
