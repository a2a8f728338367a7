"""The one row-batched loop: every path that streams rows of ``X`` runs through here.

``transform`` of the feature maps, the ridge statistics of ``NTKRidge.fit``, its predictions,
the command line's ``transform`` and the dask blocks all call :func:`feature_batches` (or
:func:`row_batches`, for the exact kernel's blocks).  It owns

* the batch size, from a memory budget (:data:`BATCH_ELEMENTS`) or the caller's ``batch_size``;
* the dtype rule (:func:`~ntkfast._engine.validation.feature_dtype`): integer and boolean
  rows are cast to float64 one batch at a time;
* sparse input: a CSR matrix is densified one batch of rows at a time, never as a whole
  (the first layer is a product ``X @ W``; a densified batch gives bit-identical features);
* the values check of every batch as it is read (NaN/inf name the absolute row);
* the absolute row offset of a batch in the whole data set (error messages, dask blocks);
* work arrays made once per call, or once for many calls through ``workspaces``;
* the check that no result overflowed (a finite input whose features are not finite is an
  error, never a silent inf).

The features of a row depend on nothing but its values: the compiled kernels compute every
output element by the same operations wherever the row falls, so the batch size, the offset
and the thread count change no bit of the result.
"""
import numpy as np
import scipy.sparse

from .. import _sketch
from .validation import (
    check_allocation,
    check_finite,
    check_finite_result,
    check_int,
    check_out,
    check_X,
    feature_dtype,
    float_dtype,
)

__all__ = ["BATCH_ELEMENTS", "batch_rows", "row_batches", "check_rows", "dense_rows",
           "feature_batches", "transform"]

# Working memory per batch of rows, in array elements (about 128 MiB of float64, 64 MiB of
# float32).  Every batch wakes the OpenMP and FFT thread pools a few times; twice larger
# batches than 1 << 23 made the two-thread NTK transform 5-10% faster (fewer wake-ups).
BATCH_ELEMENTS = 1 << 24

_OVERFLOW_HINT = ("; scale the columns of X (e.g. sklearn.preprocessing.StandardScaler), or "
                  "compute in float64")


def batch_rows(elements_per_row, batch_size=None):
    """Rows per batch: ``batch_size`` if given (checked), else as many rows as fit in
    :data:`BATCH_ELEMENTS` elements of working memory (at least one block of the dense
    kernels, which share any batch out evenly between the threads)."""
    if batch_size is not None:
        return check_int(batch_size, "batch_size", 1)
    return max(_sketch.ROW_BLOCK_SIZE, BATCH_ELEMENTS // max(elements_per_row, 1))


def row_batches(X, rows, dtype, row_offset=0, name="X"):
    """Yield ``(i0, i1, block)``: rows ``i0:i1`` of ``X`` as a C-contiguous array of
    ``dtype``, checked for NaN/inf (the message names the row ``row_offset + i``).

    ``X`` is a checked array (a memmap is read one batch at a time) or a CSR matrix
    (:func:`~ntkfast._engine.validation.check_X` with ``accept_sparse``), of which only the
    batch is densified."""
    n = X.shape[0]
    sparse = scipy.sparse.issparse(X)
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        block = X[i0:i1].toarray() if sparse else X[i0:i1]
        block = np.ascontiguousarray(block, dtype=dtype)
        check_finite(block, name, row_offset=row_offset + i0)
        yield i0, i1, block
        block = None  # one densified batch alive at a time, not two


def check_rows(X, name="X"):
    """Check every value of a checked ``X`` (NaN/inf name the row), one batch at a time: a
    memmap is not read whole, a sparse matrix not densified whole."""
    dtype = float_dtype(X.dtype, name)
    for _, _, block in row_batches(X, batch_rows(X.shape[1]), dtype, name=name):
        del block  # before the next batch is read


def dense_rows(X, dtype, name="X"):
    """A new C-contiguous ``dtype`` array of the rows of a checked ``X`` (e.g. a sparse
    matrix), filled and checked one batch at a time (no second whole copy)."""
    n, d = X.shape
    check_allocation(n * d * np.dtype(dtype).itemsize, f"{name}: a dense {n} x {d} {np.dtype(dtype).name} copy")
    out = np.empty((n, d), dtype=dtype)
    for i0, i1, block in row_batches(X, batch_rows(d), dtype, name=name):
        out[i0:i1] = block
    return out


def feature_batches(fmap, X, *, out=None, batch_size=None, row_offset=0, n_threads=1,
                    workspaces=None, progress=None):
    """Yield ``(i0, i1, P)``: the features ``P`` of rows ``i0:i1`` of ``X``, batch by batch.

    Parameters
    ----------
    fmap : FeatureMap
        A compiled snapshot of a fitted transformer.
    X : ndarray of shape (n, fmap.n_features), float (checked by the caller; a memmap is
        read one batch at a time)
    out : ndarray of shape (n, fmap.n_output), optional
        Checked destination: ``P`` is then ``out[i0:i1]``.  Otherwise ``P`` is a view of one
        buffer reused by every batch (consume it before the next).
    batch_size, row_offset, n_threads
        See the module docstring.
    workspaces : dict, optional
        Passed to every call of a caller that streams chunk after chunk, so that the work
        arrays are made once.
    progress : callable, optional
        Called with the number of rows done after each batch.
    """
    n = X.shape[0]
    dtype = feature_dtype(X.dtype, fmap.dtype)
    compiled = fmap.compiled(dtype)
    rows = max(1, min(batch_rows(fmap.elements_per_row, batch_size), n))
    if n == 0:
        return
    key = fmap.workspace_key(dtype, n_threads)
    cached = workspaces.get(key) if workspaces is not None else None
    if cached is not None and cached[0] >= rows:
        workspace, buf = cached[1], cached[2]
    else:
        workspace = fmap.workspace(rows, dtype, n_threads)
        buf = None
    if out is None and (buf is None or buf.dtype != dtype):
        buf = np.empty((rows, fmap.n_output), dtype=dtype)
    if workspaces is not None:
        workspaces[key] = (rows, workspace, buf)
    for i0, i1, Xb in row_batches(X, rows, dtype, row_offset):
        P = out[i0:i1] if out is not None else buf[: i1 - i0]
        fmap.run(Xb, P, compiled, workspace, n_threads)
        check_finite_result(P, "X: features", row_offset + i0, _OVERFLOW_HINT)
        yield i0, i1, P
        if progress is not None:
            progress(i1 - i0)


def transform(fmap, X, out=None, batch_size=None, row_offset=0, n_threads=1, workspaces=None,
              progress=None):
    """Features of ``X`` (checked here; dense or sparse) into ``out`` (checked, or
    allocated); returns ``out``."""
    X = check_X(X, fmap.n_features, accept_sparse=True)
    n = X.shape[0]
    dtype = feature_dtype(X.dtype, fmap.dtype)
    if out is None:
        check_allocation(n * fmap.n_output * dtype.itemsize,
                         f"X: a {n} x {fmap.n_output} {dtype.name} feature matrix")
        out = np.empty((n, fmap.n_output), dtype=dtype)
    else:
        check_out(out, X, (n, fmap.n_output), dtype)
    for _ in feature_batches(fmap, X, out=out, batch_size=batch_size, row_offset=row_offset,
                             n_threads=n_threads, workspaces=workspaces, progress=progress):
        pass
    return out
