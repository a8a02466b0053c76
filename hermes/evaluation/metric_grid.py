"""A read-only grid of one metric, indexed by defense, attack and epsilon."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["MetricGrid", "eps_key"]


def eps_key(eps: float) -> float:
    """Canonical float key for an epsilon (so 0.1 and 0.30000000000000004 / 3 index alike)."""
    return round(float(eps), 12)


class MetricGrid(Mapping):
    """One metric over (defense, attack, epsilon); epsilon 0 is the clean score.

    Index with all three keys for a value, with two for ``{epsilon: value}`` along one curve, or
    with one for ``{attack: {epsilon: value}}``.

    Example:
        >>> grid = MetricGrid("auroc", {("None", "PGD", 0.0): 0.9, ("None", "PGD", 0.01): 0.4})
        >>> grid["None", "PGD", 0.01]
        0.4
        >>> grid["None", "PGD"]
        {0.0: 0.9, 0.01: 0.4}
    """

    def __init__(self, name: str, values: Mapping[tuple[str, str, float], Any]) -> None:
        self.name = name
        self._values = {(d, a, eps_key(e)): v for (d, a, e), v in values.items()}

    @property
    def defenses(self) -> list[str]:
        return list(dict.fromkeys(d for d, _, _ in self._values))

    @property
    def attacks(self) -> list[str]:
        return list(dict.fromkeys(a for _, a, _ in self._values))

    @property
    def epsilons(self) -> list[float]:
        return sorted({e for _, _, e in self._values})

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) == 3:
            d, a, e = key
            try:
                return self._values[(d, a, eps_key(e))]
            except KeyError:
                raise KeyError(self._unknown(d, a, e)) from None
        if len(key) == 2:
            d, a = key
            curve = {e: v for (dd, aa, e), v in self._values.items() if (dd, aa) == (d, a)}
            if not curve:
                raise KeyError(self._unknown(d, a, None))
            return dict(sorted(curve.items()))
        if len(key) == 1:
            if key[0] not in self.defenses:
                raise KeyError(self._unknown(key[0], None, None))
            return {a: self[key[0], a] for a in self.attacks}
        raise KeyError(f"index {self.name} with (defense, attack, epsilon); got {key!r}")

    def _unknown(self, d: Any, a: Any, e: Any) -> str:
        if d not in self.defenses:
            return f"unknown defense {d!r}; {self.name} has {self.defenses}"
        if a is not None and a not in self.attacks:
            return f"unknown attack {a!r}; {self.name} has {self.attacks}"
        return f"unknown epsilon {e!r}; {self.name} has {self.epsilons}"

    def __iter__(self) -> Iterator[tuple[str, str, float]]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"MetricGrid({self.name!r}, {len(self)} cells)"
