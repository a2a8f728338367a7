"""CountSketch, TensorSketch and TensorSRHT primitives (SPEC section 4), numpy in, numpy out.

TensorSketch multiplies the FFTs of CountSketches: ``TS(u, v) = irfft(rfft(CS1(u)) *
rfft(CS2(v)))``.  The hashing and the spectrum product are compiled OpenMP loops; the FFTs
are scipy.fft's pocketfft with ``workers`` threads (float32 data stays complex64), writing
into work arrays made once per call (``_engine/fft.py``).  Rows are processed in chunks so that the
work arrays stay a few tens of MiB whatever ``n``.
"""
import numpy as np

from . import _sketch
from ._engine.fft import complex_dtype, fft_threads, irfft_rows, multiply_spectra, rfft_rows
from ._engine.validation import (
    as_float_array,
    check_2d_shape,
    check_allocation,
    check_array,
    check_hash,
    check_int,
    check_srht,
    resolve_n_threads,
)

__all__ = ["count_sketch", "tensor_sketch", "tensor_sketch_product", "tensor_srht"]

# About 8 MiB of float64 per work array per chunk: the FFT of a chunk stays cache-friendly and
# the temporaries stay small next to the output.  Independent of the thread count.
_CHUNK_ELEMENTS = 1 << 20


