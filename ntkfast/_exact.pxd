# C-level API of ntkfast, exact kernels (part of one contract with _sketch.pxd: read
# _capi.pxd for the rules and the version).  Exported by the module ntkfast._exact.
#
# Arc-cosine kernel functions and the exact NTK / NNGP recursion (SPEC sections 1-2).
# Always double precision: the float32 Python API also runs these in double and rounds
# the result, so there is no float32 twin.  They call the same compiled row function as
# the Python API's driver (ntkfast/_arccos.h: a polynomial arcsine, kappa0 and kappa1
# within 2 ulp of the exact values).

# Which kernel a block of cosines becomes (``kind`` of the driver exact_kernel_block; the
# same values as ntkfast._exact.KIND_*): the arc-cosine kernels of order 0 and 1, the NNGP
# Sigma_L and the NTK Theta_L.
cdef enum:
    NTKFAST_KIND_ARCCOS0 = 0
    NTKFAST_KIND_ARCCOS1 = 1
    NTKFAST_KIND_NNGP = 2
    NTKFAST_KIND_NTK = 3

# kappa0(t) = 1 - arccos(t)/pi and kappa1(t) = (sqrt(1-t^2) + t (pi - arccos t))/pi,
# t clipped to [-1, 1].
cdef double kappa0(double t) noexcept nogil
cdef double kappa1(double t) noexcept nogil

# NTK Theta_L and NNGP Sigma_L (depth L >= 1, bias variance b^2 >= 0) of one pair, given
# the cosine <x,y>/(||x|| ||y||) and the norms.  Zero norm (no bias): both are 0.
# The work is proportional to the depth, and runs to its end (no interruption).
cdef void ntk_pair(double cosine, double norm_x, double norm_y, int depth, double bias,
                   double* ntk, double* nngp) noexcept nogil

# The same from the inner product <x, y> and the norms: cosine = <x,y>/||x||/||y||.
cdef void ntk_pair_from_inner(double inner, double norm_x, double norm_y, int depth,
                              double bias, double* ntk, double* nngp) noexcept nogil

# A point with itself, in closed form (use it for the diagonal: through ntk_pair a cosine
# rounded to 1 - 1e-16 would cost 1e-8 of relative accuracy).
cdef void ntk_self(double norm_x, int depth, double bias, double* ntk, double* nngp) noexcept nogil
