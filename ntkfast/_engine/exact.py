"""The exact kernels' driver: Gram matrix by the dense kernel, then the compiled recursion.

Shared by the public functions of :mod:`ntkfast.kernels` and by ``ExactNTKRidge``.  The cost is
quadratic in the number of rows: these are the references the random features approximate.
"""
import numpy as np

from .. import _exact, _sketch
from .validation import (
    as_float_array,
    check_2d_shape,
    check_allocation,
    check_array,
    check_finite_result,
    float_dtype,
    resolve_n_threads,
)

__all__ = ["KERNEL_KINDS", "exact_kernel", "norms_and_unit_rows"]

KERNEL_KINDS = {"arccos0": _exact.KIND_ARCCOS0, "arccos1": _exact.KIND_ARCCOS1,
         "nngp": _exact.KIND_NNGP, "ntk": _exact.KIND_NTK}

# Elements of the Gram matrix computed per BLAS call: a block of about 32 MiB (float64) keeps
# the extra memory small next to the n_x x n_y result, which is the only large allocation.
_BLOCK_ELEMENTS = 1 << 22


def norms_and_unit_rows(X, dtype):
    """Euclidean row norms of ``X`` (float64) and its unit rows (in ``dtype``).

    Each row is divided by its largest magnitude first, in float64, so that rows with
    entries of 1e300 or 1e-300 keep finite, accurate norms, and a row near 1e-310 is not
    divided by a norm rounded to a few bits (kappa0 of a 45-degree pair came out 0.745, not
    0.75); a float32 row norm can also exceed float32's range when its entries do not.
    Zero rows get norm 0 and stay zero.
    """
    X64 = np.asarray(X, dtype=np.float64)
    scale = np.max(np.abs(X64), axis=1)
    Z = X64 / np.where(scale > 0, scale, 1.0)[:, None]
    zn = np.sqrt(np.einsum("ij,ij->i", Z, Z))
    unit = (Z / np.where(zn > 0, zn, 1.0)[:, None]).astype(dtype, copy=False)
    return scale * zn, unit


def exact_kernel(X, Y, kind, depth=1, bias=0.0, n_threads=None, progress=None):
    """Shared driver of the exact kernels (validated inputs in, ``(n_x, n_y)`` array out).

    The cosines are computed from unit-normalised rows (so that huge or tiny magnitudes
    neither overflow nor underflow), block of rows by block of rows, straight into the
    output, and turned into kernel values in place.  With ``Y is None`` only the upper
    triangle goes through the recursion, and the diagonal uses the closed form.

    ``progress``, if given, is called with the number of rows finished after each block.
    """
    # Shapes, dtypes and the size of the result are checked before anything is copied: the
    # copy of a huge (e.g. broadcast or memory-mapped) input must not happen either.
    X = as_float_array(X, "X")
    check_2d_shape(X, "X")
    symmetric = Y is None
    if not symmetric:
        Y = as_float_array(Y, "Y")
        check_2d_shape(Y, "Y")
        if Y.shape[1] != X.shape[1]:
            raise ValueError(
                f"Y: expected {X.shape[1]} features (the number of columns of X), got {Y.shape[1]}"
            )
    dtype = np.result_type(float_dtype(X.dtype, "X"), float_dtype((X if symmetric else Y).dtype, "Y"))
    n_threads = resolve_n_threads(n_threads)
    n_x, n_y = X.shape[0], (X if symmetric else Y).shape[0]
    check_allocation(
        n_x * n_y * dtype.itemsize,
        f"{'X' if symmetric else 'X, Y'}: a {n_x} x {n_y} {dtype.name} kernel matrix",
    )
    X = check_array(X, "X")
    Y = X if symmetric else check_array(Y, "Y")

    norm_x, Xn = norms_and_unit_rows(X, dtype)
    norm_y, Yn = (norm_x, Xn) if symmetric else norms_and_unit_rows(Y, dtype)

    out = np.empty((n_x, n_y), dtype=dtype)
    block = max(1, min(n_x, _BLOCK_ELEMENTS // max(n_y, 1)))
    kind_code = KERNEL_KINDS[kind]
    # The cosines come from the fused dense kernel (identity activation), in the same OpenMP
    # threads as the recursion: after a BLAS product, OpenBLAS's idle workers spin for a
    # while and took a core from the recursion (1.3x instead of 1.8x from 1 to 2 threads).
    # Symmetric: only the columns from the block's first row on (the upper triangle).
    cols = None if symmetric or n_x == 0 or n_y == 0 else _sketch.packed_weights(Yn, None)
    n_bad = 0
    for i0 in range(0, n_x, block):
        i1 = min(n_x, i0 + block)
        if n_y:
            if symmetric:
                cols = _sketch.packed_weights(Yn[i0:], None)
            _sketch.dense_activation(Xn[i0:i1], cols, _sketch.ACT_IDENTITY,
                                     out[i0:i1, i0 if symmetric else 0:], n_threads)
        n_bad += _exact.exact_kernel_block(
            out[i0:i1], norm_x[i0:i1], norm_y, i0 if symmetric else -1,
            kind_code, depth, bias, n_threads,
        )
        if progress is not None:
            progress(i1 - i0)
    if symmetric:
        _exact.mirror_upper(out, n_threads)
    # A kernel value that overflows (inf, or NaN from inf - inf in the recursion) cannot be
    # represented: an error that says so, never a silent inf or NaN.  The compiled loop counts
    # the values it stored that are not finite (every value of the result is one of them or
    # its mirror image), so the pass over the whole result that finds the first such row runs
    # only when there is one (it took 0.1-0.3 s of a 10,000 x 10,000 kernel).
    if n_bad:
        check_finite_result(out, f"{'X' if symmetric else 'X, Y'}: {kind} kernel", 0,
                            "; scale the rows of X down (the kernels are homogeneous: K(cX) = c^2 K(X))")
    return out
