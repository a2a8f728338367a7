/* A plain-C extension using ntkfast's C API (ntkfast/ntkfast.h); the kernels run with the
 * GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "ntkfast/ntkfast.h"

static ntkfast_capi api;

/* ntk(inner, norm_x, norm_y, depth, bias) -> (NTK, NNGP) of one pair. */
static PyObject *ntk(PyObject *self, PyObject *args)
{
    double inner, nx, ny, bias, k, s;
    int depth;
    if (!PyArg_ParseTuple(args, "dddid", &inner, &nx, &ny, &depth, &bias)) return NULL;
    Py_BEGIN_ALLOW_THREADS
    api.ntk_pair_from_inner(inner, nx, ny, depth, bias, &k, &s);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("dd", k, s);
}

/* count_sketch(x, indices, signs, out): float64 x, signs; intp indices; float64 out written. */
static PyObject *count_sketch(PyObject *self, PyObject *args)
{
    Py_buffer x, idx, sg, out;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &x, &idx, &sg, &out)) return NULL;
    Py_ssize_t k = x.len / (Py_ssize_t)sizeof(double);
    if (idx.len != k * (Py_ssize_t)sizeof(Py_ssize_t) || sg.len != x.len || out.len == 0) {
        PyErr_SetString(PyExc_ValueError, "count_sketch: inconsistent buffer sizes");
    } else {
        Py_BEGIN_ALLOW_THREADS
        api.count_sketch_row_d((const double *)x.buf, k, (const Py_ssize_t *)idx.buf,
                               (const double *)sg.buf, (double *)out.buf,
                               out.len / (Py_ssize_t)sizeof(double));
        Py_END_ALLOW_THREADS
        Py_INCREF(Py_None);
        result = Py_None;
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&idx);
    PyBuffer_Release(&sg);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"ntk", ntk, METH_VARARGS, "(NTK, NNGP) of one pair from inner product and norms."},
    {"count_sketch", count_sketch, METH_VARARGS, "CountSketch of one float64 row into out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "ntk_c_consumer", NULL, -1, methods};

PyMODINIT_FUNC PyInit_ntk_c_consumer(void)
{
    if (ntkfast_import_capi(&api) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m != NULL && (PyModule_AddIntConstant(m, "NTKFAST_CAPI_VERSION", NTKFAST_CAPI_VERSION) < 0
                      || PyModule_AddIntConstant(m, "NTKFAST_ACT_IDENTITY", NTKFAST_ACT_IDENTITY) < 0
                      || PyModule_AddIntConstant(m, "NTKFAST_KIND_NTK", NTKFAST_KIND_NTK) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
