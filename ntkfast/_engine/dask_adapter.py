"""The dask adapter: lazy feature transforms, ridge statistics and predictions on
``dask.array`` inputs.

It depends on the engine only (feature maps, the batch loop, the ridge statistics); the
estimators do not import it: it registers itself with :mod:`ntkfast._engine.lazy` when
imported (``ntkfast/__init__.py`` imports it), and the estimators ask that registry.  Nothing
here imports dask at module level: ``import ntkfast`` must work (and stay fast) without the
optional ``dask`` extra, and dask arrays are recognised by the module of their type.

Two rules make the results exact:

* The compiled kernels compute each row's features by the same operations wherever the
  row falls in a block, so features are bit-identical to one in-memory transform whatever
  the chunking.  Blocks still pass ``row_offset`` = the absolute index of their first row,
  for the row numbers in error messages and the ridge hold-out split.
* The compiled feature map is put in the graph (or scattered to the workers) ONCE, as a
  single key that every block task depends on, so it travels to each worker once, not with
  every block.
"""
import sys

import numpy as np

from . import lazy
from .batches import transform as transform_rows
from .ridge_stats import accumulate, predict_rows
from .validation import (
    check_2d_shape,
    check_finite,
    check_int,
    check_target_shape,
    check_targets,
    check_X,
    feature_dtype,
    first_bad_row,
    float_dtype,
)

__all__ = ["is_dask_array", "DaskAdapter"]

# Blocks of per-block ridge statistics summed by one task of the tree reduction.
_SPLIT_EVERY = 8


