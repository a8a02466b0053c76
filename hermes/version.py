"""The version of hermes, in one place (read by the package, checkpoints and reports)."""

__version__ = "0.1.0"
