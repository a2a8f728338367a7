"""Exact arc-cosine, NNGP and NTK kernels (SPEC sections 1-2).

The cost is one Gram matrix through BLAS plus an elementwise recursion in a compiled,
OpenMP-parallel loop: quadratic in the number of samples.  These are the references the
random features approximate, and the baseline they must beat.
"""
import numpy as np

from . import _exact, _sketch
from ._validation import (
    as_float_array,
    check_2d_shape,
    check_allocation,
    check_array,
    float_dtype,
    check_int,
    check_nonnegative_float,
    resolve_n_threads,
)

__all__ = ["arccos_kernel", "nngp_kernel", "ntk_kernel"]

_KIND = {"arccos0": _exact.KIND_ARCCOS0, "arccos1": _exact.KIND_ARCCOS1,
         "nngp": _exact.KIND_NNGP, "ntk": _exact.KIND_NTK}

# Elements of the Gram matrix computed per BLAS call: a block of about 32 MiB (float64) keeps
# the extra memory small next to the n_x x n_y result, which is the only large allocation.
_BLOCK_ELEMENTS = 1 << 22


def _norms_and_unit_rows(X, dtype):
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

    norm_x, Xn = _norms_and_unit_rows(X, dtype)
    norm_y, Yn = (norm_x, Xn) if symmetric else _norms_and_unit_rows(Y, dtype)

    out = np.empty((n_x, n_y), dtype=dtype)
    block = max(1, min(n_x, _BLOCK_ELEMENTS // max(n_y, 1)))
    kind_code = _KIND[kind]
    # The cosines come from the fused dense kernel (identity activation), in the same OpenMP
    # threads as the recursion: after a BLAS product, OpenBLAS's idle workers spin for a
    # while and took a core from the recursion (1.3x instead of 1.8x from 1 to 2 threads).
    # Symmetric: only the columns from the block's first row on (the upper triangle).
    cols = None if symmetric or n_x == 0 or n_y == 0 else _sketch.packed_weights(Yn, None)
    for i0 in range(0, n_x, block):
        i1 = min(n_x, i0 + block)
        if n_y:
            if symmetric:
                cols = _sketch.packed_weights(Yn[i0:], None)
            _sketch.dense_activation(Xn[i0:i1], cols, _sketch.ACT_IDENTITY,
                                     out[i0:i1, i0 if symmetric else 0:], n_threads)
        _exact.exact_kernel_block(
            out[i0:i1], norm_x[i0:i1], norm_y, i0 if symmetric else -1,
            kind_code, depth, bias, n_threads,
        )
        if progress is not None:
            progress(i1 - i0)
    if symmetric:
        _exact.mirror_upper(out, n_threads)
    return out


def arccos_kernel(X, Y=None, order=0, n_threads=None):
    """Arc-cosine kernel of order 0 or 1 (Cho and Saul), as the ReLU features estimate it.

    ``order=0``: ``kappa0(rho)``; ``order=1``: ``||x|| ||y|| kappa1(rho)``, with
    ``rho = <x, y> / (||x|| ||y||)`` and kappa0, kappa1 as in SPEC section 1.  A pair with a
    zero row gives 0 for both orders, as the step and ReLU features do (step(0) = 0).

    Parameters
    ----------
    X : array-like of shape (n_x, d), float32 or float64
    Y : array-like of shape (n_y, d), optional
        Defaults to ``X`` (then the result is exactly symmetric with an exact diagonal).
    order : {0, 1}
    n_threads : int, optional
        OpenMP threads; default: the current OpenMP limit.

    Returns
    -------
    K : ndarray of shape (n_x, n_y)
        float32 if every input is float32, else float64.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> ntkfast.arccos_kernel(X, order=1).round(4)
    array([[1.    , 0.6366],
           [0.6366, 4.    ]])
    """
    if isinstance(order, (bool, np.bool_)) or order not in (0, 1):
        raise ValueError(f"order: expected 0 or 1, got {order!r}")
    return exact_kernel(X, Y, "arccos0" if order == 0 else "arccos1", n_threads=n_threads)


# The recursion runs in a C int loop over the layers.
_MAX_DEPTH = 2**31 - 1


def _depth_bias(depth, bias):
    return check_int(depth, "depth", 1, _MAX_DEPTH), check_nonnegative_float(bias, "bias")


def nngp_kernel(X, Y=None, depth=1, bias=0.0, n_threads=None):
    """NNGP kernel ``Sigma_L`` of a fully-connected ReLU network with ``depth`` hidden layers.

    Parameters
    ----------
    X : array-like of shape (n_x, d), float32 or float64
    Y : array-like of shape (n_y, d), optional
        Defaults to ``X``.
    depth : int >= 1
        Number of hidden ReLU layers ``L``.
    bias : float >= 0
        Bias *variance* ``b^2``, added to every ``Sigma_h`` (SPEC section 2).
    n_threads : int, optional

    Returns
    -------
    K : ndarray of shape (n_x, n_y), float32 if every input is float32, else float64.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.array([[3.0, 4.0]])
    >>> ntkfast.nngp_kernel(X, depth=3)      # Sigma_L(x, x) = ||x||^2 without bias
    array([[25.]])
    """
    depth, bias = _depth_bias(depth, bias)
    return exact_kernel(X, Y, "nngp", depth, bias, n_threads)


def ntk_kernel(X, Y=None, depth=1, bias=0.0, n_threads=None):
    """Neural Tangent Kernel ``Theta_L`` of a ReLU network with ``depth`` hidden layers.

    With this scaling (SPEC section 2) ``Theta_L(x, x) = (L + 1) ||x||^2`` without bias, and
    the neural-tangents kernel of ``stax.serial((Dense(W_std=sqrt(2)), Relu()) * L,
    Dense(W_std=1))`` equals this one divided by ``d``.

    Parameters
    ----------
    X : array-like of shape (n_x, d), float32 or float64
    Y : array-like of shape (n_y, d), optional
        Defaults to ``X``.
    depth : int >= 1
    bias : float >= 0
        Bias variance ``b^2``.
    n_threads : int, optional

    Returns
    -------
    K : ndarray of shape (n_x, n_y), float32 if every input is float32, else float64.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.array([[3.0, 4.0], [0.0, 1.0]])
    >>> ntkfast.ntk_kernel(X, depth=2).round(3)
    array([[75.   , 10.171],
           [10.171,  3.   ]])
    """
    depth, bias = _depth_bias(depth, bias)
    return exact_kernel(X, Y, "ntk", depth, bias, n_threads)
