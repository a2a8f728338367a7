"""Fitted state published and read atomically, so that a transform never mixes two fits.

``fit`` builds every fitted attribute in local variables, validates them, and only then
publishes them all at once (:func:`publish`); ``transform`` and ``predict`` read the
attributes they need in one step (:func:`snapshot`).  A fit that fails therefore leaves the
previous fitted state untouched, and a transform running while another thread refits the
same estimator computes every row with the model it started with.
"""
import threading

import numpy as np

__all__ = ["publish", "snapshot", "publish_if_unchanged", "read_only", "identities", "same_objects"]

# One lock for every estimator: it is held only while attributes are assigned or read (a few
# dictionary operations), never while anything is computed.  (A lock per estimator could not
# be pickled or cloned.)
_LOCK = threading.Lock()


def read_only(value):
    """Mark a fitted array (or the arrays of a list) read-only; returns ``value``.

    Fitted arrays describe the model the compiled kernels run; changing one in place would
    leave the model and its compiled copy out of step.  To change a model, assign new arrays:
    the next transform validates and compiles them again.
    """
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, list):
        for v in value:
            read_only(v)
    return value


def publish(estimator, attributes):
    """Set all ``attributes`` (a dict) on ``estimator`` at once."""
    with _LOCK:
        estimator.__dict__.update(attributes)


def snapshot(estimator, names):
    """The values of the attributes ``names`` (None where missing), read at once."""
    with _LOCK:
        d = estimator.__dict__
        return tuple(d.get(n) for n in names)


def publish_if_unchanged(estimator, names, values, attributes):
    """Publish ``attributes`` only if ``names`` still hold ``values`` (by identity): a cache
    derived from a snapshot is not stored over a newer fit."""
    with _LOCK:
        d = estimator.__dict__
        if all(d.get(n) is v for n, v in zip(names, values)):
            d.update(attributes)


def identities(values):
    """``values`` with the items of lists flattened in: replacing one layer's array in a
    per-layer list is seen too (by :func:`same_objects`)."""
    out = []
    for v in values:
        out.append(v)
        if isinstance(v, (list, tuple)):
            out.append(len(v))
            out.extend(v)
    return tuple(out)


def same_objects(a, b):
    """True when the flattened tuples ``a`` and ``b`` hold the very same objects."""
    return len(a) == len(b) and all(x is y or (isinstance(x, int) and x == y) for x, y in zip(a, b))
