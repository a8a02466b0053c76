"""Render one histology patch through every defense at a few settings (docs/images/defenses.png).

The patch is a 96x96 crop of scikit-image's immunohistochemistry slide (bundled with
scikit-image, no download), the size of a PatchCamelyon patch. Each row is one defense, each
column one setting, from mild to strong; every panel's title gives its PSNR against the original.
A second column block shows the absolute change ``|defended - original|``, amplified, so what a
defense removes is visible.

    python examples/defense_gallery.py
    python examples/defense_gallery.py --output gallery.png --top 300 --left 40
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from skimage import data
from torch import nn

from hermes.defenses import JPEG, TVM, GaussianSmoothing, MedianSmoothing


def build_rows() -> dict[str, dict[str, nn.Module]]:
    """Defense -> setting label -> configured module, mildest setting first."""
    return {
        "Gaussian": {
            "k=3, sigma=0.4": GaussianSmoothing(3, 0.4),
            "k=3, sigma=0.8": GaussianSmoothing(3, 0.8),
            "k=5, sigma=0.8": GaussianSmoothing(5, 0.8),
        },
        "Median": {
            "window 3": MedianSmoothing(3),
            "window 5": MedianSmoothing(5),
            "window 7": MedianSmoothing(7),
        },
        "JPEG": {"q=90": JPEG(90), "q=50": JPEG(50), "q=10": JPEG(10)},
        "TVM": {
            "keep 0.3, lamb=0.03": TVM(keep_prob=0.3, lamb=0.03, generator=0),
            "keep 0.3, lamb=0.1": TVM(keep_prob=0.3, lamb=0.1, generator=0),
            "keep 0.3, lamb=0.5": TVM(keep_prob=0.3, lamb=0.5, generator=0),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Render a 96x96 histology patch through each hermes defense.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output", type=Path, default=Path("docs/images/defenses.png"))
    parser.add_argument("--top", type=int, default=120, help="crop row in the 512x512 slide")
    parser.add_argument("--left", type=int, default=300, help="crop column in the slide")
    parser.add_argument("--amplify", type=float, default=4.0, help="gain of the change panels")
    parser.add_argument("--dpi", type=int, default=90)
    return parser.parse_args(argv)


def load_patch(top: int, left: int) -> torch.Tensor:
    slide = np.ascontiguousarray(data.immunohistochemistry())
    if not (0 <= top <= slide.shape[0] - 96 and 0 <= left <= slide.shape[1] - 96):
        raise SystemExit(f"--top and --left must be in 0..{slide.shape[0] - 96}; got {top}, {left}")
    patch = torch.from_numpy(slide[top : top + 96, left : left + 96].copy())
    return (patch.permute(2, 0, 1).float() / 255).unsqueeze(0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else -10 * np.log10(mse)


def render(patch: torch.Tensor, rows: dict[str, dict[str, nn.Module]], amplify: float) -> Figure:
    """Original, defended panels and amplified-change panels: one row per defense."""
    n_settings = max(len(settings) for settings in rows.values())
    columns = 1 + 2 * n_settings
    fig = Figure(figsize=(1.6 * columns, 1.85 * len(rows)), layout="tight")
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    original = patch[0].permute(1, 2, 0).numpy()
    for row, (name, settings) in enumerate(rows.items()):
        axes[row, 0].imshow(original, interpolation="nearest")
        axes[row, 0].set_title(f"{name}\noriginal", fontsize=8)
        for col, (label, defense) in enumerate(settings.items()):
            with torch.no_grad():
                out = defense(patch)
            shown = out[0].permute(1, 2, 0).numpy()
            change = np.clip(np.abs(shown - original).mean(axis=2) * amplify, 0, 1)
            ax = axes[row, 1 + col]
            ax.imshow(shown, interpolation="nearest")
            ax.set_title(f"{label}\n{psnr(out, patch):.1f} dB", fontsize=8)
            ax = axes[row, 1 + n_settings + col]
            ax.imshow(change, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"|change| x{amplify:g}\n{label}", fontsize=8)
    return fig


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    fig = render(load_patch(args.top, args.left), build_rows(), args.amplify)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output}")
    return args.output


if __name__ == "__main__":
    main()
