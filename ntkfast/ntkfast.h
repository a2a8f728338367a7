/* ntkfast's C-level API for extensions written in C (Cython users: `cimport ntkfast`).
 *
 * The functions are those declared and documented in ntkfast/_exact.pxd (kappa0 ...
 * ntk_self, exported by the compiled module ntkfast._exact), ntkfast/_sketch.pxd (exported
 * by ntkfast._sketch) and ntkfast/_polysketch.pxd (NTKSketch's kernels, exported by
 * ntkfast._polysketch), as capsules in each module's __pyx_capi__ table; the
 * rules and the version history are in ntkfast/_capi.pxd.  Call
 * ntkfast_import_capi(&api) once with the GIL held (e.g. in your module's init); after
 * that every api.fn(...) may be called without the GIL, from any thread.
 *
 *     #include "ntkfast/ntkfast.h"        // with ntkfast.get_include() in include_dirs
 *     static ntkfast_capi api;
 *     if (ntkfast_import_capi(&api) < 0) return NULL;   // Python exception set
 *     api.ntk_pair_from_inner(inner, nx, ny, depth, bias, &ntk, &nngp);
 */
#ifndef NTKFAST_H
#define NTKFAST_H

#include <Python.h>

/* Must equal ntkfast.capi_version (checked by ntkfast_import_capi).  Version 3: the exact
 * kernels come from ntkfast._exact; the integer codes below got names. */
#define NTKFAST_CAPI_VERSION 3

/* ``order`` of dense_activation_packed_* (the enum of _sketch.pxd). */
enum { NTKFAST_ACT_STEP = 0, NTKFAST_ACT_RELU = 1, NTKFAST_ACT_IDENTITY = 2 };
/* Which exact kernel (the enum of _exact.pxd). */
enum { NTKFAST_KIND_ARCCOS0 = 0, NTKFAST_KIND_ARCCOS1 = 1, NTKFAST_KIND_NNGP = 2, NTKFAST_KIND_NTK = 3 };

typedef int (*ntkfast_rfft_f)(void *ctx, const float *x, float *spectrum, Py_ssize_t n);
typedef int (*ntkfast_irfft_f)(void *ctx, const float *spectrum, float *x, Py_ssize_t n);
typedef int (*ntkfast_rfft_d)(void *ctx, const double *x, double *spectrum, Py_ssize_t n);
typedef int (*ntkfast_irfft_d)(void *ctx, const double *spectrum, double *x, Py_ssize_t n);

