"""Settings shared by the whole test suite."""

import os
import sys

import pytest

# Render figures headless, whatever machine the tests run on.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    """Close whatever figures a test left open in pyplot (they would pile up across tests)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
