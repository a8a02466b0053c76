"""The Square attack (Andriushchenko, Croce, Flammarion & Hein 2020), L-inf and L2: random search
that uses the model's scores only.

"Square Attack: a query-efficient black-box adversarial attack via random search" (ECCV 2020)
changes a random square of the image at a time and keeps the change when the margin loss drops.
It needs no gradient, so a model that hides or breaks its gradient (a ``.detach()``, a
non-differentiable defense, saturated logits) does not slow it down: if Square beats a gradient
attack, the gradient attack was misled (gradient masking; Carlini et al. 2019). It is the
black-box member of AutoAttack.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hermes._losses import true_class_margin
from hermes._modes import eval_mode
from hermes._random import GeneratorLike, check_generator
from hermes._settings import setting
from hermes._validation import check_bool, check_choice, check_number, check_positive_int
from hermes.attacks._checks import normalize_norm
from hermes.attacks._gradients import Draws, outputs_over_draws
from hermes.attacks._projection import project
from hermes.attacks._square_updates import (
    Squares,
    iteration_draws,
    l2_init,
    l2_proposal,
    linf_init,
    linf_proposal,
    side_lengths,
)
from hermes.attacks.base import Attack, functional_form

__all__ = ["Square", "run_square", "square"]

LOSSES = ("margin", "ce")
#: The paper's initial square fractions: 0.8 (L-inf, as in AutoAttack) and 0.1 (L2).
DEFAULT_P_INIT = {"inf": 0.8, "2": 0.1}


def _check_p_init(p_init: object, name: str) -> float | None:
    return (
        None
        if p_init is None
        else check_number(p_init, name, low=0.0, low_inclusive=False, high=1.0)
    )


def _check_loss(loss: object, name: str) -> str:
    return check_choice(loss, name, LOSSES)


class _Objective:
    """Per-sample ``(f, m)`` from logits: ``f`` the loss the search lowers, ``m`` the margin
    objective (``<= 0``: the attack succeeded). Label checks happen once, on the first call, so
    the loop never waits for the device (no ``.item()``).

    Multi-label targets ``y`` ``(B, K)`` use the multi-label losses of :mod:`hermes._losses`:
    the margin is the smallest signed logit over the labels
    (:func:`~hermes._losses.true_class_margin`) and the CE is the BCE summed over the labels
    (:func:`~hermes._losses.classification_loss`), the objective the gradient attacks raise.
    """

    def __init__(self, y: torch.Tensor, loss: str, targeted: bool) -> None:
        self.y, self.loss, self.sign = y, loss, -1.0 if targeted else 1.0
        self.checked = False

    def __call__(
        self, logits: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.y if index is None else self.y[index]
        if not self.checked:
            true_class_margin(logits, y)  # checks the output's shape and the labels, once
            self.checked = True
        if y.ndim == 2:  # multi-label targets (B, K), checked against the logits above
            targets = y.to(logits.dtype)
            m = self.sign * torch.where(targets == 1, logits, -logits).amin(dim=1)
            if self.loss == "margin":
                return m, m
            bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(dim=1)
            return -self.sign * bce, m
        one_logit = logits.ndim == 1 or logits.shape[1] == 1
        if one_logit:
            z = logits.reshape(-1)
            margin = torch.where(y == 1, z, -z)  # true_class_margin, without its checks
        else:
            column = y.view(-1, 1)
            true = logits.gather(1, column).squeeze(1)
            margin = true - logits.scatter(1, column, float("-inf")).amax(dim=1)
        m = self.sign * margin
        if self.loss == "margin":
            return m, m
        if one_logit:
            ce = F.binary_cross_entropy_with_logits(z, y.to(z.dtype), reduction="none")
        else:
            ce = F.cross_entropy(logits, y, reduction="none")
        return -self.sign * ce, m


class _Search:
    """One call of :class:`Square`: the model, the images and everything the runs share."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        eps: float,
        queries: int,
        norm: str,
        p_init: float,
        loss: str,
        early_stop: bool,
        targeted: bool,
        draws: Draws,
    ) -> None:
        self.model, self.x, self.eps, self.norm = model, x, eps, norm
        self.early_stop, self.draws, self.rng = early_stop, draws, draws.rng
        self.objective = _Objective(y, loss, targeted)
        _, _, h, w = x.shape
        self.sides = side_lengths(p_init, queries, h, w, norm)
        self.squares = Squares(h, w, x.device, x.dtype)

    def evaluate(
        self,
        points: torch.Tensor,
        index: torch.Tensor | None = None,
        seeds: list[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f, m)`` of ``points`` (the samples ``index`` of the batch, or all of them),
        averaged over ``eot_samples`` seeded draws of a randomised model."""
        if not self.draws.eot:
            return self.objective(self.model(points), index)
        seeds = self.draws.seeds() if seeds is None else seeds
        pairs = [
            self.objective(out, index) for out in outputs_over_draws(self.model, seeds, points)
        ]
        return sum(f for f, _ in pairs) / len(seeds), sum(m for _, m in pairs) / len(seeds)

    def query(
        self, points: torch.Tensor, active: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Evaluate the active samples only (all when ``active`` is None); ``+inf`` elsewhere.
        ``None`` when no sample is active."""
        if active is None:
            return self.evaluate(points)
        index = active.nonzero().squeeze(1)
        count = index.numel()  # early stopping needs this one sync per query
        if count == 0:
            return None
        if count == points.shape[0]:
            return self.evaluate(points)
        f_part, m_part = self.evaluate(points[index], index)
        f = f_part.new_full((points.shape[0],), math.inf).index_copy(0, index, f_part)
        m = m_part.new_full((points.shape[0],), math.inf).index_copy(0, index, m_part)
        return f, m

    def point(self, state: torch.Tensor) -> torch.Tensor:
        """The image a search state stands for (L-inf keeps signs, L2 keeps the image)."""
        if self.norm == "inf":
            return (self.x + self.eps * state).clamp(0.0, 1.0)
        return state

    def run(
        self, active: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One random search from a fresh start. Returns the best point, its ``f`` and ``m``
        (``+inf`` for samples never active) and the samples still active at the end."""
        x = self.x
        if self.norm == "inf":
            state = linf_init(x, self.rng)
        else:
            state = l2_init(x, self.eps, self.rng)
        f, m = self.query(self.point(state), active)  # active is never empty here
        b, c, h, w = x.shape
        draws = iteration_draws(self.rng, self.sides, b, c, h, w, x.device, x.dtype)
        for draw in draws:
            if active is not None:
                active = active & (m > 0)
            if self.norm == "inf":
                window = self.squares.mask(draw.top, draw.left, draw.side)
                proposal = linf_proposal(state, window, draw)
            else:
                proposal = l2_proposal(x, state, self.eps, draw, self.squares)
            result = self.query(self.point(proposal), active)
            if result is None:
                break
            f_new, m_new = result
            better = f_new < f
            if self.early_stop:  # a success is kept even if the (CE) loss did not drop
                better |= m_new <= 0
            state = torch.where(better.view(-1, 1, 1, 1), proposal, state)
            f, m = torch.where(better, f_new, f), torch.where(better, m_new, m)
        if active is not None:
            active = active & (m > 0)
        return self.point(state), f, m, active


def run_square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool,
    queries: int,
    norm: str,
    p_init: float | None,
    loss: str,
    restarts: int,
    early_stop: bool,
    generator: GeneratorLike,
    eot_samples: int,
) -> torch.Tensor:
    """:class:`Square` on checked input (images, labels on ``x``'s device, and settings)."""
    if eps == 0.0 or x.shape[0] == 0:
        return x.detach().clone()
    x = x.detach()
    if y.ndim == 1:  # class indices; (B, K) multi-label targets stay floats
        y = y.long()
    search = _Search(
        model,
        x,
        y,
        eps,
        queries,
        norm,
        DEFAULT_P_INIT[norm] if p_init is None else p_init,
        loss,
        early_stop,
        targeted,
        Draws.of(model, generator, eot_samples),
    )
    with torch.no_grad(), eval_mode(model):
        active = torch.ones(x.shape[0], dtype=torch.bool, device=x.device) if early_stop else None
        # every restart's result is judged under the same draws of the model's randomness
        judge = search.draws.judge(restarts, count=eot_samples)
        best, best_f = None, None
        for _ in range(restarts):
            started = active
            point, f, _, active = search.run(active)
            if judge is not None:
                f = search.evaluate(point, seeds=judge)[0]
                if started is not None:
                    f = torch.where(started, f, math.inf)
            if best is None:
                best, best_f = point, f
            else:
                better = f < best_f
                best = torch.where(better.view(-1, 1, 1, 1), point, best)
                best_f = torch.where(better, f, best_f)
            if active is not None and not bool(active.any()):
                break
        return project(best, x, eps, norm)


class Square(Attack):
    """Square attack (Andriushchenko et al. 2020): score-based random search, L-inf or L2.

    No gradient is used, only the model's outputs (everything runs under ``torch.no_grad()``), so
    the attack works on models whose input gradient is cut or useless, where gradient attacks
    fail: a probe for gradient masking. All samples are searched in parallel; each iteration is
    one forward pass of the batch (one query per sample). :func:`square` is the same attack as a
    function, ``square(model, x, y, eps, ...)``.

    L-inf: start from vertical stripes ``x +- eps`` (a random sign per column and channel); each
    iteration sets, per sample, a random square of side ``s`` to ``x +- eps`` (a random sign per
    channel; signs that would change nothing are redrawn) and keeps it if the loss drops. L2:
    start from a grid of pseudo-Gaussian squares of norm ``eps``; each iteration moves the
    perturbation's mass from two random squares into the first one with a new pseudo-Gaussian
    pattern (the paper's Algorithm 3). ``s = round(sqrt(p * H * W))`` where ``p`` starts at
    ``p_init`` and halves after iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of
    10,000 (rescaled to ``queries``); see :func:`~hermes.attacks._square_updates.side_lengths`.

    With ``early_stop=False`` (the default) every sample is searched for the whole budget: its
    margin keeps dropping after it is misclassified, and AUROC, which ranks the scores, keeps
    dropping with it. ``early_stop=True`` stops querying a sample once it is misclassified (the
    paper's black-box setting, where queries are what counts).

    Multi-label targets ``y`` ``(B, K)`` (a model with ``K`` independent sigmoids) are attacked
    with the multi-label losses the gradient attacks use: ``loss="ce"`` raises the BCE summed
    over all ``K`` labels, ``loss="margin"`` lowers the smallest signed logit
    ``min_k (z_k if y_k == 1 else -z_k)``. The stopping rule is that margin's sign, as for the
    other tasks: untargeted, a sample counts as misclassified (and ``early_stop`` stops it) once
    any one of its labels is wrong, not only when every label has flipped; targeted, once every
    label matches its target. Without ``early_stop`` the search keeps raising the loss over all
    labels for the whole budget.

    Args:
        model: classifier on ``[0, 1]`` images returning one logit or ``K`` logits; its
            train/eval mode is restored afterwards and no gradient is left on its parameters.
        eps: budget in pixel units, ``>= 0``; ``0`` returns a copy of ``x``.
        queries: model evaluations per sample and restart, the initialisation included, ``>= 1``.
        norm: ``"inf"`` or ``2``.
        p_init: initial fraction of the image a square covers, in ``(0, 1]``; ``None`` takes
            the paper's ``0.8`` for L-inf (AutoAttack's setting) and ``0.1`` for L2.
        loss: ``"margin"`` (lower the true-class margin ``z_y - max_{j != y} z_j``, the signed
            logit of a one-logit model, or the smallest signed logit over multi-label targets)
            or ``"ce"`` (raise the cross-entropy, BCE for one logit, BCE summed over the labels
            for multi-label targets).
        restarts: independent runs from fresh starts; per sample the lowest loss is kept (with
            ``early_stop``, samples already misclassified are not run again).
        early_stop: stop querying a sample once it is misclassified (reaches the target); for
            multi-label targets, once any label is wrong (every label at its target).
        targeted: lower the loss towards target labels ``y`` instead.
        generator: ``torch.Generator`` or int seed for the starts, squares and signs and the
            EOT draws; ``None`` seeds a private generator from OS entropy. The global RNG is
            never used.
        eot_samples: for a randomised model (submodules with a ``generator`` attribute, such as
            :class:`~hermes.defenses.TVM`), average the loss over this many seeded draws of its
            randomness per query, so runs repeat. With ``restarts > 1`` a randomised model's
            restarts are compared under one shared set of draws.

    Attributes:
        gradient_free: ``True``: the attack never asks for a gradient (the evaluation grid's
            gradient-masking diagnostic looks for this flag).

    Shape:
        - x: ``(B, C, H, W)`` float images in ``[0, 1]``; never modified. Volumes are refused
          (the squares are 2D patches).
        - y: ``(B,)`` or ``(B, 1)`` integer labels, or ``(B, K)`` float multi-label targets of
          0/1, one per logit (true labels, or targets if ``targeted``).
        - output: ``(B, C, H, W)`` adversarial images in ``[0, 1]`` with
          ``||x_adv - x|| <= eps``, the dtype and device of ``x``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
        >>> with torch.no_grad():
        ...     _ = model[1].weight.copy_(torch.tensor([[1.0, -1.0, 0.5, 2.0]]))
        ...     _ = model[1].bias.zero_()
        >>> x = torch.full((1, 1, 2, 2), 0.5)
        >>> x_adv = square(model, x, torch.tensor([1]), eps=0.1, queries=30, generator=0)
        >>> (x_adv - x).flatten()  # the worst case: -0.1 * sign(w)
        tensor([-0.1000,  0.1000, -0.1000, -0.1000])
        >>> with torch.no_grad():  # the logit, before and after
        ...     print(f"{float(model(x)):.2f} -> {float(model(x_adv)):.2f}")
        1.25 -> 0.80
        >>> Square(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), eps=8 / 255, generator=0)
        Square(
          eps=0.0313725, targeted=False, queries=1000, norm=inf, p_init=None, loss=margin, restarts=1, early_stop=False, eot_samples=1
          (model): Sequential(
            (0): Flatten(start_dim=1, end_dim=-1)
            (1): Linear(in_features=3, out_features=2, bias=True)
          )
        )
        >>> Square.gradient_free
        True
    """

    gradient_free: ClassVar[bool] = True
    takes_volumes: ClassVar[bool] = False  # its squares are 2D patches
    queries: int = setting(check_positive_int, default=1000, kw_only=True)
    norm: str | float = setting(normalize_norm, "{}", default="inf", kw_only=True)
    p_init: float | None = setting(_check_p_init, default=None, kw_only=True)
    loss: str = setting(_check_loss, "{}", default="margin", kw_only=True)
    restarts: int = setting(check_positive_int, default=1, kw_only=True)
    early_stop: bool = setting(check_bool, default=False, kw_only=True)
    generator: GeneratorLike = setting(check_generator, default=None, shown=False, kw_only=True)
    eot_samples: int = setting(check_positive_int, default=1, kw_only=True)
    operation = staticmethod(run_square)


square = functional_form(Square)
