# Compiled exact kernels of ntkfast: the arc-cosine functions and the exact NTK / NNGP
# recursion (SPEC sections 1-2), and the drivers that turn blocks of cosines into kernel
# values for ntkfast/kernels.py.
#
# Two levels (see STYLE.md): ``cdef ... noexcept nogil`` functions do the work and form the
# C-level API declared in _exact.pxd (rules and version in _capi.pxd); the ``def`` drivers at
# the bottom check every precondition their memory accesses depend on, release the GIL and
# run an OpenMP loop.
#
# Determinism: each output element is computed by the same operations whatever chunk or
# thread it falls in, so results are bit-identical for any thread count and chunking.
cimport cython
from cython cimport floating

from cpython.exc cimport PyErr_CheckSignals
from cython.parallel cimport prange
from libc.float cimport DBL_MAX, DBL_MIN
from libc.math cimport acos, asin, hypot, sqrt

from ntkfast._capi cimport NTKFAST_CAPI_VERSION
from ntkfast._parallel cimport NTKFAST_DEBUG_CYTHON, check_n_threads, threads_for

CAPI_VERSION = NTKFAST_CAPI_VERSION
DEBUG_BUILD = bool(NTKFAST_DEBUG_CYTHON)

# The ``kind`` codes of exact_kernel_block (the enum of _exact.pxd).
KIND_ARCCOS0 = NTKFAST_KIND_ARCCOS0
KIND_ARCCOS1 = NTKFAST_KIND_ARCCOS1
KIND_NNGP = NTKFAST_KIND_NNGP
KIND_NTK = NTKFAST_KIND_NTK

cdef double PI = 3.141592653589793238462643383279502884


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
    # In double: (depth + 1) * (depth + 2) overflows an int from depth = 46341 on, and
    # depth + 1 itself at depth = 2^31 - 1.  The same operations as before in every other case.
    cdef double sq = norm_x * norm_x
    cdef double l1 = <double>depth + 1.0, l2 = <double>depth + 2.0
    nngp[0] = sq + l1 * bias
    ntk[0] = l1 * sq + bias * l1 * l2 / 2.0


cdef inline double _pair_value(int kind, double cosine, double nx, double ny, int depth,
                               double bias) noexcept nogil:
    cdef double a, b
    if kind == NTKFAST_KIND_ARCCOS0:
        if nx == 0.0 or ny == 0.0:
            return 0.0          # step(0) = 0: features of a zero row are zero
        return kappa0(cosine)
    if kind == NTKFAST_KIND_ARCCOS1:
        if nx == 0.0 or ny == 0.0:
            return 0.0
        return _times_norms(kappa1(cosine), nx, ny)
    ntk_pair(cosine, nx, ny, depth, bias, &a, &b)
    return a if kind == NTKFAST_KIND_NTK else b


cdef inline double _self_value(int kind, double nx, int depth, double bias) noexcept nogil:
    cdef double a, b
    if kind == NTKFAST_KIND_ARCCOS0:
        return 1.0 if nx != 0.0 else 0.0
    if kind == NTKFAST_KIND_ARCCOS1:
        return nx * nx
    ntk_self(nx, depth, bias, &a, &b)
    return a if kind == NTKFAST_KIND_NTK else b




# --------------------------------------------------------------------------------------
# Python-visible drivers.  Inputs come validated from ntkfast/kernels.py, but whatever a
# Python caller passes, nothing here reads or writes out of bounds: every precondition of
# the loops is checked first and refused with ValueError.
# --------------------------------------------------------------------------------------

# Elementary steps (one layer of the recursion for one pair, or one arc-cosine value: tens
# of ns each) between two looks for signals: about 50-100 ms of work on one thread, so that
# Ctrl-C interrupts a long call promptly while the checks cost nothing measurable.
cdef enum:
    CHUNK_STEPS = 1 << 21


cdef void _kernel_row(floating* g, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t diag, double nx,
                      const double* ny, int kind, int depth, double bias) noexcept nogil:
    """g[j] for c0 <= j < c1: the pair value right of column ``diag``, the self value at it,
    nothing left of it (diag < 0: every column is a pair)."""
    cdef Py_ssize_t j
    if diag >= c0:
        if diag < c1:
            g[diag] = <floating>_self_value(kind, nx, depth, bias)
        c0 = diag + 1
    for j in range(c0, c1):
        g[j] = <floating>_pair_value(kind, g[j], nx, ny[j], depth, bias)


