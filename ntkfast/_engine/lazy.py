"""Lazy (out-of-core, distributed) array libraries, seen by the estimators as adapters.

The estimators do not import any such library, nor the adapter that wraps it: an adapter
registers itself here when it is imported (``ntkfast/__init__.py`` imports the dask adapter,
which itself imports dask only when a dask array is actually given), and the estimators ask
:func:`adapter_for` whether one of their inputs belongs to a registered library.  So the
dependency runs one way: adapter -> engine, never estimator -> adapter.

An adapter provides ``handles(x)``, ``fit_input(X)`` (``(n_samples, n_features, dtype)``), ``transform(fmap, X, out, batch_size,
n_threads)``, ``ridge_data(X, y)``, ``ridge_stats(fmap, X, Y, batch_size, holdout,
n_threads)`` and ``ridge_predict(fmap, coef, intercept, X, batch_size, n_threads)``
(see :mod:`ntkfast._engine.dask_adapter`).
"""
__all__ = ["register", "adapter_for"]

_ADAPTERS = []


def register(adapter):
    if adapter not in _ADAPTERS:
        _ADAPTERS.append(adapter)
    return adapter


def adapter_for(*arrays):
    """The adapter of the first array of a registered lazy library among ``arrays``, or None."""
    for adapter in _ADAPTERS:
        if any(a is not None and adapter.handles(a) for a in arrays):
            return adapter
    return None
