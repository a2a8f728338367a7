# Compiled kernels of ntkfast.
#
# Two levels per kernel (see STYLE.md): ``cdef ... noexcept nogil`` functions on raw pointers
# do the work and form the C-level API declared in _sketch.pxd; the ``def`` functions at the
# bottom take already-validated, C-contiguous arrays from the Python wrappers in
# ntkfast/*.py, release the GIL and run an OpenMP loop over them.
#
# Determinism: every parallel loop writes each output row from exactly one thread, and
# each row's values are computed by the same operations whatever block or thread it falls
# in (the dense kernels of _dense.h guarantee it per element), so results are bit-identical
# for any thread count and any split of the rows into batches.
cimport cython
from cython cimport floating

import numpy as np
from cython.parallel cimport prange
from libc.float cimport DBL_MAX, DBL_MIN
from libc.math cimport acos, asin, hypot, sqrt
from libc.string cimport memset

from ntkfast._openmp cimport NTKFAST_HAVE_OPENMP, omp_get_max_threads, omp_get_thread_num

cdef double PI = 3.141592653589793238462643383279502884

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


# Elementary operations worth one more thread.  Waking a thread costs microseconds on an
# idle machine but a scheduler time slice (measured: 25-70 ms per call) on a busy one, so
# small calls run on fewer threads.  Results do not depend on the thread count.
cdef enum:
    THREAD_GRAIN = 1 << 16


cpdef int effective_threads(int n_threads, double work) noexcept:
    """min(n_threads, work / THREAD_GRAIN), at least 1."""
    cdef double t = work / THREAD_GRAIN
    if t < 1.0:
        return 1
    if t < n_threads:
        return <int>t
    return n_threads


# --------------------------------------------------------------------------------------
# Arc-cosine kernel functions and the exact NTK / NNGP recursion (SPEC sections 1-2)
# --------------------------------------------------------------------------------------

cdef inline double _clip1(double t) noexcept nogil:
    # Rounding pushes cosines just past +-1; acos would return NaN there.
    if t > 1.0:
        return 1.0
    if t < -1.0:
        return -1.0
    return t


cdef inline double _times_norms(double v, double a, double b) noexcept nogil:
    """v * a * b for norms a, b >= 0 and |v| of order 1, without a spurious over- or underflow.

    (v * a) * b underflows to a few subnormal ulps when a is tiny and b large (2^-1070 *
    2^40 lost 2% of the value) and overflows when a, b are huge and v small; a * b first
    is right whenever that product is a normal number, and otherwise the order of the two
    products is chosen so that the intermediate stays in range.
    """
    cdef double p = a * b, t
    if DBL_MIN <= p <= DBL_MAX:
        return v * p
    if a < b:
        t = a
        a = b
        b = t
    if p > DBL_MAX:
        return (v * b) * a      # overflowing product: the smaller norm first
    return (v * a) * b          # underflowing product: the larger norm first


cdef double kappa0(double t) noexcept nogil:
    """kappa0(t) = 1 - arccos(t) / pi, t clipped to [-1, 1]."""
    t = _clip1(t)
    return 1.0 - acos(t) / PI


cdef double kappa1(double t) noexcept nogil:
    """kappa1(t) = (sqrt(1 - t^2) + t (pi - arccos t)) / pi, t clipped to [-1, 1]."""
    t = _clip1(t)
    return (sqrt(1.0 - t * t) + t * (PI - acos(t))) / PI


cdef inline void _arccos_layer(double rho, double u, double* k0, double* k1,
                               double* one_minus_k1) noexcept nogil:
    """kappa0(rho), kappa1(rho) and 1 - kappa1(rho), given rho and u = 1 - rho.

    The angle comes from whichever of rho, u is accurate at its end of [-1, 1]
    (acos has an infinite slope at +-1), and 1 - kappa1 is computed directly, so that a
    pair of parallel inputs keeps u = 0 exactly through every layer.
    """
    cdef double angle, sine
    if rho >= 0.0:
        angle = 2.0 * asin(sqrt(0.5 * u))           # arccos(rho), accurate near rho = 1
    else:
        angle = PI - 2.0 * asin(sqrt(0.5 * (1.0 + rho)))   # accurate near rho = -1
    sine = sqrt(u * (1.0 + rho))                      # sqrt(1 - rho^2)
    k0[0] = 1.0 - angle / PI
    k1[0] = (sine + rho * (PI - angle)) / PI
    one_minus_k1[0] = (u * PI - sine + rho * angle) / PI


