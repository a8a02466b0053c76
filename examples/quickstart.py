"""hermes quickstart: train a ResNet-18 on synthetic PCam, attack it, defend it, report AUROC.

With no arguments (1 to 2.5 minutes on a 2-core CPU, no downloads):

1. writes a small synthetic PatchCamelyon set (H&E-like 96x96 patches; synthetic, not real data),
2. fine-tunes a ResNet-18 with linear probing then fine-tuning (LP-FT), augmentation on,
3. evaluates FGSM and PGD over a few epsilons against Gaussian, median, JPEG and TVM defenses
   (gray-box, as in the HERMES study),
4. prints the Table 1-style AUROC table and writes CSV, JSON and plots to ``--output``.

    python examples/quickstart.py
    python examples/quickstart.py --output runs/quick --n-eval 256 --device cuda
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import torch

import hermes
from hermes.attacks import FGSM, PGD
from hermes.data import PCam, make_synthetic_pcam
from hermes.defenses import JPEG, TVM, GaussianSmoothing, MedianSmoothing
from hermes.models import fine_tune, resnet18, reuse_checkpoint, save_checkpoint
from hermes.plotting import plot_adversarial_examples, plot_auroc_curves, plot_defense_gallery


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train on synthetic PCam, attack, defend, and report AUROC.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output", type=Path, default=Path("outputs/quickstart"))
    parser.add_argument("--n-train", type=int, default=384, help="synthetic training patches")
    parser.add_argument("--n-eval", type=int, default=128, help="test patches to attack")
    parser.add_argument("--lp-epochs", type=int, default=1)
    parser.add_argument("--ft-epochs", type=int, default=2)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.01, 0.03, 0.06])
    parser.add_argument("--pgd-steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> hermes.RobustnessReport:
    args = parse_args(argv)
    progress = not args.no_progress
    data_dir, out = args.output / "data", args.output
    out.mkdir(parents=True, exist_ok=True)

    # 1. Synthetic PCam files (same names, keys and format as the real release), written once.
    make_synthetic_pcam(
        data_dir,
        n_train=args.n_train,
        n_valid=args.n_train // 4,
        n_test=max(args.n_eval, 64),
        seed=args.seed,
        reuse=True,
    )
    train, valid = PCam(data_dir, "train"), PCam(data_dir, "valid")
    test = PCam(data_dir, "test", limit=args.n_eval)

    # 2. LP-FT fine-tuning (weights=None: no download; pass weights="imagenet" where you can).
    # A rerun reuses the model, unless it was trained with other settings (then: an error).
    checkpoint = out / "resnet18.pt"
    settings = {
        k: vars(args)[k] for k in ("n_train", "lp_epochs", "ft_epochs", "batch_size", "seed")
    }
    model = reuse_checkpoint(checkpoint, settings)
    if model is None:
        model = resnet18(num_outputs=1, weights=None, seed=args.seed)
        model, history = fine_tune(
            model,
            train,
            valid,
            protocol="lp-ft",
            lp_epochs=args.lp_epochs,
            ft_epochs=args.ft_epochs,
            batch_size=args.batch_size,
            augment=True,
            device=args.device,
            seed=args.seed,
            progress=progress,
        )
        save_checkpoint(model, checkpoint, history=history, settings=settings)
    model = model.to(args.device)

    # 3. The grid: gray-box attacks crafted once, scored through every defense.
    defenses = {
        "Gaussian": GaussianSmoothing(3, 0.8),
        "Median": MedianSmoothing(5),
        "JPEG": JPEG(50),
        "TVM": TVM(keep_prob=0.3),
    }
    report = hermes.evaluate_robustness(
        model,
        test,
        attacks={"FGSM": FGSM, "PGD": partial(PGD, steps=args.pgd_steps)},
        epsilons=[0.0, *args.epsilons],
        defenses=defenses,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        progress=progress,
        bootstrap=200,
        cache_dir=out / "cache",
    )

    # 4. What a reader looks at.
    print(report.table(show_ci=True))
    print("\nseconds per image:", {k: f"{v:.2e}" for k, v in report.timing["defense"].items()})
    report.to_csv(out / "grid.csv")
    report.to_json(out / "report.json")
    plot_auroc_curves(report, path=out / "auroc_vs_eps.png")
    images, labels = test.load(slice(0, 4))
    plot_defense_gallery(images[0], defenses, columns=5, path=out / "defenses.png")
    x_adv = PGD(model.cpu(), max(args.epsilons), steps=args.pgd_steps, generator=args.seed)(
        images, labels
    )
    plot_adversarial_examples(images, x_adv, path=out / "adversarial.png")
    print(f"\nwrote {out}/grid.csv, report.json, auroc_vs_eps.png, defenses.png, adversarial.png")
    return report


if __name__ == "__main__":
    main()
