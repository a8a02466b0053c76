"""hermes quickstart: attack a small classifier with FGSM and PGD and watch its accuracy fall.

Runs in seconds on a CPU with data it makes itself (no downloads):

    python examples/quickstart.py
    python examples/quickstart.py --epsilons 0.01 0.05 0.1 --steps 20
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from hermes.attacks import FGSM, PGD


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """3x16x16 images; class 1 has a darker, purple-tinted centre (a crude 'tumour' cue)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.55 + 0.25 * torch.rand(n, 3, 16, 16, generator=g)
    tint = torch.tensor([-0.25, -0.35, -0.05]).view(1, 3, 1, 1) * y.view(-1, 1, 1, 1)
    x[:, :, 4:12, 4:12] += tint
    return x.clamp(0, 1), y


def train(x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 1),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(x).view(-1), y.float())
        loss.backward()
        opt.step()
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((model(x).view(-1) > 0).long() == y).float().mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.01, 0.03, 0.05, 0.1])
    parser.add_argument("--steps", type=int, default=10, help="PGD iterations")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x_train, y_train = make_data(512, args.seed)
    x_test, y_test = make_data(256, args.seed + 1)
    model = train(x_train, y_train, args.seed)
    print(f"clean accuracy: {accuracy(model, x_test, y_test):.3f}")
    print(f"{'eps':>6} {'FGSM':>6} {'PGD':>6}")
    for eps in args.epsilons:
        fgsm_acc = accuracy(model, FGSM(model, eps)(x_test, y_test), y_test)
        pgd = PGD(model, eps, steps=args.steps, generator=args.seed)
        pgd_acc = accuracy(model, pgd(x_test, y_test), y_test)
        print(f"{eps:>6.3f} {fgsm_acc:>6.3f} {pgd_acc:>6.3f}")


if __name__ == "__main__":
    main()