def is_dask_array(X):
    """True for a ``dask.array.Array`` (checked without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "chunks") and hasattr(X, "dask")


def _check_dask_X(X, n_features=None, name="X"):
    """Shape and dtype checks a lazy array allows; returns X with one chunk of columns.

    Values (NaN/inf) are checked block by block when the blocks are computed.
    """
    float_dtype(X.dtype, name)
    if X.ndim == 2 and (any(np.isnan(c) for c in X.chunks[0]) or np.isnan(X.shape[1])):
        raise ValueError(
            f"{name}: expected a dask array with known chunk sizes (the absolute row index of "
            f"each block fixes its features), got unknown ones; call {name}.compute_chunk_sizes() first"
        )
    check_2d_shape(X, name, n_features)
    if len(X.chunks[1]) != 1:
        # Every row needs all of its columns at once; rows stay chunked as they were.
        X = X.rechunk({1: -1})
    return X


def _active_client():
    """The current ``distributed`` client, or None (never imports distributed)."""
    if "distributed" not in sys.modules:
        return None
    try:
        return sys.modules["distributed"].get_client()
    except (ValueError, AttributeError):
        return None


def shared(obj):
    """``obj`` as ONE graph key that block tasks can depend on.

    With an active ``distributed`` client the object is scattered to every worker now
    (``broadcast=True``), under a fresh key: content-hashed keys (``hash=True``) race with
    the release of an earlier future of the same object and get cancelled
    (dask/distributed#8576).  Otherwise it is a pure ``dask.delayed`` literal, one key in
    the graph whatever the number of blocks.
    """
    client = _active_client()
    if client is not None:
        return client.scatter(obj, broadcast=True, hash=False)
    import dask

    return dask.delayed(obj, pure=True)


def _row_starts(chunks):
    return np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(np.int64)


def _block_offset(block_info):
    return int(block_info[0]["array-location"][0][0])


# --------------------------------------------------------------------------------------------
# Block tasks (run on the workers): each calls the engine's batch loop at the block's offset.
# --------------------------------------------------------------------------------------------

def _transform_block(block, fmap, batch_size, n_threads, block_info=None):
    return transform_rows(fmap, block, None, batch_size, _block_offset(block_info), n_threads)


def _block_stats(fmap, Xb, Yb, row_offset, batch_size, holdout, n_threads):
    Yb = np.ascontiguousarray(Yb, dtype=np.float64)
    check_finite(Yb, "y", row_offset=row_offset)
    return accumulate(fmap, Xb, Yb, batch_size, row_offset, holdout, n_threads)


def _predict_block(block, state, batch_size, n_threads, block_info=None):
    fmap, W, intercept = state
    return predict_rows(fmap, W, intercept, block, batch_size, _block_offset(block_info), n_threads)


def _add_stats(*parts):
    """Sum of ``(train, validation)`` pairs (validation None without a hold-out)."""
    train = parts[0][0]
    val = parts[0][1]
    for t, v in parts[1:]:
        train = train + t
        val = None if val is None else val + v
    return train, val


def tree_sum(parts, split_every=_SPLIT_EVERY):
    """Sum delayed ``(train, val)`` pairs with a tree of ``_add_stats`` tasks (depth log_k n)."""
    import dask

    add = dask.delayed(_add_stats, pure=True)
    level = 0
    while len(parts) > 1:
        parts = [
            add(*parts[i:i + split_every], dask_key_name=f"ntkfast-ridge-sum-{level}-{i}-{dask.base.tokenize(*parts[i:i + split_every])}")
            for i in range(0, len(parts), split_every)
        ]
        level += 1
    return parts[0]


# --------------------------------------------------------------------------------------------
# The adapter the estimators see (through ntkfast._engine.lazy)
# --------------------------------------------------------------------------------------------

class DaskAdapter:
    """Lazy-array adapter for dask (see :mod:`ntkfast._engine.lazy` for the protocol)."""

    @staticmethod
    def handles(x):
        return is_dask_array(x)

    @staticmethod
    def fit_input(X):
        """``(n_samples, n_features, dtype)`` of a dask array for a feature map's ``fit``
        (nothing computed)."""
        X = _check_dask_X(X)
        return X.shape[0], X.shape[1], float_dtype(X.dtype, "X")

    @staticmethod
    def take_rows(X, idx):
        """Rows ``idx`` (increasing) of a dask array, computed, as a checked numpy array (only
        those rows are read; NaN/inf in them name the row of ``X``)."""
        X = _check_dask_X(X)
        rows = np.asarray(X[np.asarray(idx)].compute())
        bad = first_bad_row(rows)
        if bad is not None:
            raise ValueError(f"X: expected finite values, got NaN or infinity (first in row {int(idx[bad])})")
        return rows

    @staticmethod
    def transform(fmap, X, out, batch_size, n_threads):
        """Lazy transform of a dask array: one ``map_blocks`` task per block of rows, dtype
        ``feature_dtype(X, fitted)`` as in memory, the row chunks of ``X``, one chunk of columns."""
        if out is not None:
            raise ValueError("out: expected None when X is a dask array (the result is a lazy dask array), "
                             f"got {type(out).__name__}")
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", 1)
        X = _check_dask_X(X, fmap.n_features)
        dtype = feature_dtype(X.dtype, fmap.dtype)
        return X.map_blocks(
            _transform_block, shared(fmap), batch_size, n_threads,
            dtype=dtype, chunks=(X.chunks[0], (fmap.n_output,)),
            meta=np.empty((0, 0), dtype=dtype), name="ntkfast-transform",
        )

    @staticmethod
    def ridge_data(X, y):
        """``(X, Y, y_ndim)`` for a ridge fit: X a dask array with one column chunk (an
        in-memory X follows y's row chunks), Y a float64 dask array (n, t) chunked like X's
        rows.  A numpy ``y`` is checked completely here; a dask ``y`` for dtype and shape
        here and for finite values block by block."""
        import dask.array as da

        if not is_dask_array(X):
            X = check_X(X)
            rows = y.chunks[0] if y.shape[0] == X.shape[0] else "auto"
            X = da.from_array(X, chunks=(rows, -1))
        X = _check_dask_X(X)
        n = X.shape[0]
        if not is_dask_array(y):
            Y, y_ndim = check_targets(y, n)
            return X, da.from_array(Y, chunks=(X.chunks[0], -1)), y_ndim
        check_target_shape(y, n)  # values are checked block by block
        Y = y.astype(np.float64).reshape(n, -1) if y.ndim == 1 else y.astype(np.float64)
        return X, Y.rechunk((X.chunks[0], -1)), y.ndim

    @staticmethod
    def ridge_stats(fmap, X, Y, batch_size, holdout, n_threads, split_every=_SPLIT_EVERY):
        """``(train, val)`` ridge statistics of all rows, computed on the cluster: one task
        per block of rows (at the block's absolute row offset, so features and hold-out are
        those of the in-memory fit), summed by a tree reduction."""
        import dask

        feat = shared(fmap)
        starts = _row_starts(X.chunks[0])
        stats = dask.delayed(_block_stats, pure=True)
        parts = [stats(feat, xb, yb, int(s), batch_size, holdout, n_threads)
                 for xb, yb, s in zip(X.to_delayed().ravel(), Y.to_delayed().ravel(), starts)]
        return dask.compute(tree_sum(parts, split_every))[0]

    @staticmethod
    def ridge_predict(fmap, W, intercept, X, batch_size, n_threads):
        """Lazy ``features(X) @ W.T + intercept`` (float64, (n, t)); features computed in
        ``feature_dtype(X, fitted)``, as in memory: no input is cast down."""
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", 1)
        X = _check_dask_X(X, fmap.n_features)
        # W is small next to the features (t x m): it goes in the graph as one key too.
        state = shared((fmap, W, intercept))
        return X.map_blocks(
            _predict_block, state, batch_size, n_threads,
            dtype=np.float64, chunks=(X.chunks[0], (W.shape[0],)),
            meta=np.empty((0, 0), dtype=np.float64), name="ntkfast-predict",
        )


lazy.register(DaskAdapter)
