# ``cimport ntkfast`` gives the whole C-level API: one contract (rules and version in
# _capi.pxd) declared by subject in _exact.pxd, _sketch.pxd and _polysketch.pxd:
#     cimport ntkfast
#     ntkfast.count_sketch_row_d(...)
from ntkfast._capi cimport NTKFAST_CAPI_VERSION
from ntkfast._exact cimport (
    NTKFAST_KIND_ARCCOS0,
    NTKFAST_KIND_ARCCOS1,
    NTKFAST_KIND_NNGP,
    NTKFAST_KIND_NTK,
    kappa0,
    kappa1,
    ntk_pair,
    ntk_pair_from_inner,
    ntk_self,
)
from ntkfast._sketch cimport (
    NTKFAST_ACT_IDENTITY,
    NTKFAST_ACT_RELU,
    NTKFAST_ACT_STEP,
    count_sketch_row_d,
    count_sketch_row_f,
    dense_activation_packed_d,
    dense_activation_packed_f,
    fwht_d,
    fwht_f,
    ntkfast_irfft_d,
    ntkfast_irfft_f,
    ntkfast_rfft_d,
    ntkfast_rfft_f,
    pack_weights_d,
    pack_weights_f,
    packed_size_d,
    packed_size_f,
    sign_row_d,
    sign_row_f,
    spectrum_multiply_d,
    spectrum_multiply_f,
    spectrum_to_real_row_d,
    spectrum_to_real_row_f,
    srht_combine_row_d,
    srht_combine_row_f,
    step_count_sketch_row_d,
    step_count_sketch_row_f,
    step_sketch_packed_d,
    step_sketch_packed_f,
    structured_project_row_d,
    structured_project_row_f,
    tensor_sketch_pair_d,
    tensor_sketch_pair_f,
    tensor_sketch_work_size,
)
from ntkfast._polysketch cimport (
    dual_count_sketch_row_d,
    dual_count_sketch_row_f,
    srht_sample_row_d,
    srht_sample_row_f,
)
