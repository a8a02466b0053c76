"""Certified robustness: randomized smoothing (Cohen, Rosenfeld & Kolter 2019)."""

from hermes.certify.smoothing import RandomizedSmoothing

__all__ = ["RandomizedSmoothing"]
