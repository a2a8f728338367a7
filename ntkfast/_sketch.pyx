# Compiled kernels of ntkfast.
#
# Two levels per kernel (see STYLE.md): ``cdef ... noexcept nogil`` functions on raw pointers
# do the work and form the C-level API declared in _sketch.pxd; the ``def`` functions at the
# bottom take already-validated, C-contiguous arrays from the Python wrappers in
# ntkfast/*.py, release the GIL and run an OpenMP loop over them.
#
# Determinism: every parallel loop writes each output row (or each fixed block of
# ROW_BLOCK rows) from exactly one thread, and the partition into blocks never depends on
# the number of threads, so results are bit-identical for any thread count.
cimport cython
from cython cimport floating

import numpy as np
from cython.parallel cimport prange
from libc.float cimport DBL_MAX, DBL_MIN
from libc.math cimport acos, asin, hypot, sqrt
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

from ntkfast._openmp cimport NTKFAST_HAVE_OPENMP, omp_get_max_threads, omp_get_thread_num

cdef double PI = 3.141592653589793238462643383279502884

# Rows per GEMM call in the fused feature kernels.  Blocks are aligned on the absolute row
# index (see _block_layout), so the partition never depends on the thread count or the batch
# size.  OpenBLAS packs the weights once per call: 64-row calls measured 1.15x (float32) and
# 1.18x (float64) the bare matmul on 2 threads, 16-row calls 1.9x and 1.6x.
cdef enum:
    ROW_BLOCK = 64

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


cdef void step_count_sketch_row(const floating* z, Py_ssize_t k, const Py_ssize_t* indices,
                                const floating* signs, floating scale, floating* out,
                                Py_ssize_t n_buckets) noexcept nogil:
    """CountSketch of scale * step(z), without forming step(z) (out is overwritten)."""
    cdef Py_ssize_t j
    memset(out, 0, n_buckets * sizeof(floating))
    # Multiplied by the 0/1 mask rather than branched on: the signs of z are random (see
    # activation_row).
    for j in range(k):
        out[indices[j]] += signs[j] * <floating>(z[j] > 0)
    for j in range(n_buckets):
        out[j] *= scale


cdef void activation_row(floating* z, Py_ssize_t k, const floating* scale, int order) noexcept nogil:
    """In place: z[j] = scale[j] * step(z[j]) (order 0) or scale[j] * relu(z[j]) (order 1)."""
    cdef Py_ssize_t j
    cdef floating v, s
    # Each loop is a plain select between two values already computed, which GCC turns into
    # vector compare-and-blend code: written as branches (or with the multiply inside the
    # branch), half of the random signs were mispredicted and this pass cost twice the GEMM.
    # relu(z) * s == relu(z * s) for the scales s > 0 used here.
    if order == 0:
        for j in range(k):
            s = scale[j]
            z[j] = s if z[j] > 0 else 0
    else:
        for j in range(k):
            v = z[j] * scale[j]
            z[j] = v if v > 0 else 0


cdef void gemm_nt(const floating* a, Py_ssize_t lda, Py_ssize_t n_rows, Py_ssize_t k,
                  const floating* w, Py_ssize_t m, floating* c, Py_ssize_t ldc) noexcept nogil:
    """c[r, j] = sum_l a[r, l] * w[j, l] for r < n_rows, j < m (all row-major).

    Row-major c = a @ w.T is column-major c^T = w^T(as stored) ... so BLAS sees
    C (m x n_rows) = op(W) (m x k) * A (k x n_rows) with op = transpose.
    """
    cdef char transa = b'T'
    cdef char transb = b'N'
    cdef int im = <int>m, ino = <int>n_rows, ik = <int>k
    cdef int ilda = <int>k, ildb = <int>lda, ildc = <int>ldc
    cdef floating one = 1.0, zero = 0.0
    if floating is float:
        sgemm(&transa, &transb, &im, &ino, &ik, &one, <float*>w, &ilda,
              <float*>a, &ildb, &zero, c, &ildc)
    else:
        dgemm(&transa, &transb, &im, &ino, &ik, &one, <double*>w, &ilda,
              <double*>a, &ildb, &zero, c, &ildc)