cdef void ntk_pair(double cosine, double norm_x, double norm_y, int depth, double bias,
                   double* ntk, double* nngp) noexcept nogil:
    """NTK and NNGP of depth ``depth`` for one pair of inputs.

    ``cosine`` is <x, y> / (||x|| ||y||) (ignored when a norm is zero), ``norm_x`` and
    ``norm_y`` the Euclidean norms, ``bias`` the bias variance b^2.

    The recursion runs on quantities divided by c_h = sqrt(Sigma_h(x,x) Sigma_h(y,y)), so
    that it neither overflows nor loses the cosine for inputs of huge or tiny magnitude;
    only the final products with c_L can over- or underflow, as the true values would.
    Beside rho_h it carries u_h = 1 - rho_h, updated by the exact identity
        c_h - c_{h-1} - b^2 = b^2 (s_x - s_y)^2 / (c_h + c_{h-1} + b^2)
    (s = sqrt(Sigma(.,.))) instead of by subtraction: near rho = 1 an error of 1e-16 in rho
    would become 1e-8 in arccos(rho).
    """
    cdef double sb = sqrt(bias)
    cdef double sx, sy, sx_new, sy_new, a, b, d, rho, u, theta, k0, k1, omk1, ratio
    cdef int h
    if bias == 0.0:
        if norm_x == 0.0 or norm_y == 0.0:
            # Every term carries a factor of the zero norm (SPEC: rho = 0 there).
            ntk[0] = 0.0
            nngp[0] = 0.0
            return
        sx = norm_x
        sy = norm_y
        rho = _clip1(cosine)
        u = 1.0 - rho
    else:
        # sqrt(Sigma_0(x,x)) = sqrt(||x||^2 + b^2), computed without squaring ||x||.
        sx = hypot(norm_x, sb)
        sy = hypot(norm_y, sb)
        a = (norm_x / sx) * (norm_y / sy)
        b = (sb / sx) * (sb / sy)
        d = norm_x - norm_y
        rho = _clip1(a * _clip1(cosine) + b)
        d = sb * (d / sx) / sy                   # b (||x|| - ||y||) / (s_x s_y)
        u = d * d / (1.0 + a + b) + a * (1.0 - _clip1(cosine))
    theta = rho                                  # Theta_0 / c_0
    for h in range(depth):
        _arccos_layer(rho, u, &k0, &k1, &omk1)
        if bias == 0.0:
            # c does not change without bias: Sigma_h / c = kappa1(rho_{h-1}).
            rho = k1
            u = omk1
            theta = theta * k0 + rho
        else:
            sx_new = hypot(sx, sb)               # Sigma_h(x,x) = Sigma_{h-1}(x,x) + b^2
            sy_new = hypot(sy, sb)
            ratio = (sx / sx_new) * (sy / sy_new)
            b = (sb / sx_new) * (sb / sy_new)
            d = sb * ((sx - sy) / sx_new) / sy_new
            rho = _clip1(ratio * k1 + b)
            u = d * d / (1.0 + ratio + b) + ratio * omk1
            theta = theta * k0 * ratio + rho
            sx = sx_new
            sy = sy_new
        u = min(2.0, max(0.0, u))
    ntk[0] = _times_norms(theta, sx, sy)
    nngp[0] = _times_norms(rho, sx, sy)


cdef void ntk_self(double norm_x, int depth, double bias, double* ntk, double* nngp) noexcept nogil:
    """NTK and NNGP of an input with itself, in closed form.

    rho_h = 1 at every layer, so SigmaDot_h = 1 and Sigma_h(x,x) = ||x||^2 + (h+1) b^2;
    computing this through ``ntk_pair`` would let rounding move rho below 1, where arccos
    has an infinite slope (an error of 1e-16 in rho becomes 1e-8 in the kernel).
    """
    cdef double sq = norm_x * norm_x
    nngp[0] = sq + (depth + 1) * bias
    ntk[0] = (depth + 1) * sq + bias * (depth + 1) * (depth + 2) / 2.0


