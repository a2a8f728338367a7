# C-level API of ntkfast (see the README section "Using ntkfast from C or Cython").
#
#     from ntkfast cimport count_sketch_row_d, ntk_pair_from_inner      # or: cimport ntkfast
#
# Every function below is ``noexcept nogil`` and works on raw pointers: call it inside
# ``with nogil:`` from as many threads as you like (no function keeps state; each writes
# only through its own output pointers).  Nothing is checked: indices must lie in
# [0, n_buckets), pointers must be valid for the stated lengths, outputs must not alias inputs.
#
# These are the kernels the Python API runs, not copies: kappa0 ... ntk_self are the very
# functions of the exact kernels, and each ``_f`` / ``_d`` twin is a one-line call of the
# fused-type kernel that ntkfast's own drivers specialise.  Why named twins rather than the
# fused functions themselves: Cython exports fused specialisations under generated names
# (``__pyx_fuse_0...``) that are not a stable contract, whereas ``count_sketch_row_f`` /
# ``count_sketch_row_d`` are plain cdef functions with fixed C signatures, exported under
# their own names in ``ntkfast._sketch.__pyx_capi__`` (the pattern of numpy.random's
# c_distributions.pxd with its ``_f`` float32 twins).
#
# Versioning: NTKFAST_CAPI_VERSION is the version of this contract, compiled into your
# extension; ``ntkfast.capi_version`` is the version of the installed library.  It changes
# whenever a declaration below changes or goes away (adding functions keeps it); check
# ``ntkfast.capi_version == NTKFAST_CAPI_VERSION`` at import.  Cython also checks each
# cimported signature when your module is imported and refuses a mismatch.
# Version 2 replaced activation_row_*, dense_activation_block_* and step_sketch_block_*
# (a BLAS GEMM per block, then the activation) by the packed, fused kernels below.

cdef enum:
    NTKFAST_CAPI_VERSION = 2

# --------------------------------------------------------------------------------------
# Arc-cosine kernel functions and the exact NTK / NNGP recursion (SPEC sections 1-2).
# Always double precision: the float32 Python API also runs these in double and rounds
# the result, so there is no float32 twin.
# --------------------------------------------------------------------------------------

# kappa0(t) = 1 - arccos(t)/pi and kappa1(t) = (sqrt(1-t^2) + t (pi - arccos t))/pi,
# t clipped to [-1, 1].
cdef double kappa0(double t) noexcept nogil
cdef double kappa1(double t) noexcept nogil

# NTK Theta_L and NNGP Sigma_L (depth L >= 1, bias variance b^2 >= 0) of one pair, given
# the cosine <x,y>/(||x|| ||y||) and the norms.  Zero norm (no bias): both are 0.
cdef void ntk_pair(double cosine, double norm_x, double norm_y, int depth, double bias,
                   double* ntk, double* nngp) noexcept nogil

# The same from the inner product <x, y> and the norms: cosine = <x,y>/||x||/||y||.
cdef void ntk_pair_from_inner(double inner, double norm_x, double norm_y, int depth,
                              double bias, double* ntk, double* nngp) noexcept nogil

# A point with itself, in closed form (use it for the diagonal: through ntk_pair a cosine
# rounded to 1 - 1e-16 would cost 1e-8 of relative accuracy).
cdef void ntk_self(double norm_x, int depth, double bias, double* ntk, double* nngp) noexcept nogil

# --------------------------------------------------------------------------------------
# Sketches (SPEC section 4).  Py_ssize_t is ssize_t / intptr_t in C.
# --------------------------------------------------------------------------------------

# out[b] = sum_{j < k: indices[j] == b} signs[j] * x[j], b < n_buckets (out overwritten).
cdef void count_sketch_row_f(const float* x, Py_ssize_t k, const Py_ssize_t* indices,
                             const float* signs, float* out, Py_ssize_t n_buckets) noexcept nogil
cdef void count_sketch_row_d(const double* x, Py_ssize_t k, const Py_ssize_t* indices,
                             const double* signs, double* out, Py_ssize_t n_buckets) noexcept nogil

# CountSketch of scale * step(z) without forming step(z) (step(z) = 1 if z > 0 else 0).
cdef void step_count_sketch_row_f(const float* z, Py_ssize_t k, const Py_ssize_t* indices,
                                  const float* signs, float scale, float* out,
                                  Py_ssize_t n_buckets) noexcept nogil
cdef void step_count_sketch_row_d(const double* z, Py_ssize_t k, const Py_ssize_t* indices,
                                  const double* signs, double scale, double* out,
                                  Py_ssize_t n_buckets) noexcept nogil

# Dense layers fused with their activation (the kernels of ntkfast/_dense.h):
#     out[r, j] = act(scale[j] * <x[r, :k], w[j, :k]>)     r < n_rows, j < m
# with act = step (order 0: scale[j] where the product is > 0, else 0), ReLU (order 1; the
# scales must be > 0) or the identity (order 2).  The weights w (m, k), row-major, and their
# scales are first packed once into ``packed_size_*(m, k)`` elements by ``pack_weights_*``
# (scale NULL: all ones); each output tile is then computed in registers over the whole of
# k, activated there and stored once.  Every output element is the same chain of operations
# whatever n_rows, its row's position or the thread: split the rows between threads any way
# you like, the bits do not change.  x has leading dimension ldx >= k, out ldo >= m.
cdef Py_ssize_t packed_size_f(Py_ssize_t m, Py_ssize_t k) noexcept nogil
cdef Py_ssize_t packed_size_d(Py_ssize_t m, Py_ssize_t k) noexcept nogil
cdef void pack_weights_f(const float* w, const float* scale, Py_ssize_t m, Py_ssize_t k,
                         float* packed) noexcept nogil