cdef void dense_activation_block(const floating* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                 Py_ssize_t k, const floating* w, Py_ssize_t m,
                                 const floating* scale, int order, floating* out,
                                 Py_ssize_t ldo) noexcept nogil:
    """out[r, :m] = scale * act(x[r] @ w.T): one GEMM, then the activation while hot in cache."""
    cdef Py_ssize_t r
    gemm_nt(x, ldx, n_rows, k, w, m, out, ldo)
    for r in range(n_rows):
        activation_row(out + r * ldo, m, scale, order)


cdef void step_sketch_block(const floating* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                            const floating* w, Py_ssize_t m, floating scale,
                            const Py_ssize_t* indices, const floating* signs,
                            floating* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                            floating* work) noexcept nogil:
    """out[r, :n_buckets] = CountSketch(scale * step(x[r] @ w.T)).

    ``work`` holds n_rows * m pre-activations; the step features themselves are never
    stored, their signs are hashed straight into the sketch.
    """
    cdef Py_ssize_t r
    gemm_nt(x, ldx, n_rows, k, w, m, work, m)
    for r in range(n_rows):
        step_count_sketch_row(work + r * m, m, indices, signs, scale, out + r * ldo, n_buckets)


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


cdef inline void _block_layout(Py_ssize_t n, Py_ssize_t row_offset, Py_ssize_t rb,
                               Py_ssize_t* head, Py_ssize_t* n_full, Py_ssize_t* tail) noexcept nogil:
    """Split n rows starting at absolute row ``row_offset`` into blocks of ``rb`` aligned on rb.

    BLAS may round a row's dot products differently depending on its position inside the
    block it is given (seen with OpenBLAS sgemm), so every row is always computed at the
    position ``absolute row % rb`` of a full rb-row call: a partial block at
    either end is padded with zero rows.  A row's features then depend on nothing but its
    own values and its absolute index -- not on threads, batch size or dask chunking.
    """
    head[0] = min(n, (rb - row_offset % rb) % rb)
    n_full[0] = (n - head[0]) // rb
    tail[0] = n - head[0] - n_full[0] * rb


def _padded_block(X, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t position, Py_ssize_t out_width,
                  Py_ssize_t rb):
    """A zero (rb, ldx) block holding X[start:stop] at ``position``, and an output block."""
    X = np.asarray(X)
    x_pad = np.zeros((rb, X.shape[1]), dtype=X.dtype)
    x_pad[position:position + stop - start] = X[start:stop]
    return x_pad, np.empty((rb, out_width), dtype=X.dtype)


def dense_activation(const floating[:, ::1] X,      # IN (n, >= k); first k columns used
                     const floating[:, ::1] W,      # IN (m, k)
                     const floating[::1] scale,     # IN (m,)
                     int order,
                     floating[:, ::1] out,          # OUT (n, >= m); first m columns written
                     Py_ssize_t row_offset,         # absolute index of X's first row
                     int n_threads):
    """out[:, :m] = scale * act(X[:, :k] @ W.T), act = step (order 0) or relu (order 1), fused.

    Using the leading columns of wider arrays lets a layer read phi_{h-1} straight out of
    psi_{h-1} = [phi_{h-1}, sketch] and write phi_h into the front of psi_h.
    """
    cdef Py_ssize_t n = X.shape[0], ldx = X.shape[1], m = W.shape[0], k = W.shape[1]
    cdef Py_ssize_t ldo = out.shape[1]
    cdef Py_ssize_t blk, r0, head, n_full, tail, start, stop, pos
    cdef floating[:, ::1] x_pad, out_pad
    if k > ldx or scale.shape[0] != m or out.shape[0] != n or ldo < m or row_offset < 0:
        raise ValueError("dense_activation: inconsistent shapes")
    cdef Py_ssize_t rb = ROW_BLOCK
    _block_layout(n, row_offset, rb, &head, &n_full, &tail)
    n_threads = effective_threads(n_threads, <double>n * m * k)
    with nogil:
        for blk in prange(n_full, schedule="static", num_threads=n_threads):
            r0 = head + blk * rb
            dense_activation_block(&X[r0, 0], ldx, rb, k, &W[0, 0], m,
                                   &scale[0], order, &out[r0, 0], ldo)
    for start, stop, pos in ((0, head, row_offset % rb), (n - tail, n, 0)):
        if stop > start:
            x_pad, out_pad = _padded_block(X, start, stop, pos, ldo, rb)
            dense_activation_block(&x_pad[0, 0], ldx, rb, k, &W[0, 0], m,
                                   &scale[0], order, &out_pad[0, 0], ldo)
            out[start:stop, :m] = out_pad[pos:pos + stop - start, :m]


