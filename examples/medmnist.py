"""Beyond PatchCamelyon: the robustness grid on a MedMNIST task (multi-class, multi-label or 3D).

With no arguments (a generated stand-in for PathMNIST, CPU, a few minutes on 2 cores; no
downloads):

1. writes a small synthetic ``pathmnist.npz`` in the release's exact format (or reads the real
   files from ``--root``; ``--download`` lets the ``medmnist`` package fetch them),
2. trains a model from the registry (``--model``; ResNet-18 for 2D flags, a small 3D CNN for the
   3D ones) with full fine-tuning, for the task the flag has (9-class PathMNIST, 14-finding
   ChestMNIST, 11-organ OrganMNIST3D, ...),
3. evaluates PGD gray-box and adaptive (the adaptive cells add APGD through every gradient
   mode) against Gaussian and median smoothing (and JPEG for 2D images; JPEG and TVM are
   2D-only), with the macro AUROC per cell and each class's own,
4. prints the macro AUROC table and the per-class table of the undefended model, and writes the
   JSON/CSV report and two figures (AUROC curves, per-class curves) to ``--output``.

    python examples/medmnist.py
    python examples/medmnist.py --flag chestmnist
    python examples/medmnist.py --flag organmnist3d
    python examples/medmnist.py --flag dermamnist --root ~/.medmnist --size 64 --device cuda
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import torch

import hermes
from hermes.attacks import PGD
from hermes.data import MedMNIST, make_synthetic_medmnist
from hermes.defenses import JPEG, GaussianSmoothing, MedianSmoothing
from hermes.models import build_model, fine_tune, reuse_checkpoint, save_checkpoint
from hermes.plotting import plot_auroc_curves, plot_class_curves


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train a registry model on a MedMNIST flag and evaluate its robustness.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--flag", default="pathmnist", help="MedMNIST flag, 2D or 3D")
    parser.add_argument("--root", type=Path, default=None, help="folder of real .npz files")
    parser.add_argument("--download", action="store_true", help="fetch with the medmnist package")
    parser.add_argument("--size", type=int, default=28, help="image size of the files")
    parser.add_argument("--model", default=None, help="registry name (default per dimension)")
    parser.add_argument("--output", type=Path, default=Path("outputs/medmnist"))
    parser.add_argument("--n-train", type=int, default=512, help="training samples used")
    parser.add_argument(
        "--n-eval",
        type=int,
        default=None,
        help="test samples evaluated (default 128 for 2D flags, 64 for 3D: a 3D CNN's backward "
        "pass costs about 25x a 28x28 ResNet-18's on the CPU)",
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.03, 0.1])
    parser.add_argument("--pgd-steps", type=int, default=5)
    parser.add_argument("--threat-model", default="both", choices=["gray-box", "adaptive", "both"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def load(args: argparse.Namespace) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], MedMNIST]:
    """Train, validation and test tensors (the first samples of each split) and the test set."""
    if args.n_eval is None:
        args.n_eval = 64 if args.flag.lower().endswith("3d") else 128
    root = args.root
    if root is None:
        root = args.output / "data"
        counts = {"train": args.n_train, "val": max(args.n_train // 4, 64), "test": args.n_eval}
        make_synthetic_medmnist(root, args.flag, args.size, counts, seed=args.seed)
    splits = {
        s: MedMNIST(root, args.flag, s, args.size, download=args.download)
        for s in ("train", "val", "test")
    }
    limits = {"train": args.n_train, "val": max(args.n_train // 4, 64), "test": args.n_eval}
    data = {}
    for split, dataset in splits.items():
        images, labels = dataset.tensors()
        data[split] = (images[: limits[split]], labels[: limits[split]])
    return data, splits["test"]


def train(args: argparse.Namespace, data, test: MedMNIST) -> torch.nn.Module:
    """A registry model trained on the flag's task; reused from ``--output`` on a rerun."""
    volumes = len(test.image_shape) == 4
    name = args.model or ("cnn3d_small" if volumes else "resnet18")
    keys = ("flag", "root", "size", "model", "n_train", "epochs", "batch_size", "seed")
    settings = {k: str(vars(args)[k]) for k in keys}
    path = args.output / "model.pt"
    model = reuse_checkpoint(path, settings)
    if model is None:
        model = build_model(name, test.num_classes, in_channels=test.n_channels, seed=args.seed)
        model, history = fine_tune(
            model,
            data["train"],
            data["val"],
            protocol="ft",
            ft_epochs=args.epochs,
            batch_size=args.batch_size,
            augment=False,
            device=args.device,
            seed=args.seed,
            patience=None,
            progress=not args.no_progress,
        )
        save_checkpoint(model, path, history=history, settings=settings)
    return model.to(args.device).eval()


def main(argv: list[str] | None = None) -> hermes.RobustnessReport:
    args = parse_args(argv)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)

    # 1-2. Data in the release's format, and a model for the flag's task.
    data, test = load(args)
    print(f"{test.flag}: task {test.task}, {test.num_classes} outputs, images {test.image_shape}")
    model = train(args, data, test)

    # 3. The grid: gray-box and adaptive, macro and per-class AUROC.
    defenses = {"Gaussian": GaussianSmoothing(3, 0.8), "Median": MedianSmoothing(3)}
    if len(test.image_shape) == 3:  # JPEG is a codec of 2D images
        defenses["JPEG"] = JPEG(quality=75)
    report = hermes.evaluate_robustness(
        model,
        data["test"],
        attacks={"PGD": partial(PGD, steps=args.pgd_steps)},
        epsilons=args.epsilons,
        defenses=defenses,
        threat_model=args.threat_model,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.no_progress,
        cache_dir=out / "cache",
    )

    # 4. What a reader looks at.
    names = [test.label_names[k] for k in range(test.num_classes)] if report.n_classes else None
    worst = report.attacks[-1]
    text = f"## {test.flag} ({report.task}): macro AUROC\n\n{report.table()}"
    if report.n_classes:
        text += f"\n\n## Per class, no defense, {worst}\n\n"
        text += report.class_table("None", worst, class_names=names)
    print(text)
    (out / "tables.md").write_text(text + "\n")
    report.to_json(out / "report.json")
    report.to_csv(out / "report.csv")
    plot_auroc_curves(report, path=out / "auroc_curves.png")
    if report.n_classes:
        plot_class_curves(report, attack=worst, class_names=names, path=out / "class_curves.png")
    print(f"\nwrote {out}/tables.md, report.json, report.csv and the figures")
    return report


if __name__ == "__main__":
    main()
