"""Robustness evaluation: the AUROC grid (:func:`evaluate_robustness`) and its report."""

from hermes.evaluation.adaptive import AdaptiveSettings
from hermes.evaluation.diagnostics import Diagnostic
from hermes.evaluation.metric_grid import MetricGrid
from hermes.evaluation.model_table import models_table
from hermes.evaluation.report import RobustnessReport
from hermes.evaluation.robustness import BASELINE, evaluate_robustness
from hermes.evaluation.task_metrics import accuracy, auroc_per_class

__all__ = [
    "BASELINE",
    "AdaptiveSettings",
    "Diagnostic",
    "MetricGrid",
    "RobustnessReport",
    "accuracy",
    "auroc_per_class",
    "evaluate_robustness",
    "models_table",
]
