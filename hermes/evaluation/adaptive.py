"""What the adaptive threat model tries against each defense: the worst-case ensemble's settings.

An adaptive number is only worth reporting if it is the strongest attack hermes can build at that
budget. So for every (defense, attack, epsilon) cell the grid crafts several candidates and keeps,
per example, the one that hurts the model most (see :class:`AdaptiveSettings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from hermes._validation import check_positive_int
from hermes.defenses._base import GRADIENT_MODES, Defense

__all__ = ["AdaptiveSettings", "candidate_modes"]

_MODE_SETS = ("all", "configured")
AS_GIVEN = "as-given"  # the mode name of a module that is not a hermes Defense


@dataclass(frozen=True)
class AdaptiveSettings:
    """Settings of the adaptive threat model's per-example worst case.

    For every (defense, attack, epsilon) cell the grid crafts these candidates:

    - ``"transfer"``: the gray-box image, crafted on the undefended model (``transfer=True``);
    - ``"<attack>/<mode>"``: the attack against ``nn.Sequential(defense, model)`` once for each
      gradient mode the defense offers (``"exact"``, ``"identity"``, ``"surrogate"``,
      ``"unrolled"``), with at least ``eot_samples`` EOT draws per step when the defense is
      randomised (it keeps randomness in a ``generator`` attribute, like TVM);
    - ``"APGD/<mode>"``: APGD with the margin loss, ``apgd_steps`` steps, the attack's own norm,
      through every mode likewise (``apgd_steps=None`` leaves it out). It is skipped for attacks
      that are APGD already, gradient-free (``gradient_free = True``) or targeted, and for
      attacks that do not say their norm (a hermes :class:`~hermes.attacks.Attack`, or an object
      with a ``norm`` attribute).

    Per example, the candidate with the lowest true-class margin through the defense wins (for a
    randomised defense, the margin averaged over ``selection_draws`` draws shared by all
    candidates); the winner is scored under a fresh draw. For a deterministic defense adaptive
    AUROC is then never above any candidate's (gray-box included), by construction.

    A gradient-free attack (Square) is run once per defense as given: its queries do not use the
    backward pass, so the gradient modes would only repeat it.

    Args:
        gradient_modes: ``"all"`` (every mode the defense supports), ``"configured"`` (only the
            mode the defense object was built with: the pre-ensemble behaviour), or a sequence of
            mode names to pin (each defense tries those it supports; a defense supporting none of
            them is an error).
        transfer: include the gray-box transfer image as a candidate.
        eot_samples: EOT draws per attack step against a randomised defense, at least (an
            attack built with more keeps its own). Attacks without an ``eot_samples`` attribute
            are run as built.
        selection_draws: draws of a randomised defense over which candidates are judged.
        apgd_steps: steps of the APGD candidate, or ``None`` for none.

    Example:
        >>> AdaptiveSettings()
        AdaptiveSettings(gradient_modes='all', transfer=True, eot_samples=4, selection_draws=4, apgd_steps=20)
        >>> AdaptiveSettings(gradient_modes=["identity"], transfer=False, apgd_steps=None).gradient_modes
        ('identity',)
    """

    gradient_modes: str | Sequence[str] = "all"
    transfer: bool = True
    eot_samples: int = 4
    selection_draws: int = 4
    apgd_steps: int | None = 20

    def __post_init__(self) -> None:
        modes = self.gradient_modes
        if isinstance(modes, str):
            if modes not in _MODE_SETS:
                raise ValueError(
                    f"gradient_modes must be 'all', 'configured' or a list of modes from "
                    f"{', '.join(map(repr, GRADIENT_MODES))}; got {modes!r}"
                )
        else:
            if not isinstance(modes, Sequence) or not modes:
                raise ValueError(
                    f"gradient_modes must be 'all', 'configured' or a non-empty list of modes; "
                    f"got {modes!r}"
                )
            unknown = [m for m in modes if m not in GRADIENT_MODES]
            if unknown:
                raise ValueError(
                    f"gradient_modes has unknown gradient mode {unknown[0]!r}; known modes: "
                    f"{', '.join(map(repr, GRADIENT_MODES))}"
                )
            object.__setattr__(self, "gradient_modes", tuple(dict.fromkeys(modes)))
        if not isinstance(self.transfer, bool):
            raise TypeError(f"transfer must be a bool; got {type(self.transfer).__name__}")
        check_positive_int(self.eot_samples, "eot_samples")
        check_positive_int(self.selection_draws, "selection_draws")
        if self.apgd_steps is not None:
            check_positive_int(self.apgd_steps, "apgd_steps")

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON values (for the cache manifest and the report)."""
        modes = self.gradient_modes
        return {
            "gradient_modes": modes if isinstance(modes, str) else list(modes),
            "transfer": self.transfer,
            "eot_samples": self.eot_samples,
            "selection_draws": self.selection_draws,
            "apgd_steps": self.apgd_steps,
        }


def candidate_modes(name: str, defense: nn.Module, settings: AdaptiveSettings) -> list[str]:
    """The gradient modes to attack ``defense`` through, in the defense's own order.

    A module that is not a hermes :class:`~hermes.defenses.Defense` has one mode,
    ``"as-given"``: it is attacked as it is.

    Example:
        >>> from hermes.defenses import JPEG, TVM
        >>> candidate_modes("JPEG", JPEG(50), AdaptiveSettings())
        ['surrogate', 'identity']
        >>> candidate_modes("TVM", TVM(), AdaptiveSettings(gradient_modes="configured"))
        ['identity']
    """
    if not isinstance(defense, Defense):
        return [AS_GIVEN]
    offered = list(type(defense).gradient_modes)
    if settings.gradient_modes == "all":
        return offered
    if settings.gradient_modes == "configured":
        return [defense.gradient]
    chosen = [m for m in offered if m in settings.gradient_modes]
    if not chosen:
        raise ValueError(
            f"gradient_modes {list(settings.gradient_modes)} has none of the modes defense "
            f"{name!r} supports ({', '.join(map(repr, offered))})"
        )
    return chosen
