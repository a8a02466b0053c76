"""The robust-training protocol that :func:`hermes.models.fine_tune` follows when given one.

Three protocols, each training on examples crafted on the fly against the model being trained:

- ``"pgd"``: PGD adversarial training (Madry et al. 2018). Every training batch is replaced by
  its PGD examples (random start, ``steps`` steps of size ``alpha``) and the model minimises the
  classification loss on them (the task's: BCE, cross-entropy, or BCE summed over the labels of
  multi-label targets).
- ``"trades"``: TRADES (Zhang et al. 2019). The loss is the clean classification loss plus
  ``beta`` times the KL divergence from the clean output distribution to the output on an
  adversarial example, which PGD crafts to maximise that KL. The distribution follows the task:
  Bernoulli (sigmoid) for one logit, categorical (softmax) for ``K`` logits with class-index
  labels, and one Bernoulli per label (the KL summed over the labels) for ``(B, K)`` multi-label
  targets.
- ``"fast"``: fast adversarial training (Wong, Rice & Kolter 2020): one FGSM step of size
  ``alpha = 1.25 * eps`` from a uniform random point of the eps-ball.

The examples are crafted with the model in eval mode (see :class:`AdversarialTraining`).

Example:
    >>> setting = AdversarialTraining("pgd", eps=8 / 255, warmup_epochs=4)
    >>> setting.steps, round(setting.alpha * 255, 3)
    (10, 2.0)
    >>> [round(setting.eps_at(epoch) * 255, 3) for epoch in (1, 2, 4, 9)]
    [2.0, 4.0, 8.0, 8.0]
    >>> AdversarialTraining("fast", eps=0.03).alpha == 1.25 * 0.03
    True
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass
from typing import Any

from hermes._validation import check_bool, check_choice, check_number, check_positive_int
from hermes.attacks._checks import normalize_norm
from hermes.attacks.functional import default_alpha

__all__ = ["METHODS", "AdversarialTraining"]

METHODS: tuple[str, ...] = ("pgd", "trades", "fast")
"""The robust-training protocols :class:`AdversarialTraining` knows."""

_FAST_STEP = 1.25
"""Fast AT's step size as a multiple of eps (Wong, Rice & Kolter 2020)."""


def _check_eps(value: Any, name: str) -> float:
    return check_number(
        value, name, low=0.0, low_inclusive=False, high=math.inf, high_inclusive=False
    )


