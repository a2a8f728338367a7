# Helpers shared by the compiled modules (_exact.pyx, _sketch.pyx, _polysketch.pyx): thread
# counts and the drivers' index checks.  Inline, so that each module compiles its own copy
# from this one source and no module imports another at run time for them.  OpenMP itself
# is reached only through _openmp.pxd.

# Elementary operations worth one more thread.  Waking a thread costs microseconds on an
# idle machine but a scheduler time slice (measured: 25-70 ms per call) on a busy one, so
# small calls run on fewer threads.  Results do not depend on the thread count.
cdef enum:
    THREAD_GRAIN = 1 << 16


# 1 in a build with Cython's checks on (NTKFAST_DEBUG_CYTHON=1, see setup.py): every module
# reports it as DEBUG_BUILD, so that tests/test_debug_build.py can see that the switch reached
# each of them.
cdef extern from *:
    """
    #ifndef NTKFAST_DEBUG_CYTHON
    #define NTKFAST_DEBUG_CYTHON 0
    #endif
    """
    bint NTKFAST_DEBUG_CYTHON


cdef inline int threads_for(int n_threads, double work) noexcept nogil:
    """min(n_threads, work / THREAD_GRAIN), at least 1."""
    cdef double t = work / THREAD_GRAIN
    if t < 1.0:
        return 1
    if t < n_threads:
        return <int>t
    return n_threads


cdef inline int check_n_threads(int n_threads, str where) except -1:
    # num_threads(0) or a negative count is undefined in OpenMP, and per-thread scratch is
    # indexed by the thread number: a driver must be asked for at least one thread.
    if n_threads < 1:
        raise ValueError(f"{where}: n_threads: expected an integer >= 1, got {n_threads}")
    return 0


cdef inline object checked_indices(const Py_ssize_t[::1] indices, Py_ssize_t n_buckets, str where,
                                   str name, str what):
    """A private copy of ``indices`` with every value checked to lie in [0, n_buckets)
    (``what`` names them in the error: "bucket indices", "indices").

    The copy (O(k), next to O(n k) work) is what the loop reads, so that another Python
    thread writing into the caller's array while the GIL is released cannot move an index
    out of range after the check.
    """
    # np.empty, not ``indices.copy()``: a memoryview copy of zero length raises "Invalid
    # shape in axis 0" (cython.view.array refuses empty shapes), and k = 0 is a valid call.
    from numpy import empty, intp
    cdef Py_ssize_t j, k = indices.shape[0], bad = -1
    copy = empty(k, dtype=intp)
    cdef Py_ssize_t[::1] c = copy
    with nogil:
        for j in range(k):
            c[j] = indices[j]
        for j in range(k):
            if c[j] < 0 or c[j] >= n_buckets:
                bad = j
                break
    if bad >= 0:
        raise ValueError(f"{where}: {name}: expected {what} in [0, {n_buckets}), "
                         f"got {c[bad]} at position {bad}")
    return copy
