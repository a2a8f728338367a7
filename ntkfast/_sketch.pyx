# Compiled feature kernels of ntkfast: CountSketch, the step CountSketch, dense layers fused
# with their activation (packed weights, _dense.h), the fused NTK layer loop, spectrum
# products and the TensorSketch pair (SPEC sections 3-5).  The exact kernels are in
# _exact.pyx.
#
# Two levels per kernel (see STYLE.md): ``cdef ... noexcept nogil`` functions on raw pointers
# do the work and form the C-level API declared in _sketch.pxd (rules and version in
# _capi.pxd); the ``def`` drivers take C-contiguous arrays from the Python wrappers in
# ntkfast/*.py, check every precondition their memory accesses depend on, release the GIL
# and run an OpenMP loop over them.
#
# Determinism: every parallel loop writes each output row from exactly one thread, and
# each row's values are computed by the same operations whatever block or thread it falls
# in (the dense kernels of _dense.h guarantee it per element), so results are bit-identical
# for any thread count and any split of the rows into batches.
cimport cython
from cython cimport floating

import numpy as np
from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.string cimport memset

from ntkfast._capi cimport NTKFAST_CAPI_VERSION
from ntkfast._openmp cimport NTKFAST_HAVE_OPENMP, omp_get_max_threads, omp_get_thread_num
from ntkfast._parallel cimport NTKFAST_DEBUG_CYTHON, check_n_threads, checked_indices, threads_for

CAPI_VERSION = NTKFAST_CAPI_VERSION
DEBUG_BUILD = bool(NTKFAST_DEBUG_CYTHON)

# The ``order`` codes of the dense kernels (the enum of _sketch.pxd).
ACT_STEP = NTKFAST_ACT_STEP
ACT_RELU = NTKFAST_ACT_RELU
ACT_IDENTITY = NTKFAST_ACT_IDENTITY

# Rows per task of the fused dense kernels (a multiple of the 6-row register tile).  With
# k = 3332 (a depth-2 NTK layer) the packed weights do not fit in the cache and are streamed
# once per block: 192-row blocks measured 2-8% faster than 96-row ones there, and the same
# at k = 64.  The split of the rows changes no bits (see _dense.h), so the drivers size the
# blocks to give every thread the same share.
cdef enum:
    ROW_BLOCK = 192
    TILE_ROWS = 6

cdef extern from "_dense.h" nogil:
    Py_ssize_t ntkfast_packed_size_f(Py_ssize_t m, Py_ssize_t k)
    Py_ssize_t ntkfast_packed_size_d(Py_ssize_t m, Py_ssize_t k)
    void ntkfast_pack_weights_f(const float* w, const float* scale, Py_ssize_t m, Py_ssize_t k,
                                float* packed)
    void ntkfast_pack_weights_d(const double* w, const double* scale, Py_ssize_t m,
                                Py_ssize_t k, double* packed)
    void ntkfast_dense_activation_packed_f(const float* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                           Py_ssize_t k, const float* packed, Py_ssize_t m,
                                           int order, float* out, Py_ssize_t ldo)
    void ntkfast_dense_activation_packed_d(const double* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                           Py_ssize_t k, const double* packed, Py_ssize_t m,
                                           int order, double* out, Py_ssize_t ldo)

HAVE_OPENMP = bool(NTKFAST_HAVE_OPENMP)


def max_threads():
    """Number of threads an OpenMP region would use now (1 without OpenMP)."""
    return omp_get_max_threads()


def effective_threads(int n_threads, double work):
    """min(n_threads, work / THREAD_GRAIN), at least 1 (see _parallel.pxd)."""
    return threads_for(n_threads, work)


# --------------------------------------------------------------------------------------
# Sketch building blocks on raw pointers
# --------------------------------------------------------------------------------------

cdef void count_sketch_row(const floating* x, Py_ssize_t k, const Py_ssize_t* indices,
                           const floating* signs, floating* out, Py_ssize_t n_buckets) noexcept nogil:
    """out[b] = sum_{j: indices[j] == b} signs[j] * x[j]   (out is overwritten)."""
    cdef Py_ssize_t j
    memset(out, 0, n_buckets * sizeof(floating))
    for j in range(k):
        out[indices[j]] += signs[j] * x[j]


cdef enum:
    SELECT_CHUNK = 256


cdef void step_count_sketch_row(const floating* z, Py_ssize_t k, const Py_ssize_t* indices,
                                const floating* signs, floating scale, floating* out,
                                Py_ssize_t n_buckets) noexcept nogil:
    """CountSketch of scale * step(z), without forming step(z) (out is overwritten)."""
    cdef Py_ssize_t j0, j, c
    cdef floating s
    cdef floating picked[SELECT_CHUNK]
    memset(out, 0, n_buckets * sizeof(floating))
    # The signs of z are random, so a branch on them is mispredicted half of the time: GCC
    # compiled ``signs[j] * (z[j] > 0)`` into one (7.5 ns per element).  A select between
    # two loaded values over a chunk vectorises into compare-and-blend, and the scatter
    # after it has no branch.
    j0 = 0
    while j0 < k:
        c = min(<Py_ssize_t>SELECT_CHUNK, k - j0)
        for j in range(c):
            s = signs[j0 + j]
            picked[j] = s if z[j0 + j] > 0 else 0
        for j in range(c):
            out[indices[j0 + j]] += picked[j]
        j0 += c
    for j in range(n_buckets):
        out[j] *= scale


cdef void pack_weights(const floating* w, const floating* scale, Py_ssize_t m, Py_ssize_t k,
                       floating* packed) noexcept nogil:
    """packed <- w (m, k) and its m scales (ones if scale is NULL), in the panels of _dense.h."""
    if floating is float:
        ntkfast_pack_weights_f(w, scale, m, k, packed)
    else:
        ntkfast_pack_weights_d(w, scale, m, k, packed)


cdef void dense_activation_packed(const floating* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                  Py_ssize_t k, const floating* packed, Py_ssize_t m, int order,
                                  floating* out, Py_ssize_t ldo) noexcept nogil:
    """out[r, :m] = act(scale * x[r, :k] @ w.T), one fused pass (_dense.h); act = step
    (order NTKFAST_ACT_STEP), relu (_RELU) or the identity (_IDENTITY); w and scale packed by
    pack_weights."""
    if floating is float:
        ntkfast_dense_activation_packed_f(x, ldx, n_rows, k, packed, m, order, out, ldo)
    else:
        ntkfast_dense_activation_packed_d(x, ldx, n_rows, k, packed, m, order, out, ldo)


cdef void step_sketch_packed(const floating* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                             const floating* packed, Py_ssize_t m, floating scale,
                             const Py_ssize_t* indices, const floating* signs,
                             floating* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                             floating* work) noexcept nogil:
    """out[r, :n_buckets] = CountSketch(scale * step(x[r] @ w.T)), w packed with unit scales.

    ``work`` (n_rows * m) holds the block's step features as 0/1, made by the dense kernel's
    vector epilogue; they are hashed from there (no data-dependent branch) and never stored
    beyond the block.
    """
    cdef Py_ssize_t r, j
    cdef floating* o
    dense_activation_packed(x, ldx, n_rows, k, packed, m, NTKFAST_ACT_STEP, work, m)
    for r in range(n_rows):
        o = out + r * ldo
        count_sketch_row(work + r * m, m, indices, signs, o, n_buckets)
        for j in range(n_buckets):
            o[j] *= scale


