# Compiled exact kernels of ntkfast: the arc-cosine functions and the exact NTK / NNGP
# recursion (SPEC sections 1-2), and the drivers that turn blocks of cosines into kernel
# values for ntkfast/kernels.py.
#
# Two levels (see STYLE.md): ``cdef ... noexcept nogil`` functions do the work and form the
# C-level API declared in _exact.pxd (rules and version in _capi.pxd); the ``def`` drivers at
# the bottom check every precondition their memory accesses depend on, release the GIL and
# run an OpenMP loop.
#
# The arithmetic itself (arc-cosines by a polynomial with a stated error bound, four pairs
# per vector instruction) is in _arccos.h; this file holds the drivers and the C API.
#
# Determinism: each output element is computed by the same operations whatever chunk or
# thread it falls in, so results are bit-identical for any thread count and chunking.
cimport cython
from cython cimport floating

from cpython.exc cimport PyErr_CheckSignals
from cython.parallel cimport prange

from ntkfast._capi cimport NTKFAST_CAPI_VERSION
from ntkfast._parallel cimport NTKFAST_DEBUG_CYTHON, check_n_threads, threads_for

CAPI_VERSION = NTKFAST_CAPI_VERSION
DEBUG_BUILD = bool(NTKFAST_DEBUG_CYTHON)

# The ``kind`` codes of exact_kernel_block (the enum of _exact.pxd).
KIND_ARCCOS0 = NTKFAST_KIND_ARCCOS0
KIND_ARCCOS1 = NTKFAST_KIND_ARCCOS1
KIND_NNGP = NTKFAST_KIND_NNGP
KIND_NTK = NTKFAST_KIND_NTK

# --------------------------------------------------------------------------------------
# Arc-cosine kernel functions and the exact NTK / NNGP recursion (SPEC sections 1-2)
# --------------------------------------------------------------------------------------

cdef extern from "_arccos.h" nogil:
    # The vectorised arc-cosine functions and recursion (see the header for the method, the
    # error bound and why every element's value is independent of chunking and threads).
    int ntkfast_exact_row_d(double* g, Py_ssize_t n, double nx, const double* ny, int kind,
                            int depth, double bias, double* g2)
    int ntkfast_exact_row_f(float* g, Py_ssize_t n, double nx, const double* ny, int kind,
                            int depth, double bias, double* g2)


cdef double kappa0(double t) noexcept nogil:
    """kappa0(t) = 1 - arccos(t) / pi, t clipped to [-1, 1] (the driver's arithmetic)."""
    cdef double one = 1.0
    ntkfast_exact_row_d(&t, 1, 1.0, &one, NTKFAST_KIND_ARCCOS0, 1, 0.0, NULL)
    return t


cdef double kappa1(double t) noexcept nogil:
    """kappa1(t) = (sqrt(1 - t^2) + t (pi - arccos t)) / pi, t clipped to [-1, 1]."""
    cdef double one = 1.0
    ntkfast_exact_row_d(&t, 1, 1.0, &one, NTKFAST_KIND_ARCCOS1, 1, 0.0, NULL)
    return t


cdef void ntk_pair(double cosine, double norm_x, double norm_y, int depth, double bias,
                   double* ntk, double* nngp) noexcept nogil:
    """NTK and NNGP of depth ``depth`` for one pair of inputs.

    ``cosine`` is <x, y> / (||x|| ||y||) (ignored when a norm is zero), ``norm_x`` and
    ``norm_y`` the Euclidean norms, ``bias`` the bias variance b^2.  The driver's row function
    (_arccos.h) on a row of one element.

    The recursion runs on quantities divided by c_h = sqrt(Sigma_h(x,x) Sigma_h(y,y)), so
    that it neither overflows nor loses the cosine for inputs of huge or tiny magnitude;
    only the final products with c_L can over- or underflow, as the true values would.
    Beside rho_h it carries u_h = 1 - rho_h, updated by the exact identity
        c_h - c_{h-1} - b^2 = b^2 (s_x - s_y)^2 / (c_h + c_{h-1} + b^2)
    (s = sqrt(Sigma(.,.))) instead of by subtraction: near rho = 1 an error of 1e-16 in rho
    would become 1e-8 in arccos(rho).
    """
    ntk[0] = cosine
    ntkfast_exact_row_d(ntk, 1, norm_x, &norm_y, NTKFAST_KIND_NTK, depth, bias, nngp)


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


cdef int _kernel_row(floating* g, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t diag, double nx,
                     const double* ny, int kind, int depth, double bias) noexcept nogil:
    """g[j] for c0 <= j < c1: the pair value right of column ``diag``, the self value at it,
    nothing left of it (diag < 0: every column is a pair).  Returns 1 if a stored value is
    not finite, else 0."""
    cdef int bad = 0
    cdef floating v
    if diag >= c0:
        if diag < c1:
            v = <floating>_self_value(kind, nx, depth, bias)
            g[diag] = v
            bad = not (v - v == 0)
        c0 = diag + 1
    if c1 > c0:
        if floating is float:
            bad |= ntkfast_exact_row_f(g + c0, c1 - c0, nx, ny + c0, kind, depth, bias, NULL)
        else:
            bad |= ntkfast_exact_row_d(g + c0, c1 - c0, nx, ny + c0, kind, depth, bias, NULL)
    return bad


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

    Returns 0 if every value it stored is finite, else a positive count (of rows, or of
    elements of a row split into columns, holding a value that is not finite): the caller
    then looks for the first such row, which it need not do otherwise.
    """
    cdef Py_ssize_t n_rows = G.shape[0], n_cols = G.shape[1]
    cdef Py_ssize_t i, j, r0, r1, c0, c1, rows_per_chunk, cols_per_chunk
    cdef Py_ssize_t n_bad = 0
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
        return 0
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
                    n_bad += _kernel_row(&G[i, 0], 0, n_cols, i + diag_offset if diag_offset >= 0 else -1,
                                norm_x[i], &norm_y[0], kind, depth, bias)
            PyErr_CheckSignals()
        else:
            # One long row: its columns in chunks, one element per iteration.
            for c0 in range(0, n_cols, cols_per_chunk):
                c1 = min(n_cols, c0 + cols_per_chunk)
                with nogil:
                    for j in prange(c0, c1, schedule="dynamic", num_threads=n_threads):
                        n_bad += _kernel_row(&G[r0, 0], j, j + 1,
                                    r0 + diag_offset if diag_offset >= 0 else -1,
                                    norm_x[r0], &norm_y[0], kind, depth, bias)
                PyErr_CheckSignals()
        r0 = r1
    return n_bad


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


