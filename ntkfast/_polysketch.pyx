# Compiled kernels of NTKSketch (SPEC section 8): the SRHT of a row against the padding
# vector e1 of PolySketch, and the two weighted CountSketches that map a layer's PolySketch
# features to its two polynomials.  A module of its own (not _sketch.pyx) so that the
# subjects stay apart; the TensorSRHT products themselves are _sketch's sign_rows and
# srht_combine_rows.
#
# Same two levels and determinism rule as _sketch.pyx: ``cdef ... noexcept nogil`` kernels
# on raw pointers (the C API of _polysketch.pxd, with _f / _d twins), ``def`` drivers that
# check every precondition of their memory accesses and write each output row from exactly
# one thread, so results are bit-identical for any thread count.
cimport cython
from cython cimport floating

import numpy as np
from cython.parallel cimport prange
from libc.string cimport memset

from ntkfast._capi cimport NTKFAST_CAPI_VERSION
from ntkfast._parallel cimport NTKFAST_DEBUG_CYTHON, check_n_threads, checked_indices, threads_for

CAPI_VERSION = NTKFAST_CAPI_VERSION
DEBUG_BUILD = bool(NTKFAST_DEBUG_CYTHON)


cdef void srht_sample_row(const floating* spec_u, Py_ssize_t ku, const Py_ssize_t* freq,
                          Py_ssize_t m, floating scale, floating* out) noexcept nogil:
    """out[j] = scale Re U[freq[j]], out[m + j] = scale Im U[freq[j]] (rfft layout of U)."""
    cdef Py_ssize_t j, f
    for j in range(m):
        f = freq[j]
        if 2 * f > ku:  # U[f] = conj(U[ku - f]) for a real row
            f = ku - f
            out[j] = scale * spec_u[2 * f]
            out[m + j] = -(scale * spec_u[2 * f + 1])
        else:
            out[j] = scale * spec_u[2 * f]
            out[m + j] = scale * spec_u[2 * f + 1]


cdef void dual_count_sketch_row(const floating* x, Py_ssize_t k,
                                const Py_ssize_t* idx_a, const floating* w_a, floating* out_a,
                                Py_ssize_t n_a,
                                const Py_ssize_t* idx_b, const floating* w_b, floating* out_b,
                                Py_ssize_t n_b) noexcept nogil:
    """Two weighted CountSketches of x, reading x once."""
    cdef Py_ssize_t t
    cdef floating v
    memset(out_a, 0, n_a * sizeof(floating))
    memset(out_b, 0, n_b * sizeof(floating))
    for t in range(k):
        v = x[t]
        out_a[idx_a[t]] += w_a[t] * v
        out_b[idx_b[t]] += w_b[t] * v


# --------------------------------------------------------------------------------------
# Python-visible drivers (called by ntkfast._engine.feature_maps.NTKSketchMap).
# --------------------------------------------------------------------------------------

cdef inline object _checked_indices(const Py_ssize_t[::1] indices, Py_ssize_t n_buckets, str where,
                                    str name):
    """``checked_indices`` of _parallel.pxd: a private, checked copy of ``indices``."""
    return checked_indices(indices, n_buckets, where, name, "indices")


