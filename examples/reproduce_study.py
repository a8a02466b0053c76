"""Reproduce the HERMES study: two ResNet-18s (with and without augmentation), the full
FGSM/PGD x defense grid, Table 1, Table 2, the augmentation heatmaps and the AUROC curves.

Point it at the real PatchCamelyon files with ``--data-dir`` (any layout hermes.data.PCam finds:
the release's ``.h5``/``.h5.gz`` files or torchvision's ``pcam/`` folder); without it, a synthetic
PCam-format set is generated (synthetic H&E-like patches, for trying the pipeline, not for
conclusions). Interrupted runs resume: checkpoints trained with the same settings are reused (other
settings stop the run with an error, never a silent reuse) and every finished (attack, epsilon)
cell of the grid is cached under ``--output``.

    python examples/reproduce_study.py --data-dir /data/pcam --device cuda       # the study
    python examples/reproduce_study.py --n-eval 500 --pgd-steps 10               # a CPU taste
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import hermes
from hermes.data import PCam, make_synthetic_pcam
from hermes.models import fine_tune, resnet18, reuse_checkpoint, save_checkpoint
from hermes.plotting import plot_auroc_curves, plot_difference_heatmap
from hermes.study import (
    HEADLINE_DEFENSES,
    STUDY_EPSILONS,
    STUDY_PGD_STEPS,
    study_attacks,
    study_defenses,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Reproduce the HERMES study's training, attack/defense grid, tables and figures.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the PCam files; default: generate a synthetic set",
    )
    parser.add_argument("--output", type=Path, default=Path("outputs/study"))
    parser.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="stratified subset of the training split (default: all of it)",
    )
    parser.add_argument(
        "--n-eval",
        type=int,
        default=None,
        help="first N test patches (default: the study's 5000 with --data-dir, else the whole "
        "synthetic test split)",
    )
    parser.add_argument("--epsilons", type=float, nargs="+", default=list(STUDY_EPSILONS))
    parser.add_argument("--pgd-steps", type=int, default=STUDY_PGD_STEPS)
    parser.add_argument("--lp-epochs", type=int, default=10)
    parser.add_argument("--ft-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument(
        "--weights", default="imagenet", help='"imagenet", "none" or a weights file'
    )
    parser.add_argument(
        "--tvm-steps",
        type=int,
        default=None,
        help="TVM solver steps (default: TVM's, which matches the study's objective)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--synthetic-size",
        type=int,
        nargs=3,
        default=[4096, 1024, 1024],
        metavar=("TRAIN", "VALID", "TEST"),
        help="size of the synthetic set",
    )
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def data_root(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return args.data_dir
    root = args.output / "synthetic-pcam"
    n_train, n_valid, n_test = args.synthetic_size
    make_synthetic_pcam(
        root, n_train=n_train, n_valid=n_valid, n_test=n_test, seed=args.seed, reuse=True
    )
    return root


def trained_model(args: argparse.Namespace, root: Path, augment: bool) -> torch.nn.Module:
    """Train the LP-FT ResNet-18 with or without augmentation, or reuse the one trained with the
    same settings (a checkpoint trained with other settings stops the run with an error)."""
    path = args.output / f"resnet18-{'aug' if augment else 'noaug'}.pt"
    settings = {
        "data": str(root.resolve()),
        "augment": augment,
        **{k: vars(args)[k] for k in ("n_train", "lp_epochs", "ft_epochs", "batch_size", "seed")},
        "weights": str(args.weights),
    }
    model = reuse_checkpoint(path, settings)
    if model is not None:
        return model
    weights = None if args.weights.lower() == "none" else args.weights
    limit = {"limit": args.n_train, "stratify": True, "seed": args.seed} if args.n_train else {}
    model, history = fine_tune(
        resnet18(num_outputs=2, weights=weights, seed=args.seed),
        PCam(root, "train", **limit),
        PCam(root, "valid"),
        protocol="lp-ft",
        lp_epochs=args.lp_epochs,
        ft_epochs=args.ft_epochs,
        batch_size=args.batch_size,
        augment=augment,
        device=args.device,
        seed=args.seed,
        progress=not args.no_progress,
    )
    save_checkpoint(model, path, history=history, settings=settings)
    return model


def main(argv: list[str] | None = None) -> dict[str, hermes.RobustnessReport]:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    root = data_root(args)
    n_eval = args.n_eval
    if n_eval is None and args.data_dir is not None:
        n_eval = 5000  # the study evaluated the first 5000 test patches
    test = PCam(root, "test", limit=n_eval)
    reports = {}
    for name, augment in (("augmented", True), ("no-augmentation", False)):
        model = trained_model(args, root, augment)
        report = hermes.evaluate_robustness(
            model,
            test,
            attacks=study_attacks(args.pgd_steps),
            epsilons=[0.0, *args.epsilons],
            defenses=study_defenses(tvm_steps=args.tvm_steps),
            batch_size=args.batch_size,
            device=args.device,
            seed=args.seed,
            bootstrap=args.bootstrap,
            progress=not args.no_progress,
            cache_dir=args.output / f"cache-{name}",
        )
        report.metadata["name"] = name
        report.to_json(args.output / f"report-{name}.json")
        report.to_csv(args.output / f"grid-{name}.csv")
        plot_auroc_curves(report, path=args.output / f"curves-{name}.png")
        plot_auroc_curves(
            report,
            defenses=["None", *HEADLINE_DEFENSES],
            path=args.output / f"curves-{name}-headline.png",
        )
        reports[name] = report

    shown = [e for e in (0.01, 0.1) if e in args.epsilons] or args.epsilons[:2]
    table1 = reports["augmented"].table(epsilons=shown, attacks=["PGD"], show_ci=args.bootstrap > 0)
    difference = reports["augmented"].compare(reports["no-augmentation"])
    table2 = difference.table(epsilons=shown)
    for attack in difference.attacks:
        plot_difference_heatmap(
            difference, attack=attack, path=args.output / f"augmentation-heatmap-{attack}.png"
        )
    text = (
        f"# Table 1: AUROC, augmented model (PGD, n={len(test)})\n\n{table1}\n\n"
        f"# Table 2: AUROC difference, augmented minus no augmentation\n\n{table2}\n"
    )
    (args.output / "tables.md").write_text(text)
    print(text)
    print(f"wrote tables, reports, CSVs and figures to {args.output}")
    return reports


if __name__ == "__main__":
    main()