def _chunk_rows(width):
    return max(16, _CHUNK_ELEMENTS // max(width, 1))


def count_sketch(X, indices, signs, n_buckets, n_threads=None):
    """CountSketch of every row: ``out[:, b] = sum_{j: indices[j] == b} signs[j] * X[:, j]``.

    Parameters
    ----------
    X : array-like of shape (n, k), float32 or float64
        Rows to sketch.
    indices : array of int, shape (k,)
        Bucket of each column, in ``[0, n_buckets)``.
    signs : array of shape (k,)
        +1 or -1 for each column (any real or integer dtype).
    n_buckets : int >= 1
        Width ``D`` of the sketch.
    n_threads : int, optional
        OpenMP threads (and FFT workers); default: the current OpenMP limit.

    Returns
    -------
    ndarray of shape (n, n_buckets)
        The sketches, of the dtype of ``X``.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> ntkfast.count_sketch(np.array([[1.0, 2.0, 3.0, 4.0]]), [0, 2, 0, 1], [1, -1, -1, 1], 3)
    array([[-2.,  4., -2.]])
    """
    X = check_array(X, "X")
    n_buckets = check_int(n_buckets, "n_buckets", 1)
    idx, sg = check_hash(indices, signs, X.shape[1], n_buckets)
    _check_output_size(X.shape[0], n_buckets, X.dtype)
    out = np.empty((X.shape[0], n_buckets), dtype=X.dtype)
    _sketch.count_sketch_rows(X, idx, sg.astype(X.dtype), out, n_buckets, resolve_n_threads(n_threads))
    return out


def _check_output_size(n, n_buckets, dtype):
    # Output plus the chunked work arrays (bounded by _CHUNK_ELEMENTS rows of spectra).
    check_allocation(
        n * n_buckets * np.dtype(dtype).itemsize,
        f"n_buckets: a {n} x {n_buckets} {np.dtype(dtype).name} sketch",
    )


def _tensor_sketch_rows(factors, hashes, n_buckets, n_threads, out=None):
    """TensorSketch of validated, same-dtype, C-contiguous factors, chunk by chunk.

    ``hashes`` is a list of ``(indices as intp, signs in the factors' dtype)``.
    """
    n = factors[0].shape[0]
    dtype = factors[0].dtype
    if out is None:
        out = np.empty((n, n_buckets), dtype=dtype)
    rows = max(1, min(_chunk_rows(n_buckets), n))
    # Work arrays made once per call (none per chunk, see _engine/fft.py): a CountSketch, the
    # running product of spectra and the spectrum of the current factor.
    cdtype = complex_dtype(dtype)
    cs = np.empty((rows, n_buckets), dtype=dtype)
    spectrum = np.empty((rows, n_buckets // 2 + 1), dtype=cdtype)
    factor_spectrum = np.empty_like(spectrum)
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        r = i1 - i0
        fft_workers = fft_threads(n_threads, r, n_buckets)
        for p, (F, (idx, sg)) in enumerate(zip(factors, hashes)):
            _sketch.count_sketch_rows(F[i0:i1], idx, sg, cs[:r], n_buckets, n_threads)
            if p == 0:
                rfft_rows(cs[:r], spectrum[:r], fft_workers)
            else:
                rfft_rows(cs[:r], factor_spectrum[:r], fft_workers)
                multiply_spectra(spectrum[:r], factor_spectrum[:r], n_threads)
        irfft_rows(spectrum[:r], n_buckets, out[i0:i1], fft_workers)
    return out


def _as_list(value, name):
    try:
        return list(value)
    except TypeError:
        raise TypeError(
            f"{name}: expected a sequence (one entry per factor), got {type(value).__name__}"
        ) from None


def tensor_sketch_product(factors, indices, signs, n_buckets, n_threads=None):
    """TensorSketch of the row-wise tensor product ``u1 (x) u2 (x) ... (x) up``.

    Equals the CountSketch of the explicit ``k1 * ... * kp``-dimensional tensor product with
    hash ``(i1 + ... + ip) mod n_buckets`` and sign ``s1 * ... * sp``, computed as the product
    of the ``p`` CountSketch spectra (cost ``O(sum nnz + p D log D)`` per row).

    Parameters
    ----------
    factors : sequence of p arrays, each of shape (n, k_i)
        All float32 (result float32) or otherwise float64.
    indices, signs : sequences of p arrays of shape (k_i,)
        The CountSketch of each factor (see :func:`count_sketch`).
    n_buckets : int >= 1
        Width ``D`` of the sketch.
    n_threads : int, optional
        OpenMP threads (and FFT workers); default: the current OpenMP limit.

    Returns
    -------
    ndarray of shape (n, n_buckets)
        The sketches: float32 if every factor is float32, else float64.
    """
    if isinstance(factors, np.ndarray) and factors.ndim == 2:
        raise TypeError("factors: expected a sequence of 2-D arrays, got a single 2-D array")
    factors = _as_list(factors, "factors")
    indices, signs = _as_list(indices, "indices"), _as_list(signs, "signs")
    if not factors:
        raise ValueError("factors: expected at least one array, got none")
    if len(indices) != len(factors) or len(signs) != len(factors):
        raise ValueError(
            f"indices, signs: expected {len(factors)} of each (one per factor), "
            f"got {len(indices)} and {len(signs)}"
        )
    names = [(f"factors[{p}]", f"indices[{p}]", f"signs[{p}]") for p in range(len(factors))]
    return _tensor_sketch_checked(factors, indices, signs, n_buckets, n_threads, names)


def _tensor_sketch_checked(factors, indices, signs, n_buckets, n_threads, names):
    """Validate p factors and their hashes, then sketch; ``names`` holds the argument names
    ``(array, indices, signs)`` of each factor for the error messages."""
    n_buckets = check_int(n_buckets, "n_buckets", 1)
    arrays = []
    for p, F in enumerate(factors):
        F = as_float_array(F, names[p][0])
        check_2d_shape(F, names[p][0])
        arrays.append(F)
    n = arrays[0].shape[0]
    for p, F in enumerate(arrays):
        if F.shape[0] != n:
            raise ValueError(f"{names[p][0]}: expected {n} rows (as {names[0][0]}), got {F.shape[0]}")
    dtype = np.result_type(*[F.dtype for F in arrays])
    dtype = np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)
    arrays = [check_array(F, names[p][0], dtype=dtype) for p, F in enumerate(arrays)]
    hashes = []
    for p, F in enumerate(arrays):
        idx, sg = check_hash(indices[p], signs[p], F.shape[1], n_buckets, names[p][1], names[p][2])
        hashes.append((idx, sg.astype(dtype)))
    _check_output_size(n, n_buckets, dtype)
    return _tensor_sketch_rows(arrays, hashes, n_buckets, resolve_n_threads(n_threads))


def tensor_sketch(U, V, indices_u, signs_u, indices_v, signs_v, n_buckets, n_threads=None):
    """Degree-2 TensorSketch (Pham and Pagh) of the row-wise products ``u (x) v``.

    ``TS(u, v) = irfft(rfft(CS_u(u)) * rfft(CS_v(v)))``, so that
    ``E <TS(u, v), TS(u', v')> = <u, u'> <v, v'>`` over the random hashes.

    Parameters
    ----------
    U : array-like of shape (n, k_u)
        First factor of each row's product.
    V : array-like of shape (n, k_v)
        Second factor, with the same number of rows.
    indices_u, signs_u : arrays of shape (k_u,)
        CountSketch of ``U``: buckets in ``[0, n_buckets)`` and +1/-1 signs.
    indices_v, signs_v : arrays of shape (k_v,)
        An independent CountSketch of ``V``.
    n_buckets : int >= 1
        Width ``D`` of the sketch.
    n_threads : int, optional
        OpenMP threads (and FFT workers); default: the current OpenMP limit.

    Returns
    -------
    ndarray of shape (n, n_buckets)
        The sketches: float32 if ``U`` and ``V`` are float32, else float64.

    Examples
    --------
    With one bucket per index the sketch is an exact circular convolution:

    >>> import numpy as np, ntkfast
    >>> u, v = np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]])
    >>> ntkfast.tensor_sketch(u, v, [0, 1], [1, 1], [0, 1], [1, 1], 3).round(12)
    array([[ 3., 11., 10.]])
    """
    return _tensor_sketch_checked(
        [U, V], [indices_u, indices_v], [signs_u, signs_v], n_buckets, n_threads,
        [("U", "indices_u", "signs_u"), ("V", "indices_v", "signs_v")],
    )


def check_srht_width(n_components):
    n_components = check_int(n_components, "n_components", 2)
    if n_components % 2:
        raise ValueError(f"n_components: expected an even integer (real and imaginary parts "
                         f"of n_components / 2 frequencies), got {n_components}")
    return n_components


def _tensor_srht_rows(U, V, hu, hv, n_components, n_threads, out=None, col0=0):
    """TensorSRHT of validated, same-dtype, C-contiguous U and V, chunk by chunk, into
    ``out[:, col0:col0 + n_components]`` (a new array when ``out`` is None).

    ``hu``, ``hv``: ``(frequencies as intp, signs in the data's dtype)``.
    """
    n, ku = U.shape
    kv = V.shape[1]
    dtype = U.dtype
    if out is None:
        out = np.empty((n, n_components), dtype=dtype)
    width = max(ku, kv, n_components)
    rows = max(1, min(_chunk_rows(width), n))
    cdtype = complex_dtype(dtype)
    real = np.float32 if dtype == np.float32 else np.float64
    bu, bv = np.empty((rows, ku), dtype=dtype), np.empty((rows, kv), dtype=dtype)
    su = np.empty((rows, ku // 2 + 1), dtype=cdtype)
    sv = np.empty((rows, kv // 2 + 1), dtype=cdtype)
    scale = np.sqrt(2.0 / n_components)
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        r = i1 - i0
        _sketch.sign_rows(U[i0:i1], hu[1], bu[:r], n_threads)
        _sketch.sign_rows(V[i0:i1], hv[1], bv[:r], n_threads)
        rfft_rows(bu[:r], su[:r], fft_threads(n_threads, r, ku))
        rfft_rows(bv[:r], sv[:r], fft_threads(n_threads, r, kv))
        _sketch.srht_combine_rows(su[:r].view(real), ku, hu[0], sv[:r].view(real), kv, hv[0],
                                  scale, out[i0:i1], col0, n_threads)
    return out


def tensor_srht(U, V, indices_u, signs_u, indices_v, signs_v, n_components, n_threads=None):
    """Degree-2 TensorSRHT of the row-wise products ``u (x) v`` (SPEC section 4).

    With ``m = n_components / 2`` and ``U_f``, ``V_g`` the unnormalised DFTs of the signed
    rows ``signs_u * u`` (length ``k_u``) and ``signs_v * v`` (length ``k_v``)::

        out[j]     = sqrt(2 / n_components) * Re(U_{indices_u[j]} V_{indices_v[j]})
        out[m + j] = sqrt(2 / n_components) * Im(U_{indices_u[j]} V_{indices_v[j]})

    With random +1/-1 signs and frequencies drawn uniformly with replacement,
    ``E <out(u, v), out(u', v')> = <u, u'> <v, v'>``; the signs alone make it unbiased (the
    mean over all frequencies is exact, by Parseval), the sampled frequencies give the
    variance (closed form in the docs page "Choosing n_components", tested in
    ``tests/test_srht.py``).  Cost per row: ``O(k_u log k_u + k_v log k_v + n_components)``.

    Parameters
    ----------
    U : array-like of shape (n, k_u)
        First factor of each row's product.
    V : array-like of shape (n, k_v)
        Second factor, with the same number of rows.
    indices_u : array of int, shape (n_components // 2,)
        Frequencies of ``U``'s DFT, in ``[0, k_u)``.
    signs_u : array of shape (k_u,)
        +1/-1 for each column of ``U``.
    indices_v, signs_v : arrays of shapes (n_components // 2,) and (k_v,)
        The same for ``V``, drawn independently.
    n_components : even int >= 2
        Output width ``D``.
    n_threads : int, optional
        OpenMP threads (and FFT workers); default: the current OpenMP limit.

    Returns
    -------
    ndarray of shape (n, n_components)
        float32 if ``U`` and ``V`` are float32, else float64.

    Examples
    --------
    Frequency 0 of both factors is ``sum(u) * sum(v)``:

    >>> import numpy as np, ntkfast
    >>> u, v = np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]])
    >>> ntkfast.tensor_srht(u, v, [0], [1, 1], [0], [1, 1], 2).round(12)
    array([[24.,  0.]])
    """
    n_components = check_srht_width(n_components)
    U = as_float_array(U, "U")
    check_2d_shape(U, "U")
    V = as_float_array(V, "V")
    check_2d_shape(V, "V")
    if V.shape[0] != U.shape[0]:
        raise ValueError(f"V: expected {U.shape[0]} rows (as U), got {V.shape[0]}")
    dtype = np.float32 if (U.dtype == np.float32 and V.dtype == np.float32) else np.float64
    U, V = check_array(U, "U", dtype=dtype), check_array(V, "V", dtype=dtype)
    m = n_components // 2
    iu, su = check_srht(indices_u, signs_u, U.shape[1], m, "indices_u", "signs_u")
    iv, sv = check_srht(indices_v, signs_v, V.shape[1], m, "indices_v", "signs_v")
    _check_output_size(U.shape[0], n_components, dtype)
    return _tensor_srht_rows(U, V, (iu, su.astype(dtype)), (iv, sv.astype(dtype)), n_components,
                             resolve_n_threads(n_threads))
