"""Robustness evaluation: the AUROC grid (:func:`evaluate_robustness`) and its report."""

from hermes.evaluation.grid_values import MetricGrid
from hermes.evaluation.report import RobustnessReport
from hermes.evaluation.robustness import BASELINE, evaluate_robustness

__all__ = ["BASELINE", "MetricGrid", "RobustnessReport", "evaluate_robustness"]