cdef void spectrum_multiply(floating* a, const floating* b, Py_ssize_t n_freq) noexcept nogil:
    """a *= b for interleaved complex spectra of n_freq frequencies (rfft layout)."""
    cdef Py_ssize_t f
    cdef floating ar, ai, br, bi
    for f in range(n_freq):
        ar = a[2 * f]
        ai = a[2 * f + 1]
        br = b[2 * f]
        bi = b[2 * f + 1]
        a[2 * f] = ar * br - ai * bi
        a[2 * f + 1] = ar * bi + ai * br


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define NTKFAST_PREFETCH(p) __builtin_prefetch(p)
    #else
    #define NTKFAST_PREFETCH(p) ((void)(p))
    #endif
    """
    void NTKFAST_PREFETCH(const void* p) noexcept nogil


cdef inline void _prefetch(const void* p, Py_ssize_t n_bytes) noexcept nogil:
    """Hint the cache lines of p[:n_bytes] into the cache (no effect on results)."""
    cdef Py_ssize_t b
    for b in range(0, n_bytes, 64):
        NTKFAST_PREFETCH(<const char*>p + b)


cdef void spectrum_to_real_row(const floating* spec, Py_ssize_t D, floating* out) noexcept nogil:
    """The D real coordinates of a real row of length D in the orthonormal real Fourier basis,
    from its rfft spectrum F (D // 2 + 1 interleaved frequencies, unnormalised): out[0] =
    F[0] / sqrt(D); out[2f - 1], out[2f] = sqrt(2 / D) (Re F[f], Im F[f]) for 0 < f < D / 2;
    out[D - 1] = F[D / 2] / sqrt(D) when D is even.  By Parseval the map is orthogonal: the
    inner products of the rows are those of the rows themselves."""
    cdef Py_ssize_t f
    cdef floating s = <floating>(1.0 / sqrt(<double>D)), r = <floating>sqrt(2.0 / <double>D)
    out[0] = s * spec[0]
    for f in range(1, (D + 1) // 2):
        out[2 * f - 1] = r * spec[2 * f]
        out[2 * f] = r * spec[2 * f + 1]
    if D % 2 == 0 and D > 1:
        out[D - 1] = s * spec[D]


cdef inline void _dft_at(const floating* spec, Py_ssize_t k, Py_ssize_t f, floating* re,
                         floating* im) noexcept nogil:
    """(re, im) = the DFT of a real row of length k at frequency f < k, from its rfft (k // 2
    + 1 interleaved frequencies): above k / 2 by conjugate symmetry, X[f] = conj(X[k - f])."""
    if 2 * f > k:
        re[0] = spec[2 * (k - f)]
        im[0] = -spec[2 * (k - f) + 1]
    else:
        re[0] = spec[2 * f]
        im[0] = spec[2 * f + 1]


cdef void srht_combine_row(const floating* spec_u, Py_ssize_t ku, const Py_ssize_t* freq_u,
                           const floating* spec_v, Py_ssize_t kv, const Py_ssize_t* freq_v,
                           Py_ssize_t m, floating scale, floating* out) noexcept nogil:
    """TensorSRHT from two rfft spectra (SPEC section 4): with U, V the full complex DFTs of
    the signed rows (lengths ku, kv), out[j] = scale * Re(U[freq_u[j]] V[freq_v[j]]) and
    out[m + j] = scale * Im(...), j < m (the spectra read by _dft_at)."""
    cdef Py_ssize_t j
    cdef floating ar, ai, br, bi
    # The frequencies are read in random order: ask for both spectra's cache lines in
    # sequence first (measured on one thread, under load: 16 -> 7-10 ns per pair at
    # ku = 4096, kv = 1666).
    _prefetch(spec_u, 2 * (ku // 2 + 1) * sizeof(floating))
    _prefetch(spec_v, 2 * (kv // 2 + 1) * sizeof(floating))
    for j in range(m):
        _dft_at(spec_u, ku, freq_u[j], &ar, &ai)
        _dft_at(spec_v, kv, freq_v[j], &br, &bi)
        out[j] = scale * (ar * br - ai * bi)
        out[m + j] = scale * (ar * bi + ai * br)


cdef void sign_row(const floating* x, const floating* signs, Py_ssize_t k,
                   floating* out) noexcept nogil:
    """out[t] = signs[t] * x[t] (the random signs of TensorSRHT; out may equal x)."""
    cdef Py_ssize_t t
    for t in range(k):
        out[t] = signs[t] * x[t]


# --------------------------------------------------------------------------------------
# Structured projections (products of Walsh-Hadamard transforms and diagonals; SPEC 3 and
# "Orthogonal Random Features", Yu et al. 2016; Fastfood, Le et al. 2013)
# --------------------------------------------------------------------------------------

cdef extern from "_fwht.h" nogil:
    void ntkfast_fwht_f(float* v, Py_ssize_t p)
    void ntkfast_fwht_d(double* v, Py_ssize_t p)
    void ntkfast_structured_row_f(const float* x, Py_ssize_t k, const float* diag,
                                  const Py_ssize_t* perm, Py_ssize_t n_blocks, Py_ssize_t n_stages,
                                  Py_ssize_t p, Py_ssize_t m, float* out, float* work)
    void ntkfast_structured_row_d(const double* x, Py_ssize_t k, const double* diag,
                                  const Py_ssize_t* perm, Py_ssize_t n_blocks, Py_ssize_t n_stages,
                                  Py_ssize_t p, Py_ssize_t m, double* out, double* work)


cdef inline void fwht(floating* v, Py_ssize_t p) noexcept nogil:
    """In-place unnormalised Walsh-Hadamard transform of v[:p], p a power of 2:
    v <- H_p v with H_1 = [1], H_2p = [[H_p, H_p], [H_p, -H_p]] (Sylvester order; _fwht.h)."""
    if floating is float:
        ntkfast_fwht_f(v, p)
    else:
        ntkfast_fwht_d(v, p)


cdef void structured_project_row(const floating* x, Py_ssize_t k, const floating* diag,
                                 const Py_ssize_t* perm, Py_ssize_t n_blocks,
                                 Py_ssize_t n_stages, Py_ssize_t p, Py_ssize_t m,
                                 floating* out, floating* work) noexcept nogil:
    """out[:m] = M x for the structured matrix M of n_blocks stacked p x p blocks (rows past
    m dropped), x of length k <= p zero-padded to p.  Block b is the product of its stages,
    the first applied first: v <- H_p (D_{b,s} * v[perm_{b,s}]), D_{b,s} = diag[(b S + s) p:]
    (p values), perm_{b,s} likewise (perm NULL: no permutation).  work: 2 p elements.
    (_fwht.h, compiled for x86-64-v3 and the baseline.)"""
    if floating is float:
        ntkfast_structured_row_f(x, k, diag, perm, n_blocks, n_stages, p, m, out, work)
    else:
        ntkfast_structured_row_d(x, k, diag, perm, n_blocks, n_stages, p, m, out, work)


cdef void scaled_relu_row(const floating* z, const floating* scale, Py_ssize_t m,
                          floating* out) noexcept nogil:
    """out[j] = scale[j] * relu(z[j]) (scale > 0)."""
    cdef Py_ssize_t j
    cdef floating y
    for j in range(m):
        y = scale[j] * z[j]
        out[j] = y if y > 0 else 0


cdef void scaled_step_row(const floating* z, floating scale, Py_ssize_t m,
                          floating* out) noexcept nogil:
    """out[j] = scale if z[j] > 0 else 0."""
    cdef Py_ssize_t j
    for j in range(m):
        out[j] = scale if z[j] > 0 else 0


# --------------------------------------------------------------------------------------
# Python-visible drivers.  Inputs come validated from the wrappers in ntkfast/*.py, but
# whatever a Python caller passes, nothing here reads or writes out of bounds: every
# precondition of the loops (shapes, strides, dtypes of the packed weights, hash indices in
# range, per-thread scratch) is checked first and refused with ValueError.  The checks are
# O(k) per call, next to the O(n k) work.
# --------------------------------------------------------------------------------------

cdef inline object _checked_indices(const Py_ssize_t[::1] indices, Py_ssize_t n_buckets, str where,
                                    str name):
    """``checked_indices`` of _parallel.pxd: a private, checked copy of ``indices``."""
    return checked_indices(indices, n_buckets, where, name, "bucket indices")


def count_sketch_rows(const floating[:, ::1] X,             # IN (n, k)
                      const Py_ssize_t[::1] indices,         # IN (k,), values in [0, D)
                      const floating[::1] signs,             # IN (k,)
                      floating[:, ::1] out,                  # OUT (n, >= D); first D columns written
                      Py_ssize_t n_buckets, int n_threads):
    """out[i, :D] = CountSketch of X[i] with hash (indices, signs) into D = n_buckets buckets."""
    cdef Py_ssize_t n = X.shape[0], k = X.shape[1], i
    if indices.shape[0] != k or signs.shape[0] != k or out.shape[0] != n or out.shape[1] < n_buckets:
        raise ValueError(
            f"count_sketch_rows: inconsistent shapes: expected indices and signs of length "
            f"{k} (columns of X) and out of shape ({n}, >= {n_buckets}), got {indices.shape[0]}, "
            f"{signs.shape[0]} and ({out.shape[0]}, {out.shape[1]})"
        )
    if n_buckets < 1:
        raise ValueError(f"count_sketch_rows: n_buckets: expected an integer >= 1, got {n_buckets}")
    check_n_threads(n_threads, "count_sketch_rows")
    cdef const Py_ssize_t[::1] idx = _checked_indices(indices, n_buckets, "count_sketch_rows", "indices")
    if n == 0:
        return
    n_threads = threads_for(n_threads, <double>n * (k + n_buckets))
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            count_sketch_row(&X[i, 0], k, &idx[0], &signs[0], &out[i, 0], n_buckets)


cdef inline Py_ssize_t _row_blocks(Py_ssize_t n, int n_threads, Py_ssize_t* rows) noexcept nogil:
    """Split n rows into blocks of at most ROW_BLOCK rows, as many for every thread.

    Sets rows[0] to the rows per block (a multiple of the register tile, at most ROW_BLOCK,
    which the drivers' scratch sizes rely on; the last block may be shorter) and returns the
    number of blocks.  The split changes no result.
    """
    cdef Py_ssize_t nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    nb = (nb + n_threads - 1) // n_threads * n_threads
    cdef Py_ssize_t rb = (n + nb - 1) // nb
    rb = (rb + TILE_ROWS - 1) // TILE_ROWS * TILE_ROWS
    rows[0] = rb
    return (n + rb - 1) // rb


cdef Py_ssize_t _packed_size(Py_ssize_t m, Py_ssize_t k, bint is_double) except -1:
    """packed_size_*(m, k), refusing sizes whose element count or bytes overflow Py_ssize_t
    (the C formula would wrap around to a small number)."""
    if m < 1 or k < 1:
        raise ValueError(f"PackedWeights: m, k: expected integers >= 1, got m={m}, k={k}")
    # Panels of at most 16 rows: (m + 16) (k + 1) bounds the element count.
    if (<double>m + 16.0) * (<double>k + 1.0) * 8.0 >= 9.0e18:
        raise ValueError(f"PackedWeights: m, k: m={m}, k={k} is too large to address")
    return ntkfast_packed_size_d(m, k) if is_double else ntkfast_packed_size_f(m, k)


@cython.final
cdef class PackedWeights:
    """Weights ``W`` (m, k) and their scales in the panel layout the dense kernels read.

    Made once per fit by ``packed_weights`` (see features.py), so that no transform repacks.

    Parameters
    ----------
    m, k : int >= 1
    data : ndarray of shape (packed_size_*(m, k),), float32 or float64, C-contiguous
        Copied: the object keeps a private copy that nothing else can write or resize, since
        the drivers read m x k weights through it without the GIL.  ``data`` returns a
        read-only copy.
    """
    cdef readonly Py_ssize_t m, k
    cdef readonly bint is_double
    cdef object _data       # private, never handed out

    def __cinit__(self, Py_ssize_t m, Py_ssize_t k, data):
        if not isinstance(data, np.ndarray) or data.dtype not in (np.float32, np.float64):
            raise ValueError(f"PackedWeights: data: expected a float32 or float64 ndarray, got "
                             f"{getattr(data, 'dtype', type(data).__name__)}")
        if data.ndim != 1 or not data.flags.c_contiguous:
            raise ValueError(f"PackedWeights: data: expected a 1-D C-contiguous array, got "
                             f"shape {data.shape}")
        is_double = data.dtype == np.float64
        size = _packed_size(m, k, is_double)
        if data.shape[0] != size:
            raise ValueError(f"PackedWeights: data: expected {size} {data.dtype} elements "
                             f"(m={m}, k={k}), got {data.shape[0]}")
        self.m, self.k, self.is_double = m, k, is_double
        self._data = data.copy()
        self._data.flags.writeable = False

    @property
    def data(self):
        """Read-only copy of the packed panels and scales (1-D, float32 or float64)."""
        out = self._data.copy()
        out.flags.writeable = False
        return out

    @property
    def dtype(self):
        return self._data.dtype

    def __reduce__(self):
        # Through the checking constructor (no generated __setstate__ that could set fields).
        return (PackedWeights, (self.m, self.k, self._data))


cdef const void* _weights_for(PackedWeights w, bint is_double, str where, str name) except NULL:
    """Pointer to w's panels after checking their dtype against the fused type in use."""
    if w.is_double != is_double:
        raise ValueError(f"{where}: {name}: expected {'float64' if is_double else 'float32'} "
                         f"packed weights (the dtype of the data), got {w.dtype}")
    return _first_element(w._data, is_double)


cdef const void* _first_element(object data, bint is_double) except NULL:
    """Pointer to the first element of a private 1-D float64 (is_double) or float32 array.

    The memoryviews are released on return; the data stays where it is, owned by the
    object that holds ``data`` (PackedWeights, StructuredProjection), which the caller's
    reference keeps alive."""
    cdef const double[::1] d
    cdef const float[::1] f
    if is_double:
        d = data
        return <const void*>&d[0]
    f = data
    return <const void*>&f[0]


def packed_weights(const floating[:, ::1] W,       # IN (m, k)
                   scale):                         # IN (m,) or None (ones)
    """PackedWeights of W and its scales (None: all ones)."""
    cdef Py_ssize_t m = W.shape[0], k = W.shape[1]
    cdef const floating[::1] s
    cdef const floating* sp = NULL
    if m < 1 or k < 1:
        raise ValueError("packed_weights: expected a non-empty weight matrix")
    if scale is not None:
        s = scale
        if s.shape[0] != m:
            raise ValueError("packed_weights: expected one scale per weight row")
        sp = &s[0]
    data = np.empty(_packed_size(m, k, floating is double),
                    dtype=np.float64 if floating is double else np.float32)
    cdef floating[::1] p = data
    with nogil:
        pack_weights(&W[0, 0], sp, m, k, &p[0])
    # PackedWeights copies it (once per fit, m k elements, next to the O(n m k) transforms).
    return PackedWeights(m, k, data)


def dense_activation(const floating[:, ::1] X,      # IN (n, >= k); first k columns used
                     PackedWeights weights,         # IN packed_weights(W (m, k), scale)
                     int order,                     # ACT_STEP, ACT_RELU or ACT_IDENTITY
                     floating[:, :] out,            # OUT (n, >= m), rows contiguous; first m columns written
                     int n_threads):
    """out[:, :m] = act(scale * X[:, :k] @ W.T), act = step (ACT_STEP), relu (ACT_RELU) or
    none (ACT_IDENTITY).

    Using the leading columns of wider arrays lets a layer read phi_{h-1} straight out of
    psi_{h-1} = [phi_{h-1}, sketch] and write phi_h into the front of psi_h.
    """
    if weights is None:
        raise ValueError("dense_activation: weights: expected PackedWeights, got None")
    # Leading dimensions from the strides: X and out may be column ranges of wider arrays.
    cdef Py_ssize_t n = X.shape[0], ldx = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t ldo = out.strides[0] // sizeof(floating)
    cdef Py_ssize_t m = weights.m, k = weights.k
    cdef Py_ssize_t blk, r0, rb, n_blocks
    if (k > X.shape[1] or out.shape[0] != n or out.shape[1] < m
            or order < NTKFAST_ACT_STEP or order > NTKFAST_ACT_IDENTITY
            or out.strides[1] != sizeof(floating) or out.strides[0] % sizeof(floating)):
        raise ValueError(
            f"dense_activation: inconsistent shapes, strides or order: expected X (n, >= {k}), "
            f"out ({X.shape[0]}, >= {m}) with contiguous rows and order 0-2, got X "
            f"{(X.shape[0], X.shape[1])}, out {(out.shape[0], out.shape[1])} with strides "
            f"{(out.strides[0], out.strides[1])}, order {order}"
        )
    check_n_threads(n_threads, "dense_activation")
    cdef const floating* packed = <const floating*>_weights_for(
        weights, floating is double, "dense_activation", "weights")
    if n == 0:
        return
    n_threads = threads_for(n_threads, <double>n * m * k)
    n_blocks = _row_blocks(n, n_threads, &rb)
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads):
            r0 = blk * rb
            dense_activation_packed(&X[r0, 0], ldx, min(rb, n - r0), k, packed, m,
                                    order, &out[r0, 0], ldo)


def ntk_layer_inputs(const floating[:, ::1] psi,      # IN (n, d_psi): psi_{h-1}; phi_{h-1} first
                     PackedWeights relu,                # IN packed_weights(relu W (m1, k), scales)
                     PackedWeights step,                # IN packed_weights(step W (m0, k), None)
                     floating step_scale,
                     const Py_ssize_t[::1] step_indices,  # IN (m0,), values in [0, D)
                     const floating[::1] step_signs,      # IN (m0,)
                     const Py_ssize_t[::1] psi_indices,   # IN (d_psi,), values in [0, D)
                     const floating[::1] psi_signs,       # IN (d_psi,)
                     floating[:, :] dest,               # OUT (n, >= m1), rows contiguous: phi_h
                     floating[:, ::1] cs_psi,           # OUT (n, D): CountSketch of psi_{h-1}
                     floating[:, ::1] cs_step,          # OUT (n, D): CountSketch of a_h
                     floating[:, ::1] work,             # scratch (>= n_threads, >= ROW_BLOCK * m0)
                     int n_threads):
    """One layer of the NTK features up to the FFTs, in one parallel loop over row blocks:
    phi_h = relu features of phi_{h-1}, and the two CountSketches that TS(psi_{h-1}, a_h)
    multiplies (the step features are kept as 0/1 for one block of rows per thread, in its
    row of ``work``, never beyond).  The same results as dense_activation and
    count_sketch_rows, in one parallel loop, each block of psi read while in cache.

    The step features number m0 = step.m, which may differ from the m1 = relu.m ReLU
    features (both read the same k inputs): only their CountSketch leaves the loop."""
    if relu is None or step is None:
        raise ValueError("ntk_layer_inputs: relu, step: expected PackedWeights, got None")
    cdef Py_ssize_t n = psi.shape[0], ldx = psi.strides[0] // sizeof(floating)
    cdef Py_ssize_t d_psi = psi.shape[1], D = cs_psi.shape[1]
    cdef Py_ssize_t ldo = dest.strides[0] // sizeof(floating)
    cdef Py_ssize_t m = relu.m, k = relu.k, m0 = step.m
    cdef Py_ssize_t blk, r0, rb, n_blocks, r, nr
    if (k > d_psi or step.k != k or dest.shape[0] != n or dest.shape[1] < m
            or dest.strides[1] != sizeof(floating) or dest.strides[0] % sizeof(floating)
            or step_indices.shape[0] != m0 or step_signs.shape[0] != m0
            or psi_indices.shape[0] != d_psi or psi_signs.shape[0] != d_psi
            or cs_psi.shape[0] != n or cs_step.shape[0] != n or cs_step.shape[1] != D
            or work.shape[0] < n_threads or work.shape[1] < ROW_BLOCK * m0):
        raise ValueError(
            f"ntk_layer_inputs: inconsistent shapes: expected psi (n, >= k), relu weights "
            f"(m1, k) and step weights (m0, k), dest (n, >= m1) with contiguous rows, step hash of "
            f"length m0, psi hash of length d_psi, cs_psi and cs_step (n, D), work (>= n_threads,"
            f" >= {ROW_BLOCK} m0); got psi {(psi.shape[0], psi.shape[1])}, relu ({m}, {k}), step "
            f"({step.m}, {step.k}), dest {(dest.shape[0], dest.shape[1])} strides "
            f"{(dest.strides[0], dest.strides[1])}, step hash {step_indices.shape[0]}/{step_signs.shape[0]}, "
            f"psi hash {psi_indices.shape[0]}/{psi_signs.shape[0]}, cs_psi "
            f"{(cs_psi.shape[0], cs_psi.shape[1])}, cs_step {(cs_step.shape[0], cs_step.shape[1])}, work "
            f"{(work.shape[0], work.shape[1])}, n_threads {n_threads}"
        )
    if D < 1:
        raise ValueError("ntk_layer_inputs: cs_psi, cs_step: expected at least 1 bucket, got 0")
    check_n_threads(n_threads, "ntk_layer_inputs")
    cdef const floating* relu_p = <const floating*>_weights_for(
        relu, floating is double, "ntk_layer_inputs", "relu")
    cdef const floating* step_p = <const floating*>_weights_for(
        step, floating is double, "ntk_layer_inputs", "step")
    cdef const Py_ssize_t[::1] s_idx = _checked_indices(step_indices, D, "ntk_layer_inputs",
                                                        "step_indices")
    cdef const Py_ssize_t[::1] p_idx = _checked_indices(psi_indices, D, "ntk_layer_inputs",
                                                        "psi_indices")
    if n == 0:
        return
    n_threads = threads_for(n_threads, <double>n * (m + m0) * k)
    n_blocks = _row_blocks(n, n_threads, &rb)
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads):
            r0 = blk * rb
            nr = min(rb, n - r0)
            dense_activation_packed(&psi[r0, 0], ldx, nr, k, relu_p, m, NTKFAST_ACT_RELU,
                                    &dest[r0, 0], ldo)
            step_sketch_packed(&psi[r0, 0], ldx, nr, k, step_p, m0, step_scale,
                               &s_idx[0], &step_signs[0], &cs_step[r0, 0], D, D,
                               &work[omp_get_thread_num(), 0])
            for r in range(r0, r0 + nr):
                count_sketch_row(&psi[r, 0], d_psi, &p_idx[0], &psi_signs[0], &cs_psi[r, 0], D)


