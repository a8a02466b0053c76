"""Robustness evaluation: the AUROC grid (:func:`evaluate_robustness`) and its report."""

from hermes.evaluation.adaptive import AdaptiveSettings
from hermes.evaluation.diagnostics import Diagnostic
from hermes.evaluation.metric_grid import MetricGrid
from hermes.evaluation.model_table import models_table
from hermes.evaluation.report import RobustnessReport
from hermes.evaluation.robustness import BASELINE, evaluate_robustness

__all__ = [
    "BASELINE",
    "AdaptiveSettings",
    "Diagnostic",
    "MetricGrid",
    "RobustnessReport",
    "evaluate_robustness",
    "models_table",
]
