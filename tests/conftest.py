"""Settings shared by the whole test suite."""

import os

# Render figures headless, whatever machine the tests run on.
os.environ.setdefault("MPLBACKEND", "Agg")
