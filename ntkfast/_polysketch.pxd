# C-level API of ntkfast, PolySketch kernels of NTKSketch (SPEC section 8; part of the one
# contract of _capi.pxd: added functions, so the version is unchanged).  Exported by the
# module ntkfast._polysketch.

# SRHT of one row from its spectrum (the TensorSRHT of a row with the unit vector e1,
# whose signed DFT is the constant s_e1[0]: PolySketch's nodes with a padding leaf):
#     out[j] = scale * Re(U[freq[j]]),  out[m + j] = scale * Im(U[freq[j]]),  j < m,
# with U the DFT of the signed row of length ku, given as its rfft (ku // 2 + 1 interleaved
# frequencies; above ku / 2 read by conjugate symmetry).  out has 2m elements.
cdef void srht_sample_row_f(const float* spec_u, Py_ssize_t ku, const Py_ssize_t* freq,
                            Py_ssize_t m, float scale, float* out) noexcept nogil
cdef void srht_sample_row_d(const double* spec_u, Py_ssize_t ku, const Py_ssize_t* freq,
                            Py_ssize_t m, double scale, double* out) noexcept nogil

# Two weighted CountSketches of one row in one pass (the final sketches of the two
# polynomials of a layer, which read the same PolySketch features):
#     out_a[b] = sum_{t < k: idx_a[t] == b} w_a[t] * x[t],   b < n_a   (out_a overwritten)
#     out_b[b] = sum_{t < k: idx_b[t] == b} w_b[t] * x[t],   b < n_b   (out_b overwritten)
# The weights are a sign times the square root of a polynomial coefficient.
cdef void dual_count_sketch_row_f(const float* x, Py_ssize_t k,
                                  const Py_ssize_t* idx_a, const float* w_a, float* out_a,
                                  Py_ssize_t n_a,
                                  const Py_ssize_t* idx_b, const float* w_b, float* out_b,
                                  Py_ssize_t n_b) noexcept nogil
cdef void dual_count_sketch_row_d(const double* x, Py_ssize_t k,
                                  const Py_ssize_t* idx_a, const double* w_a, double* out_a,
                                  Py_ssize_t n_a,
                                  const Py_ssize_t* idx_b, const double* w_b, double* out_b,
                                  Py_ssize_t n_b) noexcept nogil