def step_sketch(const floating[:, ::1] X,            # IN (n, >= k); first k columns used
                const floating[:, ::1] W,            # IN (m, k)
                floating scale,
                const Py_ssize_t[::1] indices,       # IN (m,)
                const floating[::1] signs,           # IN (m,)
                floating[:, ::1] out,                # OUT (n, D)
                floating[:, ::1] work,               # scratch (n_threads, ROW_BLOCK * m)
                Py_ssize_t row_offset,               # absolute index of X's first row
                int n_threads):
    """out = CountSketch(scale * step(X @ W.T)), never forming step(X W^T).

    Each thread keeps the pre-activations of one block of rows in its row of ``work``
    (allocated by the caller, so that a failed allocation raises in Python).
    """
    cdef Py_ssize_t n = X.shape[0], ldx = X.shape[1], m = W.shape[0], k = W.shape[1]
    cdef Py_ssize_t D = out.shape[1]
    cdef Py_ssize_t blk, r0, head, n_full, tail, start, stop, pos
    cdef floating[:, ::1] x_pad, out_pad
    if (k > ldx or indices.shape[0] != m or signs.shape[0] != m or out.shape[0] != n
            or work.shape[0] < n_threads or work.shape[1] < ROW_BLOCK * m or row_offset < 0):
        raise ValueError("step_sketch: inconsistent shapes")
    cdef Py_ssize_t rb = ROW_BLOCK
    _block_layout(n, row_offset, rb, &head, &n_full, &tail)
    n_threads = effective_threads(n_threads, <double>n * m * k)
    with nogil:
        for blk in prange(n_full, schedule="static", num_threads=n_threads):
            r0 = head + blk * rb
            step_sketch_block(&X[r0, 0], ldx, rb, k, &W[0, 0], m,
                              scale, &indices[0], &signs[0], &out[r0, 0], D, D,
                              &work[omp_get_thread_num(), 0])
    for start, stop, pos in ((0, head, row_offset % rb), (n - tail, n, 0)):
        if stop > start:
            x_pad, out_pad = _padded_block(X, start, stop, pos, D, rb)
            step_sketch_block(&x_pad[0, 0], ldx, rb, k, &W[0, 0], m,
                              scale, &indices[0], &signs[0], &out_pad[0, 0], D, D, &work[0, 0])
            out[start:stop, :] = out_pad[pos:pos + stop - start, :]


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


cdef void activation_row_f(float* z, Py_ssize_t k, const float* scale, int order) noexcept nogil:
    activation_row(z, k, scale, order)


cdef void activation_row_d(double* z, Py_ssize_t k, const double* scale, int order) noexcept nogil:
    activation_row(z, k, scale, order)


cdef void dense_activation_block_f(const float* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                   Py_ssize_t k, const float* w, Py_ssize_t m,
                                   const float* scale, int order, float* out,
                                   Py_ssize_t ldo) noexcept nogil:
    dense_activation_block(x, ldx, n_rows, k, w, m, scale, order, out, ldo)


cdef void dense_activation_block_d(const double* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                   Py_ssize_t k, const double* w, Py_ssize_t m,
                                   const double* scale, int order, double* out,
                                   Py_ssize_t ldo) noexcept nogil:
    dense_activation_block(x, ldx, n_rows, k, w, m, scale, order, out, ldo)


cdef void step_sketch_block_f(const float* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                              const float* w, Py_ssize_t m, float scale,
                              const Py_ssize_t* indices, const float* signs,
                              float* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                              float* work) noexcept nogil:
    step_sketch_block(x, ldx, n_rows, k, w, m, scale, indices, signs, out, ldo, n_buckets, work)


cdef void step_sketch_block_d(const double* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                              const double* w, Py_ssize_t m, double scale,
                              const Py_ssize_t* indices, const double* signs,
                              double* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                              double* work) noexcept nogil:
    step_sketch_block(x, ldx, n_rows, k, w, m, scale, indices, signs, out, ldo, n_buckets, work)


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
