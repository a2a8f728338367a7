# Every OpenMP call in ntkfast goes through this file, so that a build without OpenMP
# (see setup.py) still compiles: the fallbacks below report a single thread.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define NTKFAST_HAVE_OPENMP 1
    #else
    #define NTKFAST_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    #endif
    """
    bint NTKFAST_HAVE_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
