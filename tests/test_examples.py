"""Every example runs end to end in a fast mode (tiny sizes), so none of them rots."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hermes.data import make_synthetic_pcam

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
    args = [
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
    report = load("quickstart").main(args)
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
    # A second run reuses the data, the checkpoint and the cached grid: the same numbers.
    again = load("quickstart").main(args)
    assert again.auroc == report.auroc
    # Other training settings never reuse that model silently.
    changed = list(args)
    changed[changed.index("--ft-epochs") + 1] = "2"
    with pytest.raises(ValueError, match=r"other settings: ft_epochs 1 \(now 2\)"):
        load("quickstart").main(changed)
    with pytest.raises(ValueError, match=r"other arguments: n_train 64 \(now 96\)"):
        load("quickstart").main([*args, "--n-train", "96"])


def test_adaptive_attack_fast(tmp_path, capsys) -> None:
    report = load("adaptive_attack").main(
        [
            "--output",
            str(tmp_path),
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
            "--apgd-steps",
            "1",
            "--tvm-steps",
            "3",
            *TRAIN_FAST,
        ]
    )
    assert report.attacks == ["PGD", "PGD [adaptive]"]
    out = capsys.readouterr().out
    assert "## Adaptive: one gradient mode per defense" in out
    assert "## Adaptive: worst case" in out
    assert "| TVM | " in out and "PGD/unrolled" in out  # the candidate table
    assert "adaptive minus gray-box" in out
    assert not [d for d in report.diagnostics if d.check == "adaptive-weaker"]
    assert (tmp_path / "gray_box_vs_adaptive.png").stat().st_size > 0
    assert (tmp_path / "model.pt").stat().st_size > 0  # its own model, in its own folder


def test_reproduce_study_fast(tmp_path, capsys) -> None:
    args = [
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
    reports = load("reproduce_study").main(args)
    assert set(reports) == {"augmented", "no-augmentation"}
    assert len(reports["augmented"].defenses) == 1 + 14  # the study's grid and the baseline
    tables = (tmp_path / "tables.md").read_text()
    assert "# Table 1" in tables and "# Table 2" in tables
    for name in ("curves-augmented.png", "augmentation-heatmap-PGD.png", "report-augmented.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    # Pointed at other data, the run stops instead of reusing models trained on this set.
    other = tmp_path / "other-data"
    make_synthetic_pcam(other, n_train=8, n_valid=8, n_test=8, seed=1)
    with pytest.raises(ValueError, match=r"trained with other settings: data"):
        load("reproduce_study").main([*args, "--data-dir", str(other), "--n-eval", "8"])


def test_defense_gallery_renders(tmp_path) -> None:
    path = load("defense_gallery").main(["--output", str(tmp_path / "gallery.png"), "--dpi", "40"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_robust_training_fast(tmp_path, capsys) -> None:
    result = load("robust_training").main(
        [
            *("--output", str(tmp_path), "--n-train", "32", "--n-eval", "16", "--n-certify", "8"),
            *("--crop", "32", "--epochs", "1", "--train-steps", "1", "--pgd-steps", "1"),
            *TRAIN_FAST,
        ]
    )
    assert set(result["reports"]) == {"standard", "PGD-AT", "TRADES"}
    out = capsys.readouterr().out
    assert "| standard |" in out and "| TRADES |" in out  # one row per model
    assert "Smoothed noise-trained model" in out
    certified = result["certified"]
    assert certified.radii[0] == 0.0
    for name in ("tables.md", "certified.json", "tradeoff.png", "certified.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize(
    ("flag", "task", "classes"),
    [
        ("pathmnist", "multiclass", 9),
        ("chestmnist", "multilabel", 14),
        ("organmnist3d", "multiclass", 11),
    ],
)
def test_medmnist_fast(flag, task, classes, tmp_path, capsys) -> None:
    model = ["--model", "cnn3d_small"] if flag.endswith("3d") else ["--model", "resnet18"]
    report = load("medmnist").main(
        [
            *("--flag", flag, "--output", str(tmp_path), "--n-train", "32", "--n-eval", "16"),
            *("--epochs", "1", "--epsilons", "0.03", "--pgd-steps", "1"),
            *("--threat-model", "gray-box", *model),
            *TRAIN_FAST,
        ]
    )
    assert report.task == task and report.n_classes == classes
    assert ("JPEG" in report.defenses) == (not flag.endswith("3d"))  # JPEG is 2D-only
    out = capsys.readouterr().out
    assert f"## {flag} ({task}): macro AUROC" in out and "| macro |" in out
    for name in ("tables.md", "report.json", "report.csv", "auroc_curves.png", "class_curves.png"):
        assert (tmp_path / name).stat().st_size > 0
