# An extension that uses ntkfast's C-level API: every ntkfast call below runs without the
# GIL, from the threads of a prange loop.  See the README section "Using ntkfast from C or
# Cython".
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport sqrt
from libc.stdlib cimport free, malloc

import numpy as np
import scipy.fft

cimport ntkfast
import ntkfast

# The contract this module was compiled against must be the one installed.
NTKFAST_CAPI_VERSION = ntkfast.NTKFAST_CAPI_VERSION     # compile-time constant from the .pxd
if ntkfast.capi_version != NTKFAST_CAPI_VERSION:
    raise ImportError(
        f"ntk_consumer was built against ntkfast C API {ntkfast.NTKFAST_CAPI_VERSION}, "
        f"the installed ntkfast has {ntkfast.capi_version}: rebuild it"
    )


def count_sketch(const floating[:, ::1] X, const Py_ssize_t[::1] indices,
                 const floating[::1] signs, Py_ssize_t n_buckets, int n_threads=2):
    """CountSketch of every row of X (n, k) into n_buckets buckets."""
    cdef Py_ssize_t n = X.shape[0], k = X.shape[1], i
    out = np.empty((n, n_buckets), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] o = out
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            if floating is float:
                ntkfast.count_sketch_row_f(&X[i, 0], k, &indices[0], &signs[0], &o[i, 0], n_buckets)
            else:
                ntkfast.count_sketch_row_d(&X[i, 0], k, &indices[0], &signs[0], &o[i, 0], n_buckets)
    return out


def step_count_sketch(const double[:, ::1] Z, const Py_ssize_t[::1] indices,
                      const double[::1] signs, double scale, Py_ssize_t n_buckets,
                      int n_threads=2):
    """CountSketch of scale * step(Z) row by row, step features never formed."""
    cdef Py_ssize_t n = Z.shape[0], k = Z.shape[1], i
    out = np.empty((n, n_buckets))
    cdef double[:, ::1] o = out
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            ntkfast.step_count_sketch_row_d(&Z[i, 0], k, &indices[0], &signs[0], scale,
                                            &o[i, 0], n_buckets)
    return out


# The named codes of the C API (compile-time constants from the .pxd files).
ACT = {"step": ntkfast.NTKFAST_ACT_STEP, "relu": ntkfast.NTKFAST_ACT_RELU,
       "identity": ntkfast.NTKFAST_ACT_IDENTITY}
KIND = {"arccos0": ntkfast.NTKFAST_KIND_ARCCOS0, "arccos1": ntkfast.NTKFAST_KIND_ARCCOS1,
        "nngp": ntkfast.NTKFAST_KIND_NNGP, "ntk": ntkfast.NTKFAST_KIND_NTK}


