"""Dask support: lazy feature transforms and ridge fits on ``dask.array`` inputs.

Nothing here imports dask at module level: ``import ntkfast`` must work (and stay fast)
without the optional ``dask`` extra.  Dask arrays are recognised by the module of their
type, so checking an input never imports dask either.

Two rules make the results exact:

* The compiled kernels compute each row's features by the same operations wherever the
  row falls in a block (ntkfast/_dense.h), so features are bit-identical to one in-memory
  transform whatever the chunking.  Blocks still pass ``row_offset`` = the absolute index of
  their first row, for the row numbers in error messages and the ridge hold-out split.
* The fitted estimator is put in the graph (or scattered to the workers) ONCE, as a single
  key that every block task depends on, so it travels to each worker once, not with every
  block.
"""
import sys

import numpy as np

from ._validation import check_2d_shape, check_finite, check_int, float_dtype

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


# --------------------------------------------------------------------------------------------
# Transform
# --------------------------------------------------------------------------------------------

def _transform_block(block, est, batch_size, block_info=None):
    row_offset = int(block_info[0]["array-location"][0][0])
    block = np.ascontiguousarray(block, dtype=np.result_type(float_dtype(block.dtype, "X"), est.dtype_))
    # Checked here (not only inside _transform) so that the error names the absolute row.
    check_finite(block, "X", row_offset=row_offset)
    return est._transform(block, None, batch_size, row_offset)


def transform(est, X, out=None, batch_size=None):
    """Lazy ``est.transform(X)`` of a dask array: one ``map_blocks`` task per block of rows.

    Returns a ``dask.array.Array`` of shape ``(n_samples, n_output)`` and dtype
    ``result_type(X, dtype_)`` (as the in-memory transform), with the row chunks of ``X`` and
    one chunk of columns.
    """
    if out is not None:
        raise ValueError("out: expected None when X is a dask array (the result is a lazy dask array), "
                         f"got {type(out).__name__}")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", 1)
    X = _check_dask_X(X, est.n_features_in_)
    dtype = np.result_type(float_dtype(X.dtype, "X"), est.dtype_)
    n_out = est._n_output()
    return X.map_blocks(
        _transform_block, shared(est), batch_size,
        dtype=dtype, chunks=(X.chunks[0], (n_out,)),
        meta=np.empty((0, 0), dtype=dtype),
        name=f"{type(est).__name__.lower()}-transform",
    )


def fit_input(X):
    """``(n_features, dtype)`` of a dask array for a feature map's ``fit`` (nothing computed)."""
    X = _check_dask_X(X)
    return X.shape[1], float_dtype(X.dtype, "X")


# --------------------------------------------------------------------------------------------
# Ridge
# --------------------------------------------------------------------------------------------

def _targets_as_dask(y, X):
    """``(Y, y_ndim)``: y as a float64 dask array (n, t) chunked like X's rows.

    A numpy ``y`` is checked completely here; a dask ``y`` for its dtype and shape here
    and for finite values block by block.
    """
    import dask.array as da

    from .ridge import _check_target_shape, _check_targets

    n = X.shape[0]
    if not is_dask_array(y):
        Y, y_ndim = _check_targets(y, n)
        return da.from_array(Y, chunks=(X.chunks[0], -1)), y_ndim
    _check_target_shape(y, n)  # values are checked block by block
    y_ndim = y.ndim
    Y = y.astype(np.float64).reshape(n, -1) if y.ndim == 1 else y.astype(np.float64)
    return Y.rechunk((X.chunks[0], -1)), y_ndim


def _block_stats(features, Xb, Yb, row_offset, batch_size, holdout):
    from .ridge import _accumulate

    Xb = np.ascontiguousarray(Xb, dtype=features.dtype_)
    Yb = np.ascontiguousarray(Yb, dtype=np.float64)
    check_finite(Xb, "X", row_offset=row_offset)
    check_finite(Yb, "y", row_offset=row_offset)
    return _accumulate(features, Xb, Yb, batch_size, row_offset, holdout)


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


def ridge_stats(features, X, Y, batch_size=None, holdout=None, split_every=_SPLIT_EVERY):
    """Delayed ``(train, val)`` ridge statistics of all rows of the dask arrays X and Y.

    One task per block of rows computes the block's statistics with ``_accumulate`` (at
    the block's absolute row offset, so features and hold-out are those of the in-memory
    fit); a tree reduction sums them on the cluster.
    """
    import dask

    feat = shared(features)
    X_blocks = X.to_delayed().ravel()
    Y_blocks = Y.to_delayed().ravel()
    starts = _row_starts(X.chunks[0])
    stats = dask.delayed(_block_stats, pure=True)
    parts = [stats(feat, xb, yb, int(s), batch_size, holdout)
             for xb, yb, s in zip(X_blocks, Y_blocks, starts)]
    return tree_sum(parts, split_every)


def ridge_fit(model, X, y):
    """``NTKRidge.fit`` on dask arrays: statistics on the cluster, solve on the client."""
    import dask

    if not is_dask_array(X):  # a dask y with an in-memory X: X follows y's row chunks
        import dask.array as da

        from .ridge import _check_X

        X = _check_X(X)
        rows = y.chunks[0] if y.shape[0] == X.shape[0] else "auto"
        X = da.from_array(X, chunks=(rows, -1))
    X = _check_dask_X(X)
    Y, y_ndim = _targets_as_dask(y, X)
    # Same steps and random draws as the in-memory fit (_BaseNTKRidge._fit_targets).
    features, alphas, fit_intercept, _, batch_size, holdout = model._prepare_fit(X)
    train, val = dask.compute(ridge_stats(features, X, Y, batch_size, holdout))[0]
    W, b = model._finish_fit(features, X.shape[1], train, val, alphas, fit_intercept, holdout)
    model._set_coefs(W, b, y_ndim)
    return model


def _predict_block(block, state, batch_size, block_info=None):
    features, W, intercept = state
    row_offset = int(block_info[0]["array-location"][0][0])
    block = np.ascontiguousarray(block, dtype=features.dtype_)
    check_finite(block, "X", row_offset=row_offset)
    P = features._transform(block, None, batch_size, row_offset)
    out = P.astype(np.float64, copy=False) @ W.T
    out += intercept
    return out


def ridge_predict(model, X):
    """Lazy ``NTKRidge.predict`` of a dask array: float64, 1-D if ``coef_`` is 1-D."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "coef_")
    X = _check_dask_X(X, model.n_features_in_)
    batch_size = None if model.batch_size is None else check_int(model.batch_size, "batch_size", 1)
    W = np.atleast_2d(model.coef_)  # (t, m)
    t = W.shape[0]
    # W is small next to the features (t x m): it goes in the graph as one key too.
    state = shared((model.features_, W, np.asarray(model.intercept_, dtype=np.float64)))
    out = X.map_blocks(
        _predict_block, state, batch_size,
        dtype=np.float64, chunks=(X.chunks[0], (t,)),
        meta=np.empty((0, 0), dtype=np.float64), name="ntkridge-predict",
    )
    return out[:, 0] if np.ndim(model.coef_) == 1 else out