def srht_sample_rows(const floating[:, ::1] spec_u,   # IN (n, 2 * (ku // 2 + 1)): rfft of a signed row
                     Py_ssize_t ku,
                     const Py_ssize_t[::1] freq,       # IN (m,), values in [0, ku)
                     double scale,
                     floating[:, ::1] out,             # OUT (n, >= col0 + 2m); columns col0.. written
                     Py_ssize_t col0, int n_threads):
    """out[i, col0:col0 + 2m] = the SRHT of row i from its spectrum (srht_sample_row)."""
    cdef Py_ssize_t n = spec_u.shape[0], m = freq.shape[0], i
    if ku < 1 or spec_u.shape[1] != 2 * (ku // 2 + 1) or out.shape[0] != n or col0 < 0 \
            or out.shape[1] < col0 + 2 * m:
        raise ValueError(
            f"srht_sample_rows: inconsistent shapes: spectrum ({spec_u.shape[0]}, {spec_u.shape[1]}) "
            f"for length {ku}, {m} frequencies, out ({out.shape[0]}, {out.shape[1]}) from column {col0}")
    check_n_threads(n_threads, "srht_sample_rows")
    cdef const Py_ssize_t[::1] f = _checked_indices(freq, ku, "srht_sample_rows", "freq")
    if n == 0 or m == 0:
        return
    cdef floating sc = <floating>scale
    n_threads = threads_for(n_threads, 4.0 * n * m)
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            srht_sample_row(&spec_u[i, 0], ku, &f[0], m, sc, &out[i, col0])


def dual_count_sketch_rows(const floating[:, ::1] X,        # IN (n, k)
                           const Py_ssize_t[::1] idx_a,      # IN (k,), values in [0, n_a)
                           const floating[::1] w_a,          # IN (k,)
                           floating[:, ::1] out_a,           # OUT (n, >= n_a); first n_a columns
                           Py_ssize_t n_a,
                           const Py_ssize_t[::1] idx_b,      # IN (k,), values in [0, n_b)
                           const floating[::1] w_b,          # IN (k,)
                           floating[:, ::1] out_b,           # OUT (n, >= n_b); first n_b columns
                           Py_ssize_t n_b, int n_threads):
    """out_a[i, :n_a], out_b[i, :n_b] = the two weighted CountSketches of X[i]."""
    cdef Py_ssize_t n = X.shape[0], k = X.shape[1], i
    if idx_a.shape[0] != k or w_a.shape[0] != k or idx_b.shape[0] != k or w_b.shape[0] != k \
            or k < 1 or out_a.shape[0] != n or out_b.shape[0] != n or n_a < 1 or n_b < 1 \
            or out_a.shape[1] < n_a or out_b.shape[1] < n_b:
        raise ValueError(
            f"dual_count_sketch_rows: inconsistent shapes: expected hashes and weights of "
            f"length {k} >= 1 (columns of X), outputs of {n} rows and >= {n_a} / {n_b} >= 1 columns, got "
            f"{idx_a.shape[0]}, {w_a.shape[0]}, {idx_b.shape[0]}, {w_b.shape[0]}, "
            f"({out_a.shape[0]}, {out_a.shape[1]}), ({out_b.shape[0]}, {out_b.shape[1]})")
    check_n_threads(n_threads, "dual_count_sketch_rows")
    cdef const Py_ssize_t[::1] ia = _checked_indices(idx_a, n_a, "dual_count_sketch_rows", "idx_a")
    cdef const Py_ssize_t[::1] ib = _checked_indices(idx_b, n_b, "dual_count_sketch_rows", "idx_b")
    if n == 0:
        return
    n_threads = threads_for(n_threads, <double>n * (2 * k + n_a + n_b))
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            dual_count_sketch_row(&X[i, 0], k, &ia[0], &w_a[0], &out_a[i, 0], n_a,
                                  &ib[0], &w_b[0], &out_b[i, 0], n_b)


# --------------------------------------------------------------------------------------
# C-level API (declared in _polysketch.pxd): float32 / float64 twins with stable C names.
# --------------------------------------------------------------------------------------

cdef void srht_sample_row_f(const float* spec_u, Py_ssize_t ku, const Py_ssize_t* freq,
                            Py_ssize_t m, float scale, float* out) noexcept nogil:
    srht_sample_row(spec_u, ku, freq, m, scale, out)

cdef void srht_sample_row_d(const double* spec_u, Py_ssize_t ku, const Py_ssize_t* freq,
                            Py_ssize_t m, double scale, double* out) noexcept nogil:
    srht_sample_row(spec_u, ku, freq, m, scale, out)

cdef void dual_count_sketch_row_f(const float* x, Py_ssize_t k,
                                  const Py_ssize_t* idx_a, const float* w_a, float* out_a,
                                  Py_ssize_t n_a,
                                  const Py_ssize_t* idx_b, const float* w_b, float* out_b,
                                  Py_ssize_t n_b) noexcept nogil:
    dual_count_sketch_row(x, k, idx_a, w_a, out_a, n_a, idx_b, w_b, out_b, n_b)

cdef void dual_count_sketch_row_d(const double* x, Py_ssize_t k,
                                  const Py_ssize_t* idx_a, const double* w_a, double* out_a,
                                  Py_ssize_t n_a,
                                  const Py_ssize_t* idx_b, const double* w_b, double* out_b,
                                  Py_ssize_t n_b) noexcept nogil:
    dual_count_sketch_row(x, k, idx_a, w_a, out_a, n_a, idx_b, w_b, out_b, n_b)