def relu_features(const double[:, ::1] X, const double[:, ::1] W, const double[::1] scale,
                  int order=ntkfast.NTKFAST_ACT_RELU, int n_threads=2):
    """scale * act(X @ W.T) (act: step, relu or identity, the NTKFAST_ACT_* codes): W packed
    once, then 8-row blocks in parallel."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], m = W.shape[0], b, r0, nb
    out = np.empty((n, m))
    cdef double[:, ::1] o = out
    if n == 0:
        return out
    packed = np.empty(ntkfast.packed_size_d(m, d))
    cdef double[::1] p = packed
    with nogil:
        ntkfast.pack_weights_d(&W[0, 0], &scale[0], m, d, &p[0])
        for b in prange((n + 7) // 8, schedule="static", num_threads=n_threads):
            r0 = 8 * b
            nb = min(8, n - r0)
            ntkfast.dense_activation_packed_d(&X[r0, 0], d, nb, d, &p[0], m, order,
                                              &o[r0, 0], m)
    return out


def kernels(const double[:, ::1] X, const double[:, ::1] Y, int depth, double bias,
            int n_threads=2):
    """Exact (NTK, NNGP, kappa0(cos), kappa1(cos)) for every pair of rows, from inner products."""
    cdef Py_ssize_t nx = X.shape[0], ny = Y.shape[0], d = X.shape[1], i, j, t
    cdef double inner, c
    ntk = np.empty((nx, ny))
    nngp = np.empty((nx, ny))
    k0 = np.empty((nx, ny))
    k1 = np.empty((nx, ny))
    nrm_x = np.sqrt(np.einsum("ij,ij->i", X, X))
    nrm_y = np.sqrt(np.einsum("ij,ij->i", Y, Y))
    cdef double[:, ::1] K = ntk, S = nngp, A = k0, B = k1
    cdef double[::1] rx = nrm_x, ry = nrm_y
    with nogil:
        for i in prange(nx, schedule="dynamic", num_threads=n_threads):
            for j in range(ny):
                inner = 0.0
                for t in range(d):
                    inner = inner + X[i, t] * Y[j, t]
                # Outputs go straight to the arrays: prange makes a variable thread-private
                # only if the loop body assigns it, and one written only through its
                # address (&a) would be shared by the threads.
                ntkfast.ntk_pair_from_inner(inner, rx[i], ry[j], depth, bias, &K[i, j], &S[i, j])
                c = inner / (rx[i] * ry[j]) if rx[i] > 0 and ry[j] > 0 else 0.0
                A[i, j] = ntkfast.kappa0(c)
                B[i, j] = ntkfast.kappa1(c)
    return ntk, nngp, k0, k1


def self_kernels(const double[::1] norms, int depth, double bias):
    """(NTK, NNGP) of each point with itself, in closed form."""
    cdef Py_ssize_t i
    out = np.empty((norms.shape[0], 2))
    cdef double[:, ::1] o = out
    with nogil:
        for i in prange(norms.shape[0], schedule="static", num_threads=2):
            ntkfast.ntk_self(norms[i], depth, bias, &o[i, 0], &o[i, 1])
    return out


# -- TensorSketch with an FFT from the caller --------------------------------------------
# ntkfast has no FFT of its own: tensor_sketch_pair_d takes rfft / irfft callbacks.  A real
# extension passes a nogil FFT it links (FFTW's fftw_execute_dft_r2c, MKL, pocketfft...).
# This example has none, so its callbacks borrow numpy.fft and take the GIL for the FFT
# only: the calls are correct from any thread, the FFTs just take turns.

cdef int numpy_rfft(void* ctx, const double* x, double* spectrum, Py_ssize_t n) noexcept nogil:
    with gil:
        try:
            s = np.fft.rfft(np.asarray(<double[:n]> <double*> x)).view(np.float64)
            (<double[:2 * (n // 2 + 1)]> spectrum)[:] = s
        except BaseException:
            return -1
    return 0


cdef int numpy_irfft(void* ctx, const double* spectrum, double* x, Py_ssize_t n) noexcept nogil:
    with gil:
        try:
            s = np.asarray(<double[:2 * (n // 2 + 1)]> <double*> spectrum).view(np.complex128)
            (<double[:n]> x)[:] = np.fft.irfft(s, n)
        except BaseException:
            return -1
    return 0


def tensor_sketch(const double[:, ::1] U, const double[:, ::1] V,
                  const Py_ssize_t[::1] indices_u, const double[::1] signs_u,
                  const Py_ssize_t[::1] indices_v, const double[::1] signs_v,
                  Py_ssize_t n_buckets, int n_threads=2):
    """Degree-2 TensorSketch of the row pairs (U[i], V[i]), one ntkfast call per row."""
    cdef Py_ssize_t n = U.shape[0], i
    cdef double* work
    cdef Py_ssize_t n_no_memory = 0, n_failed = 0     # prange reductions (+=)
    out = np.empty((n, n_buckets))
    cdef double[:, ::1] o = out
    if n == 0:
        return out
    with nogil, parallel(num_threads=n_threads):
        # One work buffer per thread, as ntkfast's own drivers do.
        work = <double*> malloc(ntkfast.tensor_sketch_work_size(n_buckets) * sizeof(double))
        try:
            for i in prange(n, schedule="static"):
                if work == NULL:
                    n_no_memory += 1
                elif ntkfast.tensor_sketch_pair_d(
                        &U[i, 0], U.shape[1], &indices_u[0], &signs_u[0],
                        &V[i, 0], V.shape[1], &indices_v[0], &signs_v[0],
                        n_buckets, &o[i, 0], work, numpy_rfft, numpy_irfft, NULL) != 0:
                    n_failed += 1
        finally:
            free(work)
    if n_no_memory:
        raise MemoryError("tensor_sketch: no work buffer")
    if n_failed:
        raise RuntimeError(f"tensor_sketch: the FFT callback failed on {n_failed} rows")
    return out


def tensor_sketch_batched(const double[:, ::1] U, const double[:, ::1] V,
                          const Py_ssize_t[::1] indices_u, const double[::1] signs_u,
                          const Py_ssize_t[::1] indices_v, const double[::1] signs_v,
                          Py_ssize_t n_buckets, int n_threads=2):
    """The same from the split primitives: nogil CountSketches and spectrum products,
    batched FFTs by scipy.fft in between (no FFT under the GIL inside a loop)."""
    cu = count_sketch(U, indices_u, signs_u, n_buckets, n_threads)
    cv = count_sketch(V, indices_v, signs_v, n_buckets, n_threads)
    su = scipy.fft.rfft(cu, axis=1, workers=n_threads)
    sv = scipy.fft.rfft(cv, axis=1, workers=n_threads)
    cdef double[:, ::1] a = su.view(np.float64), b = sv.view(np.float64)
    cdef Py_ssize_t i, n_freq = su.shape[1]
    with nogil:
        for i in prange(a.shape[0], schedule="static", num_threads=n_threads):
            ntkfast.spectrum_multiply_d(&a[i, 0], &b[i, 0], n_freq)
    return scipy.fft.irfft(su, n=n_buckets, axis=1)


def tensor_srht(const double[:, ::1] U, const double[:, ::1] V,
                const Py_ssize_t[::1] indices_u, const double[::1] signs_u,
                const Py_ssize_t[::1] indices_v, const double[::1] signs_v,
                Py_ssize_t n_components, int n_threads=2):
    """TensorSRHT from the split primitives: nogil signs, batched rfft by scipy.fft, nogil
    combination of the sampled frequencies (conjugate symmetry above k / 2 is ntkfast's)."""
    cdef Py_ssize_t n = U.shape[0], ku = U.shape[1], kv = V.shape[1], i
    cdef Py_ssize_t m = n_components // 2
    cdef double[:, ::1] bu = np.empty((n, ku)), bv = np.empty((n, kv))
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            ntkfast.sign_row_d(&U[i, 0], &signs_u[0], ku, &bu[i, 0])
            ntkfast.sign_row_d(&V[i, 0], &signs_v[0], kv, &bv[i, 0])
    su = scipy.fft.rfft(np.asarray(bu), axis=1, workers=n_threads)
    sv = scipy.fft.rfft(np.asarray(bv), axis=1, workers=n_threads)
    cdef const double[:, ::1] a = su.view(np.float64), b = sv.view(np.float64)
    out = np.empty((n, 2 * m))
    cdef double[:, ::1] o = out
    cdef double scale = sqrt(2.0 / n_components)
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            ntkfast.srht_combine_row_d(&a[i, 0], ku, &indices_u[0], &b[i, 0], kv, &indices_v[0],
                                       m, scale, &o[i, 0])
    return out


def structured_project(const floating[:, ::1] X, const floating[:, :, ::1] diag, perm,
                       Py_ssize_t m, int n_threads=2):
    """z = M x for every row of X (n, k): the structured projection of ``diag`` (blocks,
    stages, p) and ``perm`` (same shape, intp, or None), with per-thread scratch."""
    cdef Py_ssize_t n = X.shape[0], k = X.shape[1], i
    cdef Py_ssize_t nb = diag.shape[0], ns = diag.shape[1], p = diag.shape[2]
    cdef const Py_ssize_t[:, :, ::1] pm
    cdef const Py_ssize_t* pp = NULL
    if perm is not None:
        pm = perm
        pp = &pm[0, 0, 0]
    out = np.empty((n, m), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] o = out
    cdef floating* work
    with nogil, parallel(num_threads=n_threads):
        work = <floating*>malloc(2 * p * sizeof(floating))
        try:
            for i in prange(n, schedule="static"):
                if floating is float:
                    ntkfast.structured_project_row_f(&X[i, 0], k, &diag[0, 0, 0], pp, nb, ns, p, m,
                                                     &o[i, 0], work)
                else:
                    ntkfast.structured_project_row_d(&X[i, 0], k, &diag[0, 0, 0], pp, nb, ns, p, m,
                                                     &o[i, 0], work)
        finally:
            free(work)
    return out


def fwht(floating[:, ::1] V):
    """Each row of V (n, p) replaced by H_p v, in place."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(V.shape[0]):
            if floating is float:
                ntkfast.fwht_f(&V[i, 0], V.shape[1])
            else:
                ntkfast.fwht_d(&V[i, 0], V.shape[1])
    return np.asarray(V)


def spectrum_to_real(const double complex[:, ::1] spec, Py_ssize_t D):
    """The orthonormal real Fourier coordinates of the rows whose rfft is ``spec``."""
    cdef Py_ssize_t i
    out = np.empty((spec.shape[0], D))
    cdef double[:, ::1] o = out
    cdef const double[:, ::1] s = np.asarray(spec).view(np.float64)
    with nogil:
        for i in range(s.shape[0]):
            ntkfast.spectrum_to_real_row_d(&s[i, 0], D, &o[i, 0])
    return out


def srht_sample(const floating[:, ::1] U, const Py_ssize_t[::1] freq, double scale,
                int n_threads=2):
    """SRHT of every row of U (n, k) at the frequencies freq (the TensorSRHT of a row with
    e1): batched rfft by scipy.fft, then ntkfast's nogil sampling, row by row."""
    cdef Py_ssize_t n = U.shape[0], k = U.shape[1], m = freq.shape[0], i
    real = np.float32 if floating is float else np.float64
    spec = scipy.fft.rfft(np.asarray(U), axis=1, workers=n_threads).view(real)
    cdef const floating[:, ::1] a = spec
    out = np.empty((n, 2 * m), dtype=real)
    cdef floating[:, ::1] o = out
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            if floating is float:
                ntkfast.srht_sample_row_f(&a[i, 0], k, &freq[0], m, <float>scale, &o[i, 0])
            else:
                ntkfast.srht_sample_row_d(&a[i, 0], k, &freq[0], m, scale, &o[i, 0])
    return out


def dual_count_sketch(const floating[:, ::1] X, const Py_ssize_t[::1] idx_a,
                      const floating[::1] w_a, Py_ssize_t n_a, const Py_ssize_t[::1] idx_b,
                      const floating[::1] w_b, Py_ssize_t n_b, int n_threads=2):
    """Two weighted CountSketches of every row of X in one nogil pass per row."""
    cdef Py_ssize_t n = X.shape[0], k = X.shape[1], i
    real = np.float32 if floating is float else np.float64
    out_a, out_b = np.empty((n, n_a), dtype=real), np.empty((n, n_b), dtype=real)
    cdef floating[:, ::1] oa = out_a, ob = out_b
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            if floating is float:
                ntkfast.dual_count_sketch_row_f(&X[i, 0], k, &idx_a[0], &w_a[0], &oa[i, 0], n_a,
                                                &idx_b[0], &w_b[0], &ob[i, 0], n_b)
            else:
                ntkfast.dual_count_sketch_row_d(&X[i, 0], k, &idx_a[0], &w_a[0], &oa[i, 0], n_a,
                                                &idx_b[0], &w_b[0], &ob[i, 0], n_b)
    return out_a, out_b