ROW_BLOCK_SIZE = ROW_BLOCK


def multiply_spectra(floating[:, ::1] A, const floating[:, ::1] B, int n_threads):
    """A *= B row by row, A and B float views (n, 2 * n_freq) of complex rfft spectra."""
    cdef Py_ssize_t n = A.shape[0], w = A.shape[1], i
    if B.shape[0] != n or B.shape[1] != w or w % 2:
        raise ValueError(f"multiply_spectra: inconsistent shapes: expected A and B of one "
                         f"shape with an even width, got {(A.shape[0], A.shape[1])} and {(B.shape[0], B.shape[1])}")
    check_n_threads(n_threads, "multiply_spectra")
    if n == 0:
        return
    n_threads = threads_for(n_threads, 3.0 * n * w)
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            spectrum_multiply(&A[i, 0], &B[i, 0], w // 2)


def spectrum_to_real_rows(const floating[:, ::1] spec,   # IN (n, 2 * (D // 2 + 1)): rfft spectra
                          Py_ssize_t D,
                          floating[:, :] out,               # OUT (n, >= col0 + D), rows contiguous
                          Py_ssize_t col0, int n_threads):
    """out[i, col0:col0 + D] = the orthonormal real Fourier coordinates of the length-D row
    whose rfft is spec[i] (spectrum_to_real_row)."""
    cdef Py_ssize_t n = spec.shape[0], i, ldo = out.strides[0] // sizeof(floating)
    if (D < 1 or spec.shape[1] != 2 * (D // 2 + 1) or out.shape[0] != n or col0 < 0
            or out.shape[1] < col0 + D or out.strides[1] != sizeof(floating)
            or out.strides[0] % sizeof(floating)):
        raise ValueError(f"spectrum_to_real_rows: inconsistent shapes: spectra "
                         f"({spec.shape[0]}, {spec.shape[1]}) for length {D}, out "
                         f"({out.shape[0]}, {out.shape[1]}) from column {col0}")
    check_n_threads(n_threads, "spectrum_to_real_rows")
    if n == 0:
        return
    n_threads = threads_for(n_threads, 2.0 * n * D)
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            spectrum_to_real_row(&spec[i, 0], D, &out[i, col0])


def sign_rows(const floating[:, ::1] X,          # IN (n, k)
              const floating[::1] signs,         # IN (k,)
              floating[:, ::1] out,              # OUT (n, k); may be X itself
              int n_threads):
    """out[i] = signs * X[i] (TensorSRHT's random signs), row by row."""
    cdef Py_ssize_t n = X.shape[0], k = X.shape[1], i
    if signs.shape[0] != k or out.shape[0] != n or out.shape[1] != k:
        raise ValueError(f"sign_rows: inconsistent shapes: expected signs of length {k} and out "
                         f"of shape ({n}, {k}), got {signs.shape[0]} and ({out.shape[0]}, {out.shape[1]})")
    check_n_threads(n_threads, "sign_rows")
    if n == 0 or k == 0:
        return
    n_threads = threads_for(n_threads, <double>n * k)
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            sign_row(&X[i, 0], &signs[0], k, &out[i, 0])


def srht_combine_rows(const floating[:, ::1] spec_u,   # IN (n, 2 * (ku // 2 + 1)): rfft of signed U
                      Py_ssize_t ku,
                      const Py_ssize_t[::1] freq_u,     # IN (m,), values in [0, ku)
                      const floating[:, ::1] spec_v,    # IN (n, 2 * (kv // 2 + 1))
                      Py_ssize_t kv,
                      const Py_ssize_t[::1] freq_v,     # IN (m,), values in [0, kv)
                      double scale,
                      floating[:, ::1] out,             # OUT (n, >= col0 + 2m); columns col0.. written
                      Py_ssize_t col0, int n_threads):
    """out[i, col0:col0 + 2m] = TensorSRHT of row i from the two spectra (srht_combine_row)."""
    cdef Py_ssize_t n = spec_u.shape[0], m = freq_u.shape[0], i
    if ku < 1 or kv < 1 or spec_u.shape[1] != 2 * (ku // 2 + 1) or spec_v.shape[1] != 2 * (kv // 2 + 1) \
            or spec_v.shape[0] != n or freq_v.shape[0] != m or out.shape[0] != n \
            or col0 < 0 or out.shape[1] < col0 + 2 * m:
        raise ValueError(
            f"srht_combine_rows: inconsistent shapes: spectra ({spec_u.shape[0]}, {spec_u.shape[1]}) "
            f"and ({spec_v.shape[0]}, {spec_v.shape[1]}) for lengths {ku} and {kv}, "
            f"{m} and {freq_v.shape[0]} frequencies, out ({out.shape[0]}, {out.shape[1]}) from column {col0}")
    check_n_threads(n_threads, "srht_combine_rows")
    cdef const Py_ssize_t[::1] fu = _checked_indices(freq_u, ku, "srht_combine_rows", "freq_u")
    cdef const Py_ssize_t[::1] fv = _checked_indices(freq_v, kv, "srht_combine_rows", "freq_v")
    if n == 0 or m == 0:
        return
    cdef floating sc = <floating>scale
    n_threads = threads_for(n_threads, 8.0 * n * m)
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            srht_combine_row(&spec_u[i, 0], ku, &fu[0], &spec_v[i, 0], kv, &fv[0], m, sc,
                             &out[i, col0])


@cython.final
cdef class StructuredProjection:
    """A structured projection ``z = M x`` of ``k`` inputs onto ``m`` outputs (one ``def``
    object per layer of a fit, like :class:`PackedWeights`).

    ``M`` stacks ``n_blocks = ceil(m / p)`` blocks of ``p x p`` (``p`` a power of 2,
    ``k <= p``; inputs zero-padded to ``p``), each the product of ``n_stages`` stages
    ``v <- H_p (D * v[perm])`` (``structured_project_row``).

    Parameters
    ----------
    k, m : int >= 1
    diag : ndarray of shape (n_blocks, n_stages, p), float32 or float64
        Finite diagonals.  Copied (private, read-only).
    perm : ndarray of shape (n_blocks, n_stages, p), intp, or None
        Index maps ``v[perm]`` (values in ``[0, p)``); None: no permutation.  Copied.
    """
    cdef readonly Py_ssize_t k, m, p, n_blocks, n_stages
    cdef readonly bint is_double
    cdef object _diag
    cdef object _perm

    def __cinit__(self, Py_ssize_t k, Py_ssize_t m, diag, perm):
        if not isinstance(diag, np.ndarray) or diag.dtype not in (np.float32, np.float64) \
                or diag.ndim != 3 or 0 in diag.shape:
            raise ValueError(f"StructuredProjection: diag: expected a non-empty 3-D float32 or "
                             f"float64 array, got {getattr(diag, 'dtype', type(diag).__name__)} "
                             f"of shape {getattr(diag, 'shape', None)}")
        nb, ns, p = diag.shape
        if p & (p - 1):
            raise ValueError(f"StructuredProjection: diag: expected a power of 2 as the last "
                             f"dimension, got {p}")
        if k < 1 or k > p or m < 1 or nb != (m + p - 1) // p:
            raise ValueError(f"StructuredProjection: k, m: expected 1 <= k <= {p} and "
                             f"ceil(m / {p}) = {nb} blocks, got k={k}, m={m}")
        if not np.all(np.isfinite(diag)):
            raise ValueError("StructuredProjection: diag: expected finite values")
        self.k, self.m, self.p, self.n_blocks, self.n_stages = k, m, p, nb, ns
        self.is_double = diag.dtype == np.float64
        self._diag = np.ascontiguousarray(diag).ravel().copy()
        self._diag.flags.writeable = False
        if perm is None:
            self._perm = None
        else:
            if not isinstance(perm, np.ndarray) or perm.shape != diag.shape \
                    or perm.dtype.kind not in "iu":
                raise ValueError(f"StructuredProjection: perm: expected an integer array of "
                                 f"shape {diag.shape}, got {getattr(perm, 'shape', type(perm).__name__)}")
            flat = np.ascontiguousarray(perm, dtype=np.intp).ravel().copy()
            if flat.size and (flat.min() < 0 or flat.max() >= p):
                raise ValueError(f"StructuredProjection: perm: expected indices in [0, {p})")
            flat.flags.writeable = False
            self._perm = flat

    @property
    def dtype(self):
        return self._diag.dtype

    def __reduce__(self):
        perm = None if self._perm is None else self._perm.reshape(self.n_blocks, self.n_stages, self.p)
        return (StructuredProjection, (self.k, self.m,
                                       self._diag.reshape(self.n_blocks, self.n_stages, self.p), perm))


cdef const void* _diag_for(StructuredProjection proj, bint is_double, str where) except NULL:
    if proj is None:
        raise ValueError(f"{where}: projection: expected a StructuredProjection, got None")
    if proj.is_double != is_double:
        raise ValueError(f"{where}: projection: expected {'float64' if is_double else 'float32'} "
                         f"diagonals (the dtype of the data), got {proj.dtype}")
    return _first_element(proj._diag, is_double)


cdef const Py_ssize_t* _perm_for(StructuredProjection proj):
    cdef const Py_ssize_t[::1] pm
    if proj._perm is None:
        return NULL
    pm = proj._perm
    return &pm[0]


def structured_activation(const floating[:, ::1] X,   # IN (n, >= k); first k columns used
                          StructuredProjection projection,
                          relu_scales,                 # IN (m1,) > 0, or None (no ReLU output)
                          relu_out,                    # OUT (n, >= m1) rows contiguous, or None
                          double step_scale,
                          step_out,                    # OUT (n, m0), or None (no step output)
                          int n_threads):
    """z = M X[i, :k] per row (``projection``); relu_out[i, :m1] = relu_scales * relu(z[:m1])
    and step_out[i, :m0] = step_scale * step(z[:m0]), m1, m0 <= projection.m (either output
    may be None).  The projection is shared by both outputs."""
    cdef Py_ssize_t n = X.shape[0], ldx = X.strides[0] // sizeof(floating)
    cdef const floating* dg = <const floating*>_diag_for(projection, floating is double,
                                                         "structured_activation")
    cdef Py_ssize_t k = projection.k, m = projection.m, p = projection.p
    cdef Py_ssize_t nb = projection.n_blocks, ns = projection.n_stages
    cdef Py_ssize_t m1 = 0, m0 = 0, ldr = 0, i, tid
    cdef const floating[::1] rs
    cdef floating[:, :] ro
    cdef floating[:, ::1] so
    cdef bint do_relu = relu_out is not None, do_step = step_out is not None
    if k > X.shape[1]:
        raise ValueError(f"structured_activation: X: expected at least {k} columns, got {X.shape[1]}")
    if do_relu:
        if relu_scales is None:
            raise ValueError("structured_activation: relu_scales: expected an array with relu_out")
        rs = relu_scales
        ro = relu_out
        m1 = rs.shape[0]
        if (m1 > m or ro.shape[0] != n or ro.shape[1] < m1 or ro.strides[1] != sizeof(floating)
                or ro.strides[0] % sizeof(floating)):
            raise ValueError(f"structured_activation: relu_scales, relu_out: expected at most {m} "
                             f"scales and out ({n}, >= m1) with contiguous rows, got {m1} and "
                             f"{(ro.shape[0], ro.shape[1])}")
        ldr = ro.strides[0] // sizeof(floating)
        if not np.all(np.asarray(rs) > 0):
            raise ValueError("structured_activation: relu_scales: expected values > 0")
    if do_step:
        so = step_out
        m0 = so.shape[1]
        if m0 > m or so.shape[0] != n:
            raise ValueError(f"structured_activation: step_out: expected ({n}, <= {m}), got "
                             f"{(so.shape[0], so.shape[1])}")
    check_n_threads(n_threads, "structured_activation")
    if n == 0:
        return
    cdef const Py_ssize_t* pm = _perm_for(projection)
    n_threads = threads_for(n_threads, <double>n * nb * ns * p * 12.0)
    scratch = np.empty((n_threads, m + 2 * p), dtype=np.float64 if floating is double else np.float32)
    cdef floating[:, ::1] w = scratch
    cdef floating ss = <floating>step_scale
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            tid = omp_get_thread_num()
            structured_project_row(&X[i, 0], k, dg, pm, nb, ns, p, m, &w[tid, 0], &w[tid, m])
            if do_relu:
                scaled_relu_row(&w[tid, 0], &rs[0], m1, &ro[i, 0])
            if do_step:
                scaled_step_row(&w[tid, 0], ss, m0, &so[i, 0])


def structured_project(const floating[:, ::1] X,   # IN (n, >= k); first k columns used
                       StructuredProjection projection,
                       floating[:, ::1] out,           # OUT (n, m)
                       int n_threads):
    """out[i] = M X[i, :k] (``projection``, no activation)."""
    cdef Py_ssize_t n = X.shape[0], i, tid
    cdef const floating* dg = <const floating*>_diag_for(projection, floating is double,
                                                         "structured_project")
    cdef Py_ssize_t k = projection.k, m = projection.m, p = projection.p
    cdef Py_ssize_t nb = projection.n_blocks, ns = projection.n_stages
    if k > X.shape[1] or out.shape[0] != n or out.shape[1] != m:
        raise ValueError(f"structured_project: inconsistent shapes: expected X (n, >= {k}) and "
                         f"out (n, {m}), got {(X.shape[0], X.shape[1])} and {(out.shape[0], out.shape[1])}")
    check_n_threads(n_threads, "structured_project")
    if n == 0:
        return
    cdef const Py_ssize_t* pm = _perm_for(projection)
    n_threads = threads_for(n_threads, <double>n * nb * ns * p * 12.0)
    scratch = np.empty((n_threads, 2 * p), dtype=np.float64 if floating is double else np.float32)
    cdef floating[:, ::1] w = scratch
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            tid = omp_get_thread_num()
            structured_project_row(&X[i, 0], k, dg, pm, nb, ns, p, m, &out[i, 0], &w[tid, 0])


def ntk_layer_inputs_structured(
        const floating[:, ::1] psi,          # IN (n, d_psi): psi_{h-1}, hashed into cs_psi
        const floating[:, ::1] phi,          # IN (n, >= k): what is projected (psi itself, or
                                             #    the rotated first layer's input)
        StructuredProjection projection,     # z = M phi, m >= max(m1, m0) outputs
        const floating[::1] relu_scales,     # IN (m1,) > 0
        floating step_scale,
        const Py_ssize_t[::1] step_indices,  # IN (m0,), values in [0, D)
        const floating[::1] step_signs,      # IN (m0,)
        const Py_ssize_t[::1] psi_indices,   # IN (d_psi,), values in [0, D)
        const floating[::1] psi_signs,       # IN (d_psi,)
        floating[:, :] dest,                 # OUT (n, >= m1), rows contiguous: phi_h
        floating[:, ::1] cs_psi,             # OUT (n, D): CountSketch of psi_{h-1}
        floating[:, ::1] cs_step,            # OUT (n, D): CountSketch of a_h
        int n_threads):
    """``ntk_layer_inputs`` with one structured projection z = M phi[i, :k] shared by the ReLU
    and the step features: phi_h = relu_scales * relu(z[:m1]), a_h = step_scale * step(z[:m0])
    hashed straight into its CountSketch, and the CountSketch of psi_{h-1}, in one parallel
    loop."""
    cdef Py_ssize_t n = psi.shape[0], d_psi = psi.shape[1], D = cs_psi.shape[1]
    cdef const floating* dg = <const floating*>_diag_for(projection, floating is double,
                                                         "ntk_layer_inputs_structured")
    cdef Py_ssize_t k = projection.k, m = projection.m, p = projection.p
    cdef Py_ssize_t nb = projection.n_blocks, ns = projection.n_stages
    cdef Py_ssize_t m1 = relu_scales.shape[0], m0 = step_indices.shape[0], i, tid
    cdef Py_ssize_t ldo = dest.strides[0] // sizeof(floating)
    if (k > phi.shape[1] or phi.shape[0] != n or m1 > m or m0 > m or dest.shape[0] != n or dest.shape[1] < m1
            or dest.strides[1] != sizeof(floating) or dest.strides[0] % sizeof(floating)
            or step_signs.shape[0] != m0 or psi_indices.shape[0] != d_psi
            or psi_signs.shape[0] != d_psi or cs_psi.shape[0] != n or cs_step.shape[0] != n
            or cs_step.shape[1] != D):
        raise ValueError(
            f"ntk_layer_inputs_structured: inconsistent shapes: expected phi (n, >= {k}), at most "
            f"{m} ReLU and step features, dest (n, >= m1) with contiguous rows, step hash of "
            f"length m0, psi hash of length d_psi, cs_psi and cs_step (n, D); got psi "
            f"{(n, d_psi)}, phi {(phi.shape[0], phi.shape[1])}, m1 {m1}, step hash {m0}/{step_signs.shape[0]}, dest "
            f"{(dest.shape[0], dest.shape[1])}, psi hash {psi_indices.shape[0]}/{psi_signs.shape[0]}, "
            f"cs_psi {(cs_psi.shape[0], cs_psi.shape[1])}, cs_step {(cs_step.shape[0], cs_step.shape[1])}")
    if D < 1:
        raise ValueError("ntk_layer_inputs_structured: cs_psi, cs_step: expected at least 1 bucket, got 0")
    if not np.all(np.asarray(relu_scales) > 0):
        raise ValueError("ntk_layer_inputs_structured: relu_scales: expected values > 0")
    check_n_threads(n_threads, "ntk_layer_inputs_structured")
    cdef const Py_ssize_t[::1] s_idx = _checked_indices(step_indices, D, "ntk_layer_inputs_structured",
                                                        "step_indices")
    cdef const Py_ssize_t[::1] p_idx = _checked_indices(psi_indices, D, "ntk_layer_inputs_structured",
                                                        "psi_indices")
    if n == 0:
        return
    cdef const Py_ssize_t* pm = _perm_for(projection)
    n_threads = threads_for(n_threads, <double>n * (nb * ns * p * 12.0 + d_psi + m0 + m1 + 4 * D))
    scratch = np.empty((n_threads, m + 2 * p), dtype=np.float64 if floating is double else np.float32)
    cdef floating[:, ::1] w = scratch
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            tid = omp_get_thread_num()
            structured_project_row(&phi[i, 0], k, dg, pm, nb, ns, p, m, &w[tid, 0], &w[tid, m])
            scaled_relu_row(&w[tid, 0], &relu_scales[0], m1, &dest[i, 0])
            step_count_sketch_row(&w[tid, 0], m0, &s_idx[0], &step_signs[0], step_scale,
                                  &cs_step[i, 0], D)
            count_sketch_row(&psi[i, 0], d_psi, &p_idx[0], &psi_signs[0], &cs_psi[i, 0], D)


# --------------------------------------------------------------------------------------
# C-level API (declared in _sketch.pxd): float32 / float64 twins with stable C names, each a
# direct call of the fused kernel above that the drivers use (see _capi.pxd for why twins).
# --------------------------------------------------------------------------------------

cdef void count_sketch_row_f(const float* x, Py_ssize_t k, const Py_ssize_t* indices,
                             const float* signs, float* out, Py_ssize_t n_buckets) noexcept nogil:
    count_sketch_row(x, k, indices, signs, out, n_buckets)


cdef void count_sketch_row_d(const double* x, Py_ssize_t k, const Py_ssize_t* indices,
                             const double* signs, double* out, Py_ssize_t n_buckets) noexcept nogil:
    count_sketch_row(x, k, indices, signs, out, n_buckets)


cdef void step_count_sketch_row_f(const float* z, Py_ssize_t k, const Py_ssize_t* indices,
                                  const float* signs, float scale, float* out,
                                  Py_ssize_t n_buckets) noexcept nogil:
    step_count_sketch_row(z, k, indices, signs, scale, out, n_buckets)


cdef void step_count_sketch_row_d(const double* z, Py_ssize_t k, const Py_ssize_t* indices,
                                  const double* signs, double scale, double* out,
                                  Py_ssize_t n_buckets) noexcept nogil:
    step_count_sketch_row(z, k, indices, signs, scale, out, n_buckets)


cdef Py_ssize_t packed_size_f(Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    return ntkfast_packed_size_f(m, k)


cdef Py_ssize_t packed_size_d(Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    return ntkfast_packed_size_d(m, k)


cdef void pack_weights_f(const float* w, const float* scale, Py_ssize_t m, Py_ssize_t k,
                         float* packed) noexcept nogil:
    pack_weights(w, scale, m, k, packed)


cdef void pack_weights_d(const double* w, const double* scale, Py_ssize_t m, Py_ssize_t k,
                         double* packed) noexcept nogil:
    pack_weights(w, scale, m, k, packed)


cdef void dense_activation_packed_f(const float* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                    Py_ssize_t k, const float* packed, Py_ssize_t m, int order,
                                    float* out, Py_ssize_t ldo) noexcept nogil:
    dense_activation_packed(x, ldx, n_rows, k, packed, m, order, out, ldo)


cdef void dense_activation_packed_d(const double* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                    Py_ssize_t k, const double* packed, Py_ssize_t m, int order,
                                    double* out, Py_ssize_t ldo) noexcept nogil:
    dense_activation_packed(x, ldx, n_rows, k, packed, m, order, out, ldo)


cdef void step_sketch_packed_f(const float* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                               const float* packed, Py_ssize_t m, float scale,
                               const Py_ssize_t* indices, const float* signs,
                               float* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                               float* work) noexcept nogil:
    step_sketch_packed(x, ldx, n_rows, k, packed, m, scale, indices, signs, out, ldo,
                       n_buckets, work)


cdef void step_sketch_packed_d(const double* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                               const double* packed, Py_ssize_t m, double scale,
                               const Py_ssize_t* indices, const double* signs,
                               double* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                               double* work) noexcept nogil:
    step_sketch_packed(x, ldx, n_rows, k, packed, m, scale, indices, signs, out, ldo,
                       n_buckets, work)


cdef void spectrum_multiply_f(float* a, const float* b, Py_ssize_t n_freq) noexcept nogil:
    spectrum_multiply(a, b, n_freq)


cdef void spectrum_multiply_d(double* a, const double* b, Py_ssize_t n_freq) noexcept nogil:
    spectrum_multiply(a, b, n_freq)


cdef Py_ssize_t tensor_sketch_work_size(Py_ssize_t n_buckets) noexcept nogil:
    # Two interleaved rfft spectra of n_buckets // 2 + 1 frequencies.
    return 4 * (n_buckets // 2 + 1)


# The two TensorSketch twins are written out rather than fused: Cython cannot make the
# callback types follow a fused type.  Same steps as sketch.tensor_sketch_rows, one row.
cdef int tensor_sketch_pair_f(const float* u, Py_ssize_t ku, const Py_ssize_t* indices_u,
                              const float* signs_u,
                              const float* v, Py_ssize_t kv, const Py_ssize_t* indices_v,
                              const float* signs_v,
                              Py_ssize_t n_buckets, float* out, float* work,
                              ntkfast_rfft_f rfft, ntkfast_irfft_f irfft,
                              void* fft_ctx) noexcept nogil:
    cdef Py_ssize_t n_freq = n_buckets // 2 + 1
    cdef float* spec_u = work
    cdef float* spec_v = work + 2 * n_freq
    cdef int status
    count_sketch_row(u, ku, indices_u, signs_u, out, n_buckets)
    status = rfft(fft_ctx, out, spec_u, n_buckets)
    if status != 0:
        return status
    count_sketch_row(v, kv, indices_v, signs_v, out, n_buckets)
    status = rfft(fft_ctx, out, spec_v, n_buckets)
    if status != 0:
        return status
    spectrum_multiply(spec_u, spec_v, n_freq)
    return irfft(fft_ctx, spec_u, out, n_buckets)


cdef int tensor_sketch_pair_d(const double* u, Py_ssize_t ku, const Py_ssize_t* indices_u,
                              const double* signs_u,
                              const double* v, Py_ssize_t kv, const Py_ssize_t* indices_v,
                              const double* signs_v,
                              Py_ssize_t n_buckets, double* out, double* work,
                              ntkfast_rfft_d rfft, ntkfast_irfft_d irfft,
                              void* fft_ctx) noexcept nogil:
    cdef Py_ssize_t n_freq = n_buckets // 2 + 1
    cdef double* spec_u = work
    cdef double* spec_v = work + 2 * n_freq
    cdef int status
    count_sketch_row(u, ku, indices_u, signs_u, out, n_buckets)
    status = rfft(fft_ctx, out, spec_u, n_buckets)
    if status != 0:
        return status
    count_sketch_row(v, kv, indices_v, signs_v, out, n_buckets)
    status = rfft(fft_ctx, out, spec_v, n_buckets)
    if status != 0:
        return status
    spectrum_multiply(spec_u, spec_v, n_freq)
    return irfft(fft_ctx, spec_u, out, n_buckets)


cdef void sign_row_f(const float* x, const float* signs, Py_ssize_t k, float* out) noexcept nogil:
    sign_row(x, signs, k, out)


cdef void sign_row_d(const double* x, const double* signs, Py_ssize_t k, double* out) noexcept nogil:
    sign_row(x, signs, k, out)


cdef void srht_combine_row_f(const float* spec_u, Py_ssize_t ku, const Py_ssize_t* freq_u,
                             const float* spec_v, Py_ssize_t kv, const Py_ssize_t* freq_v,
                             Py_ssize_t m, float scale, float* out) noexcept nogil:
    srht_combine_row(spec_u, ku, freq_u, spec_v, kv, freq_v, m, scale, out)


cdef void srht_combine_row_d(const double* spec_u, Py_ssize_t ku, const Py_ssize_t* freq_u,
                             const double* spec_v, Py_ssize_t kv, const Py_ssize_t* freq_v,
                             Py_ssize_t m, double scale, double* out) noexcept nogil:
    srht_combine_row(spec_u, ku, freq_u, spec_v, kv, freq_v, m, scale, out)


cdef void fwht_f(float* v, Py_ssize_t p) noexcept nogil:
    fwht(v, p)


cdef void fwht_d(double* v, Py_ssize_t p) noexcept nogil:
    fwht(v, p)


cdef void structured_project_row_f(const float* x, Py_ssize_t k, const float* diag,
                                   const Py_ssize_t* perm, Py_ssize_t n_blocks,
                                   Py_ssize_t n_stages, Py_ssize_t p, Py_ssize_t m,
                                   float* out, float* work) noexcept nogil:
    structured_project_row(x, k, diag, perm, n_blocks, n_stages, p, m, out, work)


cdef void structured_project_row_d(const double* x, Py_ssize_t k, const double* diag,
                                   const Py_ssize_t* perm, Py_ssize_t n_blocks,
                                   Py_ssize_t n_stages, Py_ssize_t p, Py_ssize_t m,
                                   double* out, double* work) noexcept nogil:
    structured_project_row(x, k, diag, perm, n_blocks, n_stages, p, m, out, work)


cdef void spectrum_to_real_row_f(const float* spec, Py_ssize_t D, float* out) noexcept nogil:
    spectrum_to_real_row(spec, D, out)


cdef void spectrum_to_real_row_d(const double* spec, Py_ssize_t D, double* out) noexcept nogil:
    spectrum_to_real_row(spec, D, out)
