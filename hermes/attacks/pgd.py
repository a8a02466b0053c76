"""Projected Gradient Descent (Madry et al. 2018), L-inf or L2: the operation, the module and
its function."""

from __future__ import annotations

import math

import torch
from torch import nn

from hermes._losses import classification_loss
from hermes._modes import eval_mode
from hermes._random import GeneratorLike, check_generator
from hermes._settings import setting
from hermes._validation import check_bool, check_number, check_positive_int
from hermes.attacks._checks import normalize_norm
from hermes.attacks._gradients import Draws, outputs_over_draws
from hermes.attacks._projection import ascent_step, project, random_start
from hermes.attacks.base import Attack, functional_form

__all__ = ["PGD", "default_alpha", "pgd", "run_pgd"]


def default_alpha(eps: float, steps: int) -> float:
    """PGD's default step size, ``2.5 * eps / steps`` (Madry et al. 2018).

    Example:
        >>> default_alpha(0.04, 10)
        0.01
    """
    return 2.5 * eps / steps


def _check_alpha(alpha: object, name: str) -> float | None:
    if alpha is None:
        return None  # the default, 2.5 * eps / steps, once eps and steps are known
    return check_number(alpha, name, low=0.0, high=math.inf, high_inclusive=False)


def run_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool,
    alpha: float | None,
    steps: int,
    norm: str,
    random_start: bool,
    restarts: int,
    generator: GeneratorLike,
    eot_samples: int,
) -> torch.Tensor:
    """:class:`PGD` on checked input (images, labels on ``x``'s device, and settings)."""
    if alpha is None:
        alpha = default_alpha(eps, steps)
    if eps == 0.0 or x.shape[0] == 0:
        return x.detach().clone()
    draws = Draws.of(model, generator, eot_samples)
    x = x.detach()
    with eval_mode(model):
        best, best_objective = None, None
        # every restart's result is judged under the same draw of the model's randomness
        judge = draws.judge(restarts) or [0]  # a model without randomness ignores the seed
        for _ in range(restarts):
            x_adv = _first_iterate(x, eps, norm, draws.rng if random_start else None)
            for _ in range(steps):
                grad = draws.gradient(model, x_adv, y, targeted=targeted)[0]
                x_adv = project(ascent_step(x_adv, grad, alpha, norm), x, eps, norm)
            if restarts == 1:
                return x_adv
            with torch.no_grad():
                loss = classification_loss(outputs_over_draws(model, judge, x_adv)[0], y)
            objective = -loss if targeted else loss
            if best is None:
                best, best_objective = x_adv, objective
            else:
                better = objective > best_objective
                best = torch.where(better.view(-1, 1, 1, 1), x_adv, best)
                best_objective = torch.where(better, objective, best_objective)
    return best


def _first_iterate(
    x: torch.Tensor, eps: float, norm: str, rng: torch.Generator | None
) -> torch.Tensor:
    """The first iterate: a random point of the ball when ``rng`` is given, else ``x`` itself."""
    return x.clone() if rng is None else random_start(x, eps, norm, rng)


class PGD(Attack):
    """Projected Gradient Descent (Madry et al., 2018) under an L-inf or L2 budget.

    Each of ``steps`` iterations takes a steepest-ascent step of size ``alpha`` (sign of the
    gradient for L-inf, the L2-normalised gradient for L2), projects onto the eps-ball around
    ``x`` and clips to ``[0, 1]``. With ``restarts > 1`` the attack is run that many times (each
    from its own random start) and, per sample, the final iterate with the highest objective
    (loss, or minus the loss when targeted) is kept. :func:`pgd` is the same attack as a
    function, ``pgd(model, x, y, eps, ...)``.

    Args:
        model: classifier on ``[0, 1]`` images; its train/eval mode is restored afterwards and
            no gradient is left on its parameters.
        eps: budget in pixel units, ``>= 0``; ``0`` returns a copy of ``x``.
        alpha: step size; default ``2.5 * eps / steps`` (resolved when the module is built).
        steps: number of iterations, ``>= 1``.
        norm: ``"inf"`` or ``2``.
        random_start: start from a uniform random point of the eps-ball.
        restarts: number of independent runs, ``>= 1``.
        targeted: minimise the loss towards target labels ``y``.
        generator: ``torch.Generator`` or int seed for the random starts and the EOT draws;
            ``None`` seeds a private generator from OS entropy. The global RNG is never used.
        eot_samples: Expectation over Transformation: average the gradient over this many
            draws of the model's randomness per step (for randomised defenses such as TVM in
            ``nn.Sequential(defense, model)``). Each draw seeds the randomised submodules (those
            with a ``generator`` attribute) from ``generator``, so runs are reproducible. A model
            whose randomness comes from elsewhere (torch's global RNG, say) still gets its
            ``eot_samples`` draws averaged, but only hermes' own draws are seeded.

    Shape:
        - x: ``(B, C, H, W)`` float images in ``[0, 1]`` (or volumes ``(B, C, D, H, W)``);
          never modified.
        - y: ``(B,)`` or ``(B, 1)`` integer labels, or ``(B, K)`` multi-label targets.
        - output: adversarial images of the shape of ``x`` in ``[0, 1]`` with
          ``||x_adv - x|| <= eps``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> x = torch.rand(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
        >>> x_adv = pgd(model, x, torch.tensor([0, 1, 2, 0]), eps=0.5, norm=2, generator=0)
        >>> bool(((x_adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-6).all())
        True
        >>> attack = PGD(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), eps=8 / 255, generator=0)
        >>> attack
        PGD(
          eps=0.0313725, targeted=False, alpha=0.00784314, steps=10, norm=inf, random_start=True, restarts=1, eot_samples=1
          (model): Sequential(
            (0): Flatten(start_dim=1, end_dim=-1)
            (1): Linear(in_features=3, out_features=2, bias=True)
          )
        )
    """

    alpha: float | None = setting(_check_alpha, "{:g}", default=None)
    steps: int = setting(check_positive_int, default=10)
    norm: str | float = setting(normalize_norm, "{}", default="inf")
    random_start: bool = setting(check_bool, default=True)
    restarts: int = setting(check_positive_int, default=1)
    generator: GeneratorLike = setting(check_generator, default=None, shown=False, kw_only=True)
    eot_samples: int = setting(check_positive_int, default=1, kw_only=True)
    operation = staticmethod(run_pgd)

    def __post_init__(self) -> None:
        if self.alpha is None:  # shown in repr, so resolved now
            self.alpha = default_alpha(self.eps, self.steps)


pgd = functional_form(PGD)