cdef inline double _pair_value(int kind, double cosine, double nx, double ny, int depth,
                               double bias) noexcept nogil:
    cdef double a, b
    if kind == 0:
        if nx == 0.0 or ny == 0.0:
            return 0.0          # step(0) = 0: features of a zero row are zero
        return kappa0(cosine)
    if kind == 1:
        if nx == 0.0 or ny == 0.0:
            return 0.0
        return _times_norms(kappa1(cosine), nx, ny)
    ntk_pair(cosine, nx, ny, depth, bias, &a, &b)
    return a if kind == 3 else b


cdef inline double _self_value(int kind, double nx, int depth, double bias) noexcept nogil:
    cdef double a, b
    if kind == 0:
        return 1.0 if nx != 0.0 else 0.0
    if kind == 1:
        return nx * nx
    ntk_self(nx, depth, bias, &a, &b)
    return a if kind == 3 else b


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
    """out[r, :m] = act(scale * x[r, :k] @ w.T), one fused pass (_dense.h); act = step (order
    0), relu (1) or the identity (2); w and scale packed by pack_weights."""
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
    dense_activation_packed(x, ldx, n_rows, k, packed, m, 0, work, m)
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


# --------------------------------------------------------------------------------------
# Python-visible drivers.  Inputs are validated by the callers in ntkfast/*.py; only the
# C-level preconditions the wrappers cannot see are asserted here.
# --------------------------------------------------------------------------------------

def exact_kernel_block(floating[:, ::1] G,         # IN: cosines, OUT: kernel values
                       const double[::1] norm_x,    # IN: norms of the block's rows
                       const double[::1] norm_y,    # IN: norms of all columns
                       Py_ssize_t diag_offset,      # >= 0: symmetric, row i is column i + diag_offset
                       int kind, int depth, double bias, int n_threads):
    """Turn a block of cosines into kernel values in place.

    kind: 0 arc-cosine order 0, 1 arc-cosine order 1, 2 NNGP, 3 NTK.  In the symmetric case
    only the upper triangle (column >= row + diag_offset) is computed; the caller mirrors it.
    """
    cdef Py_ssize_t n_rows = G.shape[0], n_cols = G.shape[1]
    cdef Py_ssize_t i, j, j0
    if norm_x.shape[0] != n_rows or norm_y.shape[0] != n_cols:
        raise ValueError("exact_kernel_block: norm lengths do not match the block")
    n_threads = effective_threads(n_threads, 10.0 * n_rows * n_cols * (depth if kind > 1 else 1))
    with nogil:
        for i in prange(n_rows, schedule="dynamic", num_threads=n_threads):
            if diag_offset >= 0:
                j0 = i + diag_offset
                if j0 < n_cols:
                    G[i, j0] = <floating>_self_value(kind, norm_x[i], depth, bias)
                j0 = j0 + 1
            else:
                j0 = 0
            for j in range(j0, n_cols):
                G[i, j] = <floating>_pair_value(kind, G[i, j], norm_x[i], norm_y[j], depth, bias)


def mirror_upper(floating[:, ::1] K, int n_threads):
    """K[i, j] = K[j, i] for i > j (square K), in cache-sized tiles."""
    cdef Py_ssize_t n = K.shape[0], tile = 64
    cdef Py_ssize_t n_tiles = (n + tile - 1) // tile
    cdef Py_ssize_t ti, tj, i, j
    if K.shape[1] != n:
        raise ValueError("mirror_upper: K must be square")
    n_threads = effective_threads(n_threads, 0.5 * n * n)
    with nogil:
        for ti in prange(n_tiles, schedule="dynamic", num_threads=n_threads):
            for tj in range(ti + 1):
                for i in range(ti * tile, min(n, (ti + 1) * tile)):
                    for j in range(tj * tile, min(i, (tj + 1) * tile)):
                        K[i, j] = K[j, i]


def count_sketch_rows(const floating[:, ::1] X,             # IN (n, k)
                      const Py_ssize_t[::1] indices,         # IN (k,), values in [0, D)
                      const floating[::1] signs,             # IN (k,)
                      floating[:, ::1] out,                  # OUT (n, >= D); first D columns written
                      Py_ssize_t n_buckets, int n_threads):
    cdef Py_ssize_t n = X.shape[0], k = X.shape[1], i
    if indices.shape[0] != k or signs.shape[0] != k or out.shape[0] != n or out.shape[1] < n_buckets:
        raise ValueError("count_sketch_rows: inconsistent shapes")
    if n == 0:
        return
    n_threads = effective_threads(n_threads, <double>n * (k + n_buckets))
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            count_sketch_row(&X[i, 0], k, &indices[0], &signs[0], &out[i, 0], n_buckets)


