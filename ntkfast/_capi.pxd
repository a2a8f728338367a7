# Version of ntkfast's C-level API (see the README section "Using ntkfast from C or Cython").
#
#     from ntkfast cimport count_sketch_row_d, ntk_pair_from_inner      # or: cimport ntkfast
#
# The API is one promise declared in two files, by subject: _exact.pxd (arc-cosine functions,
# exact NTK / NNGP of a pair) and _sketch.pxd (CountSketch, dense layers fused with their
# activation, spectra, TensorSketch); ntkfast/__init__.pxd cimports both, and
# ntkfast/ntkfast.h is the same API for C.
#
# Every function is ``noexcept nogil`` and works on raw pointers: call it inside
# ``with nogil:`` from as many threads as you like (no function keeps state; each writes
# only through its own output pointers).  Nothing is checked: indices must lie in
# [0, n_buckets), pointers must be valid for the stated lengths, outputs must not alias
# inputs.  (The Python-visible drivers of ntkfast._exact / ntkfast._sketch check all of
# this; the C API leaves it to its caller.)
#
# These are the kernels the Python API runs, not copies: kappa0 ... ntk_self are the very
# functions of the exact kernels, and each ``_f`` / ``_d`` twin is a one-line call of the
# fused-type kernel that ntkfast's own drivers specialise.  Why named twins rather than the
# fused functions themselves: Cython exports fused specialisations under generated names
# (``__pyx_fuse_0...``) that are not a stable contract, whereas ``count_sketch_row_f`` /
# ``count_sketch_row_d`` are plain cdef functions with fixed C signatures, exported under
# their own names in the ``__pyx_capi__`` table of their module (the pattern of
# numpy.random's c_distributions.pxd with its ``_f`` float32 twins).
#
# Versioning: NTKFAST_CAPI_VERSION is the version of this contract, compiled into your
# extension; ``ntkfast.capi_version`` is the version of the installed library.  It changes
# whenever a declaration changes, goes away or moves to another module (adding functions
# keeps it); check ``ntkfast.capi_version == NTKFAST_CAPI_VERSION`` at import.  Cython also
# checks each cimported signature when your module is imported and refuses a mismatch.
# Version 2 replaced activation_row_*, dense_activation_block_* and step_sketch_block_*
# (a BLAS GEMM per block, then the activation) by the packed, fused kernels.
# Version 3 split the compiled code by subject: kappa0, kappa1, ntk_pair,
# ntk_pair_from_inner and ntk_self moved to the module ntkfast._exact (declared in
# _exact.pxd; their capsules are in ntkfast._exact.__pyx_capi__), the sketch and dense
# kernels stay in ntkfast._sketch; no signature changed.  It also named the integer codes:
# NTKFAST_ACT_STEP / RELU / IDENTITY for the ``order`` of the dense kernels (_sketch.pxd)
# and NTKFAST_KIND_ARCCOS0 / ARCCOS1 / NNGP / NTK for the exact kernels (_exact.pxd).

cdef enum:
    NTKFAST_CAPI_VERSION = 3
