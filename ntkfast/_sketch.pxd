# C-level API of ntkfast, feature kernels (part of one contract with _exact.pxd: read
# _capi.pxd for the rules and the version).  Exported by the module ntkfast._sketch.

# The activation of the dense kernels (``order`` of dense_activation_packed_* and of the
# driver dense_activation; the same values as ntkfast._sketch.ACT_*).
cdef enum:
    NTKFAST_ACT_STEP = 0
    NTKFAST_ACT_RELU = 1
    NTKFAST_ACT_IDENTITY = 2

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
# with act = step (order NTKFAST_ACT_STEP: scale[j] where the product is > 0, else 0), ReLU
# (NTKFAST_ACT_RELU; the scales must be > 0) or the identity (NTKFAST_ACT_IDENTITY).  The weights w (m, k), row-major, and their
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

# --------------------------------------------------------------------------------------
# TensorSRHT (SPEC section 4; added in issue 15 without a version change: only additions).
# For rows u (ku) and v (kv), signs s_u, s_v (+1/-1) and m = D / 2 frequencies freq_u in
# [0, ku), freq_v in [0, kv):
#     TSRHT(u, v)[j] = sqrt(2 / D) Re(U[freq_u[j]] V[freq_v[j]]),  [m + j]: the Im part,
# with U = DFT(s_u * u), V = DFT(s_v * v) (unnormalised, numpy's sign).  The caller runs the
# FFTs (rfft of the signed rows, k // 2 + 1 interleaved frequencies, as for the TensorSketch):
#     sign_row_*(u, s_u, ku, buf); rfft(buf) -> spec_u; same for v;
#     srht_combine_row_*(spec_u, ku, freq_u, spec_v, kv, freq_v, m, sqrt(2 / D), out)
# srht_combine_row reads frequencies above k / 2 by conjugate symmetry; out has 2m elements.
# --------------------------------------------------------------------------------------
cdef void sign_row_f(const float* x, const float* signs, Py_ssize_t k, float* out) noexcept nogil
cdef void sign_row_d(const double* x, const double* signs, Py_ssize_t k, double* out) noexcept nogil
cdef void srht_combine_row_f(const float* spec_u, Py_ssize_t ku, const Py_ssize_t* freq_u,
                             const float* spec_v, Py_ssize_t kv, const Py_ssize_t* freq_v,
                             Py_ssize_t m, float scale, float* out) noexcept nogil
cdef void srht_combine_row_d(const double* spec_u, Py_ssize_t ku, const Py_ssize_t* freq_u,
                             const double* spec_v, Py_ssize_t kv, const Py_ssize_t* freq_v,
                             Py_ssize_t m, double scale, double* out) noexcept nogil

# --------------------------------------------------------------------------------------
# Structured projections (NTKRandomFeatures(projection="fastfood" / "sorf")).
# --------------------------------------------------------------------------------------

# v <- H_p v in place: the unnormalised Walsh-Hadamard transform (Sylvester order), p a
# power of 2 (H_1 = [1], H_2p = [[H_p, H_p], [H_p, -H_p]]).
cdef void fwht_f(float* v, Py_ssize_t p) noexcept nogil
cdef void fwht_d(double* v, Py_ssize_t p) noexcept nogil

# out[:m] = M x, x of length k <= p zero-padded to p, M n_blocks stacked p x p blocks (rows
# from m on dropped; n_blocks = ceil(m / p)).  Block b applies its n_stages stages in order:
#     v <- H_p (D_{b,s} * v[perm_{b,s}])
# with D_{b,s} = diag + (b * n_stages + s) * p (p values) and perm_{b,s} likewise (indices in
# [0, p); perm NULL: no permutation).  work: 2 p elements of scratch.
cdef void structured_project_row_f(const float* x, Py_ssize_t k, const float* diag,
                                   const Py_ssize_t* perm, Py_ssize_t n_blocks,
                                   Py_ssize_t n_stages, Py_ssize_t p, Py_ssize_t m,
                                   float* out, float* work) noexcept nogil
cdef void structured_project_row_d(const double* x, Py_ssize_t k, const double* diag,
                                   const Py_ssize_t* perm, Py_ssize_t n_blocks,
                                   Py_ssize_t n_stages, Py_ssize_t p, Py_ssize_t m,
                                   double* out, double* work) noexcept nogil
