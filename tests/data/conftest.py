"""Small synthetic PCam files shared by the data tests (written once per session)."""

from __future__ import annotations

import numpy as np
import pytest

from hermes.data import PCamFiles, make_synthetic_pcam
from tests.data.helpers import read_raw

SIZES = {"train": 24, "valid": 12, "test": 40}


@pytest.fixture(scope="session")
def pcam_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PCamFiles]:
    """Files in the original layout: ``{split: PCamFiles(x, y)}`` (do not modify them)."""
    root = tmp_path_factory.mktemp("pcam-original")
    return make_synthetic_pcam(root, SIZES["train"], SIZES["valid"], SIZES["test"], seed=3)


@pytest.fixture(scope="session")
def raw_test(pcam_files: dict[str, PCamFiles]) -> tuple[np.ndarray, np.ndarray]:
    """The test split's arrays as h5py reads them: ``x (N, 96, 96, 3)``, ``y (N,)``."""
    return read_raw(pcam_files["test"])