cdef inline Py_ssize_t _row_blocks(Py_ssize_t n, int n_threads, Py_ssize_t* rows) noexcept nogil:
    """Split n rows into blocks of at most ROW_BLOCK rows, as many for every thread.

    Sets rows[0] to the rows per block (a multiple of the register tile, the last block may
    be shorter) and returns the number of blocks.  The split changes no result.
    """
    cdef Py_ssize_t nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    nb = (nb + n_threads - 1) // n_threads * n_threads
    cdef Py_ssize_t rb = (n + nb - 1) // nb
    rb = (rb + TILE_ROWS - 1) // TILE_ROWS * TILE_ROWS
    rows[0] = rb
    return (n + rb - 1) // rb


cdef class PackedWeights:
    """Weights ``W`` (m, k) and their scales in the panel layout the dense kernels read.

    Made once per fit (see features.py), so that no transform repacks.  ``data`` is a 1-D
    float32 or float64 array of ``packed_size_*(m, k)`` elements.
    """
    cdef readonly Py_ssize_t m, k
    cdef readonly object data

    def __init__(self, Py_ssize_t m, Py_ssize_t k, data):
        self.m, self.k, self.data = m, k, data


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
    if floating is float:
        data = np.empty(ntkfast_packed_size_f(m, k), dtype=np.float32)
    else:
        data = np.empty(ntkfast_packed_size_d(m, k), dtype=np.float64)
    cdef floating[::1] p = data
    with nogil:
        pack_weights(&W[0, 0], sp, m, k, &p[0])
    return PackedWeights(m, k, data)


def dense_activation(const floating[:, ::1] X,      # IN (n, >= k); first k columns used
                     PackedWeights weights,         # IN packed_weights(W (m, k), scale)
                     int order,
                     floating[:, :] out,            # OUT (n, >= m), rows contiguous; first m columns written
                     int n_threads):
    """out[:, :m] = act(scale * X[:, :k] @ W.T), act = step (order 0), relu (1) or none (2).

    Using the leading columns of wider arrays lets a layer read phi_{h-1} straight out of
    psi_{h-1} = [phi_{h-1}, sketch] and write phi_h into the front of psi_h.
    """
    # Leading dimensions from the strides: X and out may be column ranges of wider arrays.
    cdef Py_ssize_t n = X.shape[0], ldx = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t ldo = out.strides[0] // sizeof(floating)
    cdef Py_ssize_t m = weights.m, k = weights.k
    cdef const floating[::1] packed = weights.data
    cdef Py_ssize_t blk, r0, rb, n_blocks
    if (k > X.shape[1] or out.shape[0] != n or out.shape[1] < m or order < 0 or order > 2
            or out.strides[1] != sizeof(floating) or out.strides[0] % sizeof(floating)):
        raise ValueError("dense_activation: inconsistent shapes, strides or order")
    if n == 0:
        return
    n_threads = effective_threads(n_threads, <double>n * m * k)
    n_blocks = _row_blocks(n, n_threads, &rb)
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads):
            r0 = blk * rb
            dense_activation_packed(&X[r0, 0], ldx, min(rb, n - r0), k, &packed[0], m,
                                    order, &out[r0, 0], ldo)


