"""Deprecated: :class:`MetricGrid` and :func:`eps_key` moved to :mod:`hermes.evaluation.metric_grid`."""

from __future__ import annotations

import warnings
from typing import Any

from hermes.evaluation import metric_grid

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    if name in metric_grid.__all__:
        warnings.warn(
            f"hermes.evaluation.grid_values.{name} is deprecated; import it from "
            "hermes.evaluation.metric_grid (or MetricGrid from hermes.evaluation)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(metric_grid, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