@dataclass(frozen=True)
class AdversarialTraining:
    """How :func:`~hermes.models.fine_tune` crafts its training examples and scores robustness.

    Every value is checked when the object is built (a bad one raises an error naming it), and
    the defaults left as ``None`` are resolved then, so the object shows what will run.

    Crafting mode: training examples are crafted with the model in **eval mode** (its own
    train/eval flags are restored afterwards), as the TRADES reference code does. In train mode
    each of the ``steps`` crafting passes would update BatchNorm's running statistics with
    half-finished attack iterates and make every example depend on the rest of its batch, and
    dropout would randomise the gradient; in eval mode the attacker sees the network that
    validation (and any later evaluation) attacks. The weight update itself then runs in the
    training phase's mode (train mode for fine-tuning, a frozen backbone in eval for linear
    probing), on the crafted examples.

    Args:
        method: ``"pgd"`` (PGD-AT, Madry et al. 2018), ``"trades"`` (Zhang et al. 2019) or
            ``"fast"`` (FGSM with a random start, Wong, Rice & Kolter 2020).
        eps: the training budget in pixel units, ``> 0`` (e.g. ``8 / 255``).
        norm: ``"inf"`` (or ``"linf"``) or ``"2"`` (or ``"l2"``, ``2``); stored as ``"inf"`` or
            ``"2"``.
        steps: crafting steps; default 10 for ``"pgd"`` and ``"trades"``, 1 for ``"fast"``.
        alpha: step size at full ``eps``; default ``2.5 * eps / steps`` (hermes' PGD default,
            Madry et al.) for ``"pgd"`` and ``"trades"``, ``1.25 * eps`` for ``"fast"``. During
            warm-up it scales with eps (``alpha / eps`` stays fixed).
        beta: TRADES' weight of the KL term, ``>= 0`` (the paper's 6.0); unused by the others.
        random_start: start crafting from a uniform random point of the eps-ball (Madry et al.,
            and fast AT, whose single step relies on it). For TRADES without it the start is
            ``x + 0.001 * N(0, I)`` (the paper's), since the KL's gradient is zero at ``x``.
        warmup_epochs: the training eps rises linearly over the first ``warmup_epochs`` epochs of
            training (LP and FT epochs counted together): ``eps * min(1, epoch / warmup_epochs)``
            for the ``epoch``-th epoch, from 1. ``0`` trains at full eps from the start. Must not
            exceed the number of epochs the run has (checked by ``fine_tune``).
        val_eps: the budget of the PGD attack on the validation set after every epoch (robust
            validation AUROC); default ``eps``.
        val_steps: that attack's steps (step size ``2.5 * val_eps / val_steps``, random start,
            same norm); default 10.

    Raises:
        TypeError, ValueError: a bad value; the message names the argument.

    Example:
        >>> AdversarialTraining("trades", 0.03, norm="linf", beta=1.0)
        AdversarialTraining(method='trades', eps=0.03, norm='inf', steps=10, alpha=0.0075, beta=1.0, random_start=True, warmup_epochs=0, val_eps=0.03, val_steps=10)
        >>> AdversarialTraining("pgd", eps=0.0)
        Traceback (most recent call last):
        ...
        hermes.errors.RangeError: eps must be > 0; got 0.0
    """

    method: str
    eps: float
    _: KW_ONLY
    norm: str = "inf"
    steps: int | None = None
    alpha: float | None = None
    beta: float = 6.0
    random_start: bool = True
    warmup_epochs: int = 0
    val_eps: float | None = None
    val_steps: int = 10

    def __post_init__(self) -> None:
        method = check_choice(self.method, "method", METHODS)
        eps = _check_eps(self.eps, "eps")
        steps = (1 if method == "fast" else 10) if self.steps is None else self.steps
        steps = check_positive_int(steps, "steps")
        if self.alpha is None:
            alpha = _FAST_STEP * eps if method == "fast" else default_alpha(eps, steps)
        else:
            alpha = _check_eps(self.alpha, "alpha")
        checked = {
            "method": method,
            "eps": eps,
            "norm": normalize_norm(self.norm),
            "steps": steps,
            "alpha": alpha,
            "beta": check_number(self.beta, "beta", low=0.0, high=math.inf, high_inclusive=False),
            "random_start": check_bool(self.random_start, "random_start"),
            "warmup_epochs": check_positive_int(self.warmup_epochs, "warmup_epochs", minimum=0),
            "val_eps": eps if self.val_eps is None else _check_eps(self.val_eps, "val_eps"),
            "val_steps": check_positive_int(self.val_steps, "val_steps"),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def eps_at(self, epoch: int) -> float:
        """The training eps of the ``epoch``-th training epoch (from 1, LP and FT together).

        Example:
            >>> AdversarialTraining("pgd", 0.04, warmup_epochs=4).eps_at(1)
            0.01
        """
        epoch = check_positive_int(epoch, "epoch")
        if self.warmup_epochs == 0 or epoch >= self.warmup_epochs:
            return self.eps
        return self.eps * epoch / self.warmup_epochs

    def alpha_at(self, epoch: int) -> float:
        """The step size of the ``epoch``-th training epoch: ``alpha`` scaled like eps.

        Example:
            >>> AdversarialTraining("pgd", 0.04, steps=4, warmup_epochs=2).alpha_at(1)
            0.0125
        """
        return self.alpha * self.eps_at(epoch) / self.eps

    @property
    def val_alpha(self) -> float:
        """The validation attack's step size, ``2.5 * val_eps / val_steps``."""
        return default_alpha(self.val_eps, self.val_steps)
