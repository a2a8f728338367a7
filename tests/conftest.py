import json
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


def rewrite_as_older(path, out, param, stored, drop_suffixes=()):
    """Rewrite the model file ``path`` into ``out`` as an ntkfast older than ``param`` wrote it.

    Every ``__params__`` member (the model's and its nested estimators', ``features_.__params__``;
    see ntkfast/io.py) loses ``param``, whose stored value must be ``stored``; the members whose
    names end with one of ``drop_suffixes`` (fitted state that version did not have; each
    suffix must match a member) are left out.  Returns the names of the ``__params__`` members
    rewritten, sorted.
    """
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    rewritten = sorted(k for k in arrays if k.endswith("__params__"))
    for key in rewritten:
        params = json.loads(str(arrays[key]))
        value = params.pop(param)
        assert value == stored, f"{key}: {param} stored as {value!r}, expected {stored!r}"
        arrays[key] = np.array(json.dumps(params, sort_keys=True), dtype=np.str_)
    for suffix in drop_suffixes:
        dropped = [k for k in arrays if k.endswith(suffix)]
        assert dropped, f"no member ends with {suffix!r}"
        for key in dropped:
            del arrays[key]
    np.savez(out, **arrays)
    return rewritten


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