typedef struct {
    double (*kappa0)(double t);
    double (*kappa1)(double t);
    void (*ntk_pair)(double cosine, double norm_x, double norm_y, int depth, double bias,
                     double *ntk, double *nngp);
    void (*ntk_pair_from_inner)(double inner, double norm_x, double norm_y, int depth,
                                double bias, double *ntk, double *nngp);
    void (*ntk_self)(double norm_x, int depth, double bias, double *ntk, double *nngp);
    void (*count_sketch_row_f)(const float *x, Py_ssize_t k, const Py_ssize_t *indices,
                               const float *signs, float *out, Py_ssize_t n_buckets);
    void (*count_sketch_row_d)(const double *x, Py_ssize_t k, const Py_ssize_t *indices,
                               const double *signs, double *out, Py_ssize_t n_buckets);
    void (*step_count_sketch_row_f)(const float *z, Py_ssize_t k, const Py_ssize_t *indices,
                                    const float *signs, float scale, float *out,
                                    Py_ssize_t n_buckets);
    void (*step_count_sketch_row_d)(const double *z, Py_ssize_t k, const Py_ssize_t *indices,
                                    const double *signs, double scale, double *out,
                                    Py_ssize_t n_buckets);
    Py_ssize_t (*packed_size_f)(Py_ssize_t m, Py_ssize_t k);
    Py_ssize_t (*packed_size_d)(Py_ssize_t m, Py_ssize_t k);
    void (*pack_weights_f)(const float *w, const float *scale, Py_ssize_t m, Py_ssize_t k,
                           float *packed);
    void (*pack_weights_d)(const double *w, const double *scale, Py_ssize_t m, Py_ssize_t k,
                           double *packed);
    void (*dense_activation_packed_f)(const float *x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                      Py_ssize_t k, const float *packed, Py_ssize_t m, int order,
                                      float *out, Py_ssize_t ldo);
    void (*dense_activation_packed_d)(const double *x, Py_ssize_t ldx, Py_ssize_t n_rows,
                                      Py_ssize_t k, const double *packed, Py_ssize_t m, int order,
                                      double *out, Py_ssize_t ldo);
    void (*step_sketch_packed_f)(const float *x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                                 const float *packed, Py_ssize_t m, float scale,
                                 const Py_ssize_t *indices, const float *signs, float *out,
                                 Py_ssize_t ldo, Py_ssize_t n_buckets, float *work);
    void (*step_sketch_packed_d)(const double *x, Py_ssize_t ldx, Py_ssize_t n_rows, Py_ssize_t k,
                                 const double *packed, Py_ssize_t m, double scale,
                                 const Py_ssize_t *indices, const double *signs, double *out,
                                 Py_ssize_t ldo, Py_ssize_t n_buckets, double *work);
    void (*spectrum_multiply_f)(float *a, const float *b, Py_ssize_t n_freq);
    void (*spectrum_multiply_d)(double *a, const double *b, Py_ssize_t n_freq);
    Py_ssize_t (*tensor_sketch_work_size)(Py_ssize_t n_buckets);
    int (*tensor_sketch_pair_f)(const float *u, Py_ssize_t ku, const Py_ssize_t *indices_u,
                                const float *signs_u, const float *v, Py_ssize_t kv,
                                const Py_ssize_t *indices_v, const float *signs_v,
                                Py_ssize_t n_buckets, float *out, float *work,
                                ntkfast_rfft_f rfft, ntkfast_irfft_f irfft, void *fft_ctx);
    int (*tensor_sketch_pair_d)(const double *u, Py_ssize_t ku, const Py_ssize_t *indices_u,
                                const double *signs_u, const double *v, Py_ssize_t kv,
                                const Py_ssize_t *indices_v, const double *signs_v,
                                Py_ssize_t n_buckets, double *out, double *work,
                                ntkfast_rfft_d rfft, ntkfast_irfft_d irfft, void *fft_ctx);
    /* TensorSRHT (added without a version change; see _sketch.pxd) */
    void (*sign_row_f)(const float *x, const float *signs, Py_ssize_t k, float *out);
    void (*sign_row_d)(const double *x, const double *signs, Py_ssize_t k, double *out);
    void (*srht_combine_row_f)(const float *spec_u, Py_ssize_t ku, const Py_ssize_t *freq_u,
                               const float *spec_v, Py_ssize_t kv, const Py_ssize_t *freq_v,
                               Py_ssize_t m, float scale, float *out);
    void (*srht_combine_row_d)(const double *spec_u, Py_ssize_t ku, const Py_ssize_t *freq_u,
                               const double *spec_v, Py_ssize_t kv, const Py_ssize_t *freq_v,
                               Py_ssize_t m, double scale, double *out);
    /* Structured projections (added without a version change; see _sketch.pxd) */
    void (*fwht_f)(float *v, Py_ssize_t p);
    void (*fwht_d)(double *v, Py_ssize_t p);
    void (*structured_project_row_f)(const float *x, Py_ssize_t k, const float *diag,
                                     const Py_ssize_t *perm, Py_ssize_t n_blocks,
                                     Py_ssize_t n_stages, Py_ssize_t p, Py_ssize_t m,
                                     float *out, float *work);
    void (*structured_project_row_d)(const double *x, Py_ssize_t k, const double *diag,
                                     const Py_ssize_t *perm, Py_ssize_t n_blocks,
                                     Py_ssize_t n_stages, Py_ssize_t p, Py_ssize_t m,
                                     double *out, double *work);
    void (*spectrum_to_real_row_f)(const float *spec, Py_ssize_t D, float *out);
    void (*spectrum_to_real_row_d)(const double *spec, Py_ssize_t D, double *out);
    /* PolySketch kernels of NTKSketch (ntkfast._polysketch; added without a version
     * change, see _polysketch.pxd) */
    void (*srht_sample_row_f)(const float *spec_u, Py_ssize_t ku, const Py_ssize_t *freq,
                              Py_ssize_t m, float scale, float *out);
    void (*srht_sample_row_d)(const double *spec_u, Py_ssize_t ku, const Py_ssize_t *freq,
                              Py_ssize_t m, double scale, double *out);
    void (*dual_count_sketch_row_f)(const float *x, Py_ssize_t k, const Py_ssize_t *idx_a,
                                    const float *w_a, float *out_a, Py_ssize_t n_a,
                                    const Py_ssize_t *idx_b, const float *w_b, float *out_b,
                                    Py_ssize_t n_b);
    void (*dual_count_sketch_row_d)(const double *x, Py_ssize_t k, const Py_ssize_t *idx_a,
                                    const double *w_a, double *out_a, Py_ssize_t n_a,
                                    const Py_ssize_t *idx_b, const double *w_b, double *out_b,
                                    Py_ssize_t n_b);
} ntkfast_capi;