def exact_kernel_block(floating[:, ::1] G,         # IN: cosines, OUT: kernel values
                       const double[::1] norm_x,    # IN: norms of the block's rows
                       const double[::1] norm_y,    # IN: norms of all columns
                       Py_ssize_t diag_offset,      # >= 0: symmetric, row i is column i + diag_offset
                       int kind, int depth, double bias, int n_threads,
                       double chunk_steps=CHUNK_STEPS):
    """Turn a block of cosines into kernel values in place.

    kind: KIND_ARCCOS0, KIND_ARCCOS1 (arc-cosine of order 0, 1), KIND_NNGP or KIND_NTK.  In
    the symmetric case (diag_offset >= 0) only the upper triangle (column >= row +
    diag_offset) is computed; the caller mirrors it.  depth >= 1 (used by NNGP and NTK).

    The rows (and, when one row is long work, its columns) are processed in chunks of about
    ``chunk_steps`` steps (tests vary it; it changes no bit of the result), and between chunks the GIL is taken to look for signals, so that
    Ctrl-C raises KeyboardInterrupt within a fraction of a second.  (One element is not
    split: at a depth in the tens of millions it alone runs for seconds; the Python layer
    bounds the depth.)
    """
    cdef Py_ssize_t n_rows = G.shape[0], n_cols = G.shape[1]
    cdef Py_ssize_t i, j, r0, r1, c0, c1, rows_per_chunk, cols_per_chunk
    cdef double per_element, row_cost
    if norm_x.shape[0] != n_rows or norm_y.shape[0] != n_cols:
        raise ValueError(
            f"exact_kernel_block: norm_x, norm_y: expected lengths {n_rows}, {n_cols} (the "
            f"block's shape), got {norm_x.shape[0]}, {norm_y.shape[0]}"
        )
    if diag_offset > n_cols:
        # Also keeps i + diag_offset from overflowing.
        raise ValueError(f"exact_kernel_block: diag_offset: expected at most {n_cols} (the "
                         f"block's columns), got {diag_offset}")
    if kind < NTKFAST_KIND_ARCCOS0 or kind > NTKFAST_KIND_NTK:
        raise ValueError(f"exact_kernel_block: kind: expected 0 to 3 (KIND_*), got {kind}")
    if depth < 1:
        raise ValueError(f"exact_kernel_block: depth: expected an integer >= 1, got {depth}")
    if not bias >= 0.0:
        raise ValueError(f"exact_kernel_block: bias: expected a number >= 0, got {bias}")
    check_n_threads(n_threads, "exact_kernel_block")
    if not chunk_steps >= 1.0:
        raise ValueError(f"exact_kernel_block: chunk_steps: expected a number >= 1, got {chunk_steps}")
    if n_rows == 0 or n_cols == 0:
        return
    per_element = <double>depth if kind >= NTKFAST_KIND_NNGP else 1.0
    row_cost = per_element * n_cols
    n_threads = threads_for(n_threads, 10.0 * n_rows * row_cost)
    if row_cost <= chunk_steps:
        rows_per_chunk = <Py_ssize_t>min(<double>n_rows, chunk_steps / row_cost)
        cols_per_chunk = n_cols
    else:
        rows_per_chunk = 1
        cols_per_chunk = max(1, <Py_ssize_t>(chunk_steps / per_element))
    r0 = 0
    while r0 < n_rows:
        r1 = min(n_rows, r0 + rows_per_chunk)
        if cols_per_chunk >= n_cols:
            with nogil:
                for i in prange(r0, r1, schedule="dynamic", num_threads=n_threads):
                    _kernel_row(&G[i, 0], 0, n_cols, i + diag_offset if diag_offset >= 0 else -1,
                                norm_x[i], &norm_y[0], kind, depth, bias)
            PyErr_CheckSignals()
        else:
            # One long row: its columns in chunks, one element per iteration.
            for c0 in range(0, n_cols, cols_per_chunk):
                c1 = min(n_cols, c0 + cols_per_chunk)
                with nogil:
                    for j in prange(c0, c1, schedule="dynamic", num_threads=n_threads):
                        _kernel_row(&G[r0, 0], j, j + 1,
                                    r0 + diag_offset if diag_offset >= 0 else -1,
                                    norm_x[r0], &norm_y[0], kind, depth, bias)
                PyErr_CheckSignals()
        r0 = r1


def mirror_upper(floating[:, ::1] K, int n_threads):
    """K[i, j] = K[j, i] for i > j (square K), in cache-sized tiles."""
    cdef Py_ssize_t n = K.shape[0], tile = 64
    cdef Py_ssize_t n_tiles = (n + tile - 1) // tile
    cdef Py_ssize_t ti, tj, i, j
    if K.shape[1] != n:
        raise ValueError(f"mirror_upper: K: expected a square matrix, got shape ({n}, {K.shape[1]})")
    check_n_threads(n_threads, "mirror_upper")
    n_threads = threads_for(n_threads, 0.5 * n * n)
    with nogil:
        for ti in prange(n_tiles, schedule="dynamic", num_threads=n_threads):
            for tj in range(ti + 1):
                for i in range(ti * tile, min(n, (ti + 1) * tile)):
                    for j in range(tj * tile, min(i, (tj + 1) * tile)):
                        K[i, j] = K[j, i]


# --------------------------------------------------------------------------------------
# C-level API beside the functions above (declared in _exact.pxd)
# --------------------------------------------------------------------------------------

cdef void ntk_pair_from_inner(double inner, double norm_x, double norm_y, int depth,
                              double bias, double* ntk, double* nngp) noexcept nogil:
    """ntk_pair with cosine = <x, y> / ||x|| / ||y|| (divided in turn: no overflow of the product)."""
    cdef double cosine = 0.0
    if norm_x != 0.0 and norm_y != 0.0:
        cosine = (inner / norm_x) / norm_y
    ntk_pair(cosine, norm_x, norm_y, depth, bias, ntk, nngp)


