"""Every example runs end to end in a fast mode (tiny sizes), so none of them rots."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.py")))
def test_help_works(name, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load(name).main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


TRAIN_FAST = ["--batch-size", "16", "--no-progress"]


def test_quickstart_fast(tmp_path, capsys) -> None:
    report = load("quickstart").main(
        [
            "--output",
            str(tmp_path),
            "--n-train",
            "64",
            "--n-eval",
            "16",
            "--lp-epochs",
            "1",
            "--ft-epochs",
            "1",
            "--epsilons",
            "0.01",
            "--pgd-steps",
            "1",
            *TRAIN_FAST,
        ]
    )
    out = capsys.readouterr().out
    assert "| Defense | Clean | FGSM ε=0.01 | PGD ε=0.01 |" in out
    assert report.defenses == ["None", "Gaussian", "Median", "JPEG", "TVM"]
    for name in (
        "grid.csv",
        "report.json",
        "auroc_vs_eps.png",
        "defenses.png",
        "adversarial.png",
        "resnet18.pt",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    # A second run reuses the checkpoint and the cached grid and gives the same numbers.
    again = load("quickstart").main(
        [
            "--output",
            str(tmp_path),
            "--n-eval",
            "16",
            "--epsilons",
            "0.01",
            "--pgd-steps",
            "1",
            *TRAIN_FAST,
        ]
    )
    assert again.auroc == report.auroc


def test_adaptive_attack_fast(tmp_path, capsys) -> None:
    report = load("adaptive_attack").main(
        [
            "--output",
            str(tmp_path),
            "--checkpoint",
            str(tmp_path / "model.pt"),
            "--n-train",
            "32",
            "--n-eval",
            "16",
            "--epochs",
            "1",
            "--epsilons",
            "0.01",
            "--pgd-steps",
            "1",
            "--eot-samples",
            "1",
            "--tvm-steps",
            "3",
            *TRAIN_FAST,
        ]
    )
    assert report.attacks == ["PGD", "PGD [adaptive]"]
    assert "adaptive minus gray-box" in capsys.readouterr().out
    assert (tmp_path / "gray_box_vs_adaptive.png").stat().st_size > 0


def test_reproduce_study_fast(tmp_path, capsys) -> None:
    reports = load("reproduce_study").main(
        [
            "--output",
            str(tmp_path),
            "--synthetic-size",
            "32",
            "16",
            "16",
            "--n-eval",
            "16",
            "--epsilons",
            "0.01",
            "0.1",
            "--pgd-steps",
            "1",
            "--lp-epochs",
            "1",
            "--ft-epochs",
            "1",
            "--weights",
            "none",
            "--tvm-steps",
            "2",
            "--bootstrap",
            "20",
            *TRAIN_FAST,
        ]
    )
    assert set(reports) == {"augmented", "no-augmentation"}
    assert len(reports["augmented"].defenses) == 1 + 14  # the study's grid and the baseline
    tables = (tmp_path / "tables.md").read_text()
    assert "# Table 1" in tables and "# Table 2" in tables
    for name in ("curves-augmented.png", "augmentation-heatmap-PGD.png", "report-augmented.json"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_defense_gallery_renders(tmp_path) -> None:
    path = load("defense_gallery").main(["--output", str(tmp_path / "gallery.png"), "--dpi", "40"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
