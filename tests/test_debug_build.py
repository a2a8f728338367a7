"""Checks that only mean something against a build with Cython's bounds checking on.

``.ci/run`` runs the core tests a second time against such a build
(``NTKFAST_DEBUG_CYTHON=1``, see setup.py) and sets the same variable for pytest, so that
this test proves the directive took effect: a private driver given a zero-width array
indexes ``X[i, 0]``, which the checked build reports as an IndexError (the release build
only forms the pointer and never dereferences it, since the row has no element).
"""
import os

import numpy as np
import pytest

from ntkfast import _exact, _polysketch, _sketch

DEBUG = os.environ.get("NTKFAST_DEBUG_CYTHON", "0") not in ("", "0")


@pytest.mark.skipif(not DEBUG, reason="run against a NTKFAST_DEBUG_CYTHON=1 build (see .ci/run)")
def test_every_extension_is_a_checked_build():
    # The compiled code is split by subject; one cythonize call gives both modules the same
    # directives, and each reports the switch it was built with.
    assert _sketch.DEBUG_BUILD and _exact.DEBUG_BUILD and _polysketch.DEBUG_BUILD


@pytest.mark.skipif(not DEBUG, reason="run against a NTKFAST_DEBUG_CYTHON=1 build (see .ci/run)")
def test_bounds_checking_is_compiled_in():
    out = np.zeros((2, 3))
    with pytest.raises(IndexError, match="Out of bounds"):
        _sketch.count_sketch_rows(np.zeros((2, 0)), np.zeros(0, np.intp), np.zeros(0), out, 3, 1)
    # From inside a prange region too (raised after the parallel loop, not a crash).
    with pytest.raises(IndexError, match="Out of bounds"):
        _sketch.count_sketch_rows(np.zeros((64, 0)), np.zeros(0, np.intp), np.zeros(0),
                                  np.zeros((64, 3)), 3, 2)