static int ntkfast__fetch(PyObject *table, const char *name, void **slot)
{
    PyObject *capsule = PyDict_GetItemString(table, name);   /* borrowed */
    if (capsule == NULL) {
        PyErr_Format(PyExc_ImportError, "ntkfast C API: no module of ntkfast exports %s", name);
        return -1;
    }
    /* The capsule's name is Cython's signature string; the version check stands for it. */
    *slot = PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule));
    return *slot == NULL ? -1 : 0;
}

/* The __pyx_capi__ table of ntkfast.<name> (a new reference), after checking that the module
 * was built for NTKFAST_CAPI_VERSION; NULL with a Python exception set. */
static PyObject *ntkfast__table(const char *name)
{
    PyObject *module = NULL, *version = NULL, *table = NULL;
    long v;
    module = PyImport_ImportModule(name);
    if (module == NULL) goto done;
    version = PyObject_GetAttrString(module, "CAPI_VERSION");
    if (version == NULL) goto done;
    v = PyLong_AsLong(version);
    if (v == -1 && PyErr_Occurred()) goto done;
    if (v != NTKFAST_CAPI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "ntkfast C API: compiled against version %d, the installed %s has %ld",
                     NTKFAST_CAPI_VERSION, name, v);
        goto done;
    }
    table = PyObject_GetAttrString(module, "__pyx_capi__");
done:
    Py_XDECREF(version);
    Py_XDECREF(module);
    return table;
}

/* Fill *api; 0 on success, -1 with a Python exception set.  Needs the GIL. */
static int ntkfast_import_capi(ntkfast_capi *api)
{
    /* Function pointers are stored through void** as with dlsym (POSIX guarantees it). */
#define NTKFAST__FETCH(field) \
    if (ntkfast__fetch(table, #field, (void **)&api->field) < 0) goto fail;
    PyObject *table = ntkfast__table("ntkfast._exact");
    if (table == NULL) goto fail;
    NTKFAST__FETCH(kappa0) NTKFAST__FETCH(kappa1) NTKFAST__FETCH(ntk_pair)
    NTKFAST__FETCH(ntk_pair_from_inner) NTKFAST__FETCH(ntk_self)
    Py_DECREF(table);
    table = ntkfast__table("ntkfast._sketch");
    if (table == NULL) goto fail;
    NTKFAST__FETCH(count_sketch_row_f) NTKFAST__FETCH(count_sketch_row_d)
    NTKFAST__FETCH(step_count_sketch_row_f) NTKFAST__FETCH(step_count_sketch_row_d)
    NTKFAST__FETCH(packed_size_f) NTKFAST__FETCH(packed_size_d)
    NTKFAST__FETCH(pack_weights_f) NTKFAST__FETCH(pack_weights_d)
    NTKFAST__FETCH(dense_activation_packed_f) NTKFAST__FETCH(dense_activation_packed_d)
    NTKFAST__FETCH(step_sketch_packed_f) NTKFAST__FETCH(step_sketch_packed_d)
    NTKFAST__FETCH(spectrum_multiply_f) NTKFAST__FETCH(spectrum_multiply_d)
    NTKFAST__FETCH(tensor_sketch_work_size)
    NTKFAST__FETCH(tensor_sketch_pair_f) NTKFAST__FETCH(tensor_sketch_pair_d)
    NTKFAST__FETCH(sign_row_f) NTKFAST__FETCH(sign_row_d)
    NTKFAST__FETCH(srht_combine_row_f) NTKFAST__FETCH(srht_combine_row_d)
    NTKFAST__FETCH(fwht_f) NTKFAST__FETCH(fwht_d)
    NTKFAST__FETCH(structured_project_row_f) NTKFAST__FETCH(structured_project_row_d)
    NTKFAST__FETCH(spectrum_to_real_row_f) NTKFAST__FETCH(spectrum_to_real_row_d)
    Py_DECREF(table);
    table = ntkfast__table("ntkfast._polysketch");
    if (table == NULL) goto fail;
    NTKFAST__FETCH(srht_sample_row_f) NTKFAST__FETCH(srht_sample_row_d)
    NTKFAST__FETCH(dual_count_sketch_row_f) NTKFAST__FETCH(dual_count_sketch_row_d)
#undef NTKFAST__FETCH
    Py_DECREF(table);
    return 0;
fail:
    Py_XDECREF(table);
    return -1;
}

#endif /* NTKFAST_H */