def ntk_layer_inputs(const floating[:, ::1] psi,      # IN (n, d_psi): psi_{h-1}; phi_{h-1} first
                     PackedWeights relu,                # IN packed_weights(relu W (m1, k), scales)
                     PackedWeights step,                # IN packed_weights(step W (m1, k), None)
                     floating step_scale,
                     const Py_ssize_t[::1] step_indices,  # IN (m1,)
                     const floating[::1] step_signs,      # IN (m1,)
                     const Py_ssize_t[::1] psi_indices,   # IN (d_psi,)
                     const floating[::1] psi_signs,       # IN (d_psi,)
                     floating[:, :] dest,               # OUT (n, >= m1), rows contiguous: phi_h
                     floating[:, ::1] cs_psi,           # OUT (n, D): CountSketch of psi_{h-1}
                     floating[:, ::1] cs_step,          # OUT (n, D): CountSketch of a_h
                     floating[:, ::1] work,             # scratch (n_threads, ROW_BLOCK * m1)
                     int n_threads):
    """One layer of the NTK features up to the FFTs, in one parallel loop over row blocks:
    phi_h = relu features of phi_{h-1}, and the two CountSketches that TS(psi_{h-1}, a_h)
    multiplies (the step features are kept as 0/1 for one block of rows per thread, in its
    row of ``work``, never beyond).  The same results as dense_activation and
    count_sketch_rows, in one parallel loop, each block of psi read while in cache."""
    cdef Py_ssize_t n = psi.shape[0], ldx = psi.strides[0] // sizeof(floating)
    cdef Py_ssize_t d_psi = psi.shape[1], D = cs_psi.shape[1]
    cdef Py_ssize_t ldo = dest.strides[0] // sizeof(floating)
    cdef Py_ssize_t m = relu.m, k = relu.k
    cdef const floating[::1] relu_p = relu.data
    cdef const floating[::1] step_p = step.data
    cdef Py_ssize_t blk, r0, rb, n_blocks, r, nr
    if (k > d_psi or step.m != m or step.k != k or dest.shape[0] != n or dest.shape[1] < m
            or dest.strides[1] != sizeof(floating) or dest.strides[0] % sizeof(floating)
            or step_indices.shape[0] != m or step_signs.shape[0] != m
            or psi_indices.shape[0] != d_psi or psi_signs.shape[0] != d_psi
            or cs_psi.shape[0] != n or cs_step.shape[0] != n or cs_step.shape[1] != D
            or work.shape[0] < n_threads or work.shape[1] < ROW_BLOCK * m):
        raise ValueError("ntk_layer_inputs: inconsistent shapes")
    if n == 0:
        return
    n_threads = effective_threads(n_threads, 2.0 * n * m * k)
    n_blocks = _row_blocks(n, n_threads, &rb)
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads):
            r0 = blk * rb
            nr = min(rb, n - r0)
            dense_activation_packed(&psi[r0, 0], ldx, nr, k, &relu_p[0], m, 1, &dest[r0, 0], ldo)
            step_sketch_packed(&psi[r0, 0], ldx, nr, k, &step_p[0], m, step_scale,
                               &step_indices[0], &step_signs[0], &cs_step[r0, 0], D, D,
                               &work[omp_get_thread_num(), 0])
            for r in range(r0, r0 + nr):
                count_sketch_row(&psi[r, 0], d_psi, &psi_indices[0], &psi_signs[0], &cs_psi[r, 0], D)


ROW_BLOCK_SIZE = ROW_BLOCK


def multiply_spectra(floating[:, ::1] A, const floating[:, ::1] B, int n_threads):
    """A *= B row by row, A and B float views (n, 2 * n_freq) of complex rfft spectra."""
    cdef Py_ssize_t n = A.shape[0], w = A.shape[1], i
    if B.shape[0] != n or B.shape[1] != w or w % 2:
        raise ValueError("multiply_spectra: inconsistent shapes")
    if n == 0:
        return
    n_threads = effective_threads(n_threads, 3.0 * n * w)
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            spectrum_multiply(&A[i, 0], &B[i, 0], w // 2)


# --------------------------------------------------------------------------------------
# C-level API (declared in _sketch.pxd): float32 / float64 twins with stable C names, each a
# direct call of the fused kernel above that the drivers use (see _sketch.pxd for why twins).
# --------------------------------------------------------------------------------------

CAPI_VERSION = NTKFAST_CAPI_VERSION


cdef void ntk_pair_from_inner(double inner, double norm_x, double norm_y, int depth,
                              double bias, double* ntk, double* nngp) noexcept nogil:
    """ntk_pair with cosine = <x, y> / ||x|| / ||y|| (divided in turn: no overflow of the product)."""
    cdef double cosine = 0.0
    if norm_x != 0.0 and norm_y != 0.0:
        cosine = (inner / norm_x) / norm_y
    ntk_pair(cosine, norm_x, norm_y, depth, bias, ntk, nngp)


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
