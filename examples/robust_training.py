"""Fix a broken model in the same library: standard vs PGD-AT vs TRADES training, and a
noise-trained model certified by randomized smoothing, all on one grid.

With no arguments (synthetic PCam, CPU, a few minutes on 2 cores; no downloads):

1. writes a small synthetic PatchCamelyon set (or reads the real files with ``--data-dir``) and
   crops the patches to their centre (the PCam label is about the central 32x32 pixels; a 48x48
   crop keeps it and makes CPU training four times cheaper; ``--crop 96`` keeps everything),
2. trains four ResNet-18s with the same budget: standard, PGD-AT (Madry et al. 2018), TRADES
   (Zhang et al. 2019), and Gaussian-noise training (for randomized smoothing),
3. evaluates the first three gray-box and adaptive (worst case) under PGD, undefended and behind
   median smoothing, and prints one table of the models side by side,
4. certifies the noise-trained model (Cohen et al. 2019) and sets its certified curve beside the
   smoothed classifier's accuracy under PGD-L2 + EOT,
5. writes the tables, JSON reports and two figures (the robustness-accuracy trade-off and the
   certified curves) to ``--output``.

    python examples/robust_training.py
    python examples/robust_training.py --data-dir /data/pcam --crop 96 --epochs 10 --device cuda
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import torch

import hermes
from hermes.attacks import PGD
from hermes.certify import RandomizedSmoothing, evaluate_certified
from hermes.data import PCam, make_synthetic_pcam
from hermes.defenses import MedianSmoothing
from hermes.evaluation import models_table
from hermes.models import (
    AdversarialTraining,
    fine_tune,
    resnet18,
    reuse_checkpoint,
    save_checkpoint,
)
from hermes.plotting import plot_certified_curves, plot_tradeoff


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Standard vs PGD-AT vs TRADES vs noise training, evaluated on one grid.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="real PCam files (optional)")
    parser.add_argument("--output", type=Path, default=Path("outputs/robust_training"))
    parser.add_argument("--n-train", type=int, default=256, help="training patches used")
    parser.add_argument("--n-eval", type=int, default=96, help="test patches evaluated")
    parser.add_argument("--n-certify", type=int, default=32, help="test patches certified")
    parser.add_argument("--crop", type=int, default=48, help="centre crop (96: whole patch)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs per model")
    parser.add_argument("--eps", type=float, default=0.03, help="training and headline budget")
    parser.add_argument("--train-steps", type=int, default=3, help="PGD steps while training")
    parser.add_argument("--pgd-steps", type=int, default=10, help="PGD steps while evaluating")
    parser.add_argument("--sigma", type=float, default=0.25, help="smoothing noise")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--noise-batch-size",
        type=int,
        default=16,
        help="training batch of the noise-trained model: small enough that BatchNorm's running "
        "statistics get enough updates to match noisy inputs",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def load_split(root: Path, split: str, n: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` patches of a split (the synthetic set is shuffled), centre-cropped."""
    data = PCam(root, split)
    images, labels = data.load(slice(0, min(n, len(data))))
    start = (images.shape[-1] - crop) // 2
    return images[..., start : start + crop, start : start + crop].contiguous(), labels


