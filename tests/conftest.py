import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def gaussian_data(n, d, seed, zero_rows=()):
    """Gaussian rows with non-normalised, varied norms (and optional zero rows)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.3, 3.0, size=(n, 1))
    for i in zero_rows:
        X[i] = 0.0
    return X


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