cdef void pack_weights_d(const double* w, const double* scale, Py_ssize_t m, Py_ssize_t k,
                         double* packed) noexcept nogil
cdef void dense_activation_packed_f(const float* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                    Py_ssize_t k, const float* packed, Py_ssize_t m, int order,
                                    float* out, Py_ssize_t ldo) noexcept nogil
cdef void dense_activation_packed_d(const double* x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                    Py_ssize_t k, const double* packed, Py_ssize_t m, int order,
                                    double* out, Py_ssize_t ldo) noexcept nogil

# out[r, :n_buckets] = CountSketch(scale * step(x[r] @ w.T)) with hash (indices, signs) of
# length m, w packed with unit scales (pack_weights_* with scale NULL); ``work`` (n_rows * m)
# holds the block's step features as 0/1, hashed from there; they are never stored beyond it.
cdef void step_sketch_packed_f(const float* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                               const float* packed, Py_ssize_t m, float scale,
                               const Py_ssize_t* indices, const float* signs,
                               float* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                               float* work) noexcept nogil
cdef void step_sketch_packed_d(const double* x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                               const double* packed, Py_ssize_t m, double scale,
                               const Py_ssize_t* indices, const double* signs,
                               double* out, Py_ssize_t ldo, Py_ssize_t n_buckets,
                               double* work) noexcept nogil

# a *= b for complex spectra of n_freq frequencies stored interleaved (re, im, re, im, ...),
# the layout of numpy's complex arrays: an rfft of length D has n_freq = D // 2 + 1.
cdef void spectrum_multiply_f(float* a, const float* b, Py_ssize_t n_freq) noexcept nogil
cdef void spectrum_multiply_d(double* a, const double* b, Py_ssize_t n_freq) noexcept nogil

# --------------------------------------------------------------------------------------
# Degree-2 TensorSketch of one pair of rows: TS(u, v) = irfft(rfft(CS_u(u)) * rfft(CS_v(v))).
#
# ntkfast has no FFT of its own and scipy.fft has no C API, so the caller supplies a real
# FFT of length n through two callbacks (FFTW, MKL, pocketfft, ... whatever the caller links,
# run without the GIL if the caller's FFT allows it), with numpy's conventions:
#   rfft(ctx, x, spectrum, n):  x[n] real -> spectrum[2 * (n // 2 + 1)] interleaved complex,
#                               spectrum[f] = sum_t x[t] exp(-2 pi i f t / n)   (unnormalised)
#   irfft(ctx, spectrum, x, n): the inverse, normalised by 1/n, reading n // 2 + 1
#                               frequencies and writing n reals.
# A callback returns 0 on success; any other value stops the sketch and is returned.
# ``work`` must hold tensor_sketch_work_size(n_buckets) elements; ``out`` (n_buckets
# elements) doubles as the CountSketch buffer.  Returns 0 on success.
# Callers who would rather batch their FFTs use count_sketch_row_* and spectrum_multiply_*.
# --------------------------------------------------------------------------------------

ctypedef int (*ntkfast_rfft_f)(void* ctx, const float* x, float* spectrum,
                               Py_ssize_t n) noexcept nogil
ctypedef int (*ntkfast_irfft_f)(void* ctx, const float* spectrum, float* x,
                                Py_ssize_t n) noexcept nogil
ctypedef int (*ntkfast_rfft_d)(void* ctx, const double* x, double* spectrum,
                               Py_ssize_t n) noexcept nogil
ctypedef int (*ntkfast_irfft_d)(void* ctx, const double* spectrum, double* x,
                                Py_ssize_t n) noexcept nogil

cdef Py_ssize_t tensor_sketch_work_size(Py_ssize_t n_buckets) noexcept nogil

cdef int tensor_sketch_pair_f(const float* u, Py_ssize_t ku, const Py_ssize_t* indices_u,
                              const float* signs_u,
                              const float* v, Py_ssize_t kv, const Py_ssize_t* indices_v,
                              const float* signs_v,
                              Py_ssize_t n_buckets, float* out, float* work,
                              ntkfast_rfft_f rfft, ntkfast_irfft_f irfft,
                              void* fft_ctx) noexcept nogil
cdef int tensor_sketch_pair_d(const double* u, Py_ssize_t ku, const Py_ssize_t* indices_u,
                              const double* signs_u,
                              const double* v, Py_ssize_t kv, const Py_ssize_t* indices_v,
                              const double* signs_v,
                              Py_ssize_t n_buckets, double* out, double* work,
                              ntkfast_rfft_d rfft, ntkfast_irfft_d irfft,
                              void* fft_ctx) noexcept nogil