def train(
    args: argparse.Namespace, name: str, data, batch_size: int | None = None, **robust
) -> torch.nn.Module:
    """One ResNet-18 trained with the shared budget; reused from ``--output`` on a rerun."""
    batch_size = batch_size or args.batch_size
    settings = {
        "name": name,
        **{k: vars(args)[k] for k in ("n_train", "crop", "epochs", "eps", "train_steps", "seed")},
        "sigma": args.sigma if "noise_sigma" in robust else None,
        "batch_size": batch_size,
    }
    path = args.output / f"{name}.pt"
    model = reuse_checkpoint(path, settings)
    if model is None:
        model = resnet18(num_outputs=1, weights=None, seed=args.seed)
        model, history = fine_tune(
            model,
            data["train"],
            data["valid"],
            protocol="ft",
            ft_epochs=args.epochs,
            batch_size=batch_size,
            augment=False,
            device=args.device,
            seed=args.seed,
            patience=None,
            progress=not args.no_progress,
            **robust,
        )
        save_checkpoint(model, path, history=history, settings=settings)
    return model.to(args.device).eval()


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    # 1. Data: real PCam files, or a synthetic set in the same format.
    root = args.data_dir
    if root is None:
        root = out / "data"
        n_test = max(args.n_eval, args.n_certify)
        make_synthetic_pcam(root, n_train=args.n_train, n_valid=args.n_train // 4,
                            n_test=n_test, seed=args.seed, reuse=True)  # fmt: skip
    data = {
        "train": load_split(root, "train", args.n_train, args.crop),
        "valid": load_split(root, "valid", max(args.n_train // 4, 32), args.crop),
        "test": load_split(root, "test", max(args.n_eval, args.n_certify), args.crop),
    }

    # 2. Four models, one budget.
    steps = args.train_steps
    models = {
        "standard": train(args, "standard", data),
        "PGD-AT": train(args, "pgd_at", data, keep="robust",
                        adversarial=AdversarialTraining("pgd", eps=args.eps, steps=steps)),
        "TRADES": train(args, "trades", data, keep="robust",
                        adversarial=AdversarialTraining("trades", eps=args.eps, steps=steps)),
    }  # fmt: skip
    # With 256 patches, batches of 64 give BatchNorm 12 running-statistics updates in 3 epochs:
    # the noise-trained model's AUROC under noise is then high but its hard votes all go to one
    # class (evaluate_certified reports that). Smaller batches give it enough updates.
    noisy = train(args, "noise", data, args.noise_batch_size, noise_sigma=args.sigma)

    # 3. The grid, gray-box and adaptive, for each empirically defended model.
    test_x, test_y = data["test"]
    reports = {
        name: hermes.evaluate_robustness(
            model,
            (test_x[: args.n_eval], test_y[: args.n_eval]),
            attacks={"PGD": partial(PGD, steps=args.pgd_steps)},
            epsilons=[args.eps, 2 * args.eps],
            defenses={"Median": MedianSmoothing(3)},
            threat_model="both",
            batch_size=args.batch_size,
            seed=args.seed,
            progress=progress,
            cache_dir=out / "cache" / name,
        )
        for name, model in models.items()
    }
    for name, report in reports.items():
        report.to_json(out / f"report_{name}.json")
    lines = ["## Undefended, PGD, adaptive worst case (AUROC)", ""]
    lines.append(models_table(reports, attack="PGD [adaptive]"))
    lines += ["", "## Behind median smoothing, PGD gray-box (AUROC)", ""]
    lines.append(models_table(reports, attack="PGD", defense="Median"))
    lines += ["", "## Behind median smoothing, PGD adaptive worst case (AUROC)", ""]
    lines.append(models_table(reports, attack="PGD [adaptive]", defense="Median"))

    # 4. The smoothed classifier: certified curve beside the attacked one.
    smoothed = RandomizedSmoothing(noisy, sigma=args.sigma, batch_size=256)
    certified = evaluate_certified(
        smoothed,
        (test_x[: args.n_certify], test_y[: args.n_certify]),
        radii=[0.0, 0.125, 0.25, 0.5],
        n0=32,
        n=256,
        alpha=0.001,
        attack_steps=args.pgd_steps,
        eot_samples=4,
        vote_draws=32,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=progress,
    )
    certified.to_json(out / "certified.json")
    lines += ["", f"## Smoothed noise-trained model (sigma={args.sigma}), L2 radius", ""]
    lines.append(certified.table())

    # 5. What a reader looks at.
    text = "\n".join(lines)
    print(text)
    (out / "tables.md").write_text(text + "\n")
    plot_tradeoff(reports, attack="PGD [adaptive]", eps=args.eps, path=out / "tradeoff.png")
    plot_certified_curves(certified, path=out / "certified.png")
    print(f"\nwrote {out}/tables.md, report_*.json, certified.json, tradeoff.png, certified.png")
    return {"reports": reports, "certified": certified}


if __name__ == "__main__":
    main()
