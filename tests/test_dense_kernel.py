"""The fused dense + activation kernels (ntkfast/_dense.h) against a longdouble reference.

Every value is checked against the textbook forward-error bound of a dot product in the
working precision, |fl(x . w) - x . w| <= gamma_k sum_l |x_l w_l| with gamma_k ~ k eps, on
shapes that exercise the partial register tiles (rows not a multiple of 6, features not a
multiple of the panel width), wide input and output arrays, and weights too large to stay in
cache.  The step activation must agree with the reference's sign wherever the bound decides
it.  The kernels are also built standalone in their three compiled forms (the machine's
best clone, the baseline without clones, the plain C loops) and held to the same bound.
"""
import ctypes
import sys

import numpy as np
import pytest

from conftest import build_header_standalone
from ntkfast import _sketch

LD = np.longdouble
SHAPES = [(1, 1, 1), (5, 3, 7), (13, 17, 33), (37, 64, 100), (61, 600, 40), (7, 4500, 20)]
# The named activation codes; _check gives each name its meaning (step, ReLU, identity), so
# a constant that named the wrong activation would fail against the longdouble reference.
STEP, RELU, IDENTITY = _sketch.ACT_STEP, _sketch.ACT_RELU, _sketch.ACT_IDENTITY
ORDERS = [STEP, RELU, IDENTITY]


def _problem(n, k, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, k)).astype(dtype)
    W = rng.standard_normal((m, k)).astype(dtype)
    scale = rng.uniform(0.25, 2.0, size=m).astype(dtype)
    return X, W, scale


def _check(out, X, W, scale, order):
    """out must equal act(scale * X @ W.T) within the dot product's rounding bound."""
    Z = X.astype(LD) @ W.T.astype(LD)
    eps = np.finfo(X.dtype).eps
    k = X.shape[1]
    bound = (k + 2) * eps * (np.abs(X).astype(LD) @ np.abs(W).T.astype(LD))
    s = scale.astype(LD)
    assert np.all(np.isfinite(out)), "some outputs were not written"
    if order == STEP:
        decided = np.abs(Z) > bound
        np.testing.assert_array_equal(out[decided], (s * (Z > 0))[decided])
        undecided = out[~decided]
        assert np.all((undecided == 0) | (undecided == np.broadcast_to(s, Z.shape)[~decided]))
        return
    assert order in (RELU, IDENTITY)
    ref = Z * s if order == IDENTITY else np.maximum(Z * s, 0)
    err = np.abs(out.astype(LD) - ref)
    tol = bound * s + 2 * np.finfo(X.dtype).tiny
    assert np.all(err <= tol), f"max error / bound {np.max(err / tol):.3g}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, k, m", SHAPES)
@pytest.mark.parametrize("order", ORDERS)
def test_dense_activation_within_rounding_bound(dtype, n, k, m, order):
    X, W, scale = _problem(n, k, m, dtype, seed=n + k + m)
    packed = _sketch.packed_weights(W, scale)
    out = np.full((n, m), np.nan, dtype=dtype)
    _sketch.dense_activation(X, packed, order, out, 2)
    _check(out, X, W, scale, order)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_arrays_read_and_write_only_their_columns(dtype):
    # A layer reads phi_{h-1} from the front of psi_{h-1} and writes phi_h into the front of
    # psi_h: the first k input columns are used, the first m output columns written.
    n, k, m = 29, 11, 19
    X, W, scale = _problem(n, k, m, dtype, seed=4)
    wide_x = np.concatenate([X, np.full((n, 5), np.inf, dtype=dtype)], axis=1)
    out = np.full((n, m + 7), np.nan, dtype=dtype)
    _sketch.dense_activation(wide_x, _sketch.packed_weights(W, scale), RELU, out, 2)
    _check(out[:, :m], X, W, scale, 1)
    assert np.all(np.isnan(out[:, m:]))
    # A column range in the middle of a wider array (rows strided, not C-contiguous).
    big = np.full((n, m + 9), np.nan, dtype=dtype)
    _sketch.dense_activation(X, _sketch.packed_weights(W, scale), RELU, big[:, 4:4 + m], 2)
    _check(big[:, 4:4 + m], X, W, scale, 1)
    assert np.all(np.isnan(big[:, :4])) and np.all(np.isnan(big[:, 4 + m:]))
    with pytest.raises(ValueError, match="strides"):            # columns not contiguous
        _sketch.dense_activation(X, _sketch.packed_weights(W, scale), RELU, big[:, ::2], 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_split_and_threads_change_no_bits(dtype):
    n, k, m = 250, 70, 45
    X, W, scale = _problem(n, k, m, dtype, seed=5)
    packed = _sketch.packed_weights(W, scale)
    whole = np.empty((n, m), dtype=dtype)
    _sketch.dense_activation(X, packed, RELU, whole, 2)
    rng = np.random.default_rng(0)
    cuts = np.unique(np.concatenate([[0, n], rng.integers(0, n, size=20)]))
    for i0, i1 in zip(cuts[:-1], cuts[1:]):
        part = np.empty((i1 - i0, m), dtype=dtype)
        _sketch.dense_activation(np.ascontiguousarray(X[i0:i1]), packed, RELU, part, 1)
        np.testing.assert_array_equal(part, whole[i0:i1])


@pytest.mark.parametrize("m1", [50, 17, 130])  # ReLU features; the step features are m = 50
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_sketch_hashes_the_step_features(dtype, m1):
    n, k, m, D = 23, 9, 50, 13
    X, W, _ = _problem(n, k, m, dtype, seed=6)
    W1 = np.random.default_rng(8).standard_normal((m1, k)).astype(dtype)
    rng = np.random.default_rng(7)
    idx = rng.integers(0, D, size=m).astype(np.intp)
    signs = rng.choice([-1.0, 1.0], size=m).astype(dtype)
    scale = dtype(0.3)
    out = np.full((n, D), np.nan, dtype=dtype)
    work = np.empty((2, _sketch.ROW_BLOCK_SIZE * m), dtype=dtype)
    # Through the NTK layer loop, which also makes the ReLU features and the CountSketch of
    # its input (checked elsewhere); here only the step features' CountSketch is.
    # The ReLU features may number m1 != m (NTKRandomFeatures(step_components=m)).
    relu_out = np.empty((n, m1), dtype=dtype)
    cs_x = np.empty((n, D), dtype=dtype)
    _sketch.ntk_layer_inputs(X, _sketch.packed_weights(W1, np.ones(m1, dtype)),
                             _sketch.packed_weights(W, None), scale, idx, signs,
                             np.arange(k, dtype=np.intp) % D, np.ones(k, dtype), relu_out, cs_x,
                             out, work, 2)
    relu_ref = np.maximum(X.astype(LD) @ W1.T.astype(LD), 0)
    np.testing.assert_allclose(relu_out, relu_ref, rtol=(k + 2) * np.finfo(dtype).eps,
                               atol=(k + 2) * np.finfo(dtype).eps * float(np.abs(relu_ref).max()))
    Z = X.astype(LD) @ W.T.astype(LD)
    bound = (k + 2) * np.finfo(dtype).eps * (np.abs(X).astype(LD) @ np.abs(W).T.astype(LD))
    assert np.all(np.abs(Z) > bound), "test data must decide every step"
    expected = np.zeros((n, D))
    for j in range(m):
        expected[:, idx[j]] += signs[j] * (Z[:, j] > 0)
    np.testing.assert_allclose(out, float(scale) * expected, rtol=2 * np.finfo(dtype).eps, atol=0)


def test_packed_weights_refuses_mismatches():
    W = np.ones((4, 3))
    with pytest.raises(ValueError, match="one scale per weight row"):
        _sketch.packed_weights(W, np.ones(5))
    packed = _sketch.packed_weights(W, None)
    assert (packed.m, packed.k) == (4, 3)
    with pytest.raises(ValueError, match="inconsistent"):          # out narrower than m
        _sketch.dense_activation(np.ones((2, 3)), packed, RELU, np.empty((2, 3)), 1)
    with pytest.raises(ValueError, match="inconsistent"):          # X narrower than k
        _sketch.dense_activation(np.ones((2, 2)), packed, RELU, np.empty((2, 4)), 1)
    with pytest.raises(ValueError, match="inconsistent"):          # no such order
        _sketch.dense_activation(np.ones((2, 3)), packed, 3, np.empty((2, 4)), 1)
    with pytest.raises(ValueError, match="expected float32 packed weights"):  # float32 X, float64 weights
        _sketch.dense_activation(np.ones((2, 3), np.float32), packed, RELU, np.empty((2, 4), np.float32), 1)


# --------------------------------------------------------------------------------------
# The three compiled forms of the kernels, built standalone
# --------------------------------------------------------------------------------------

WRAPPER = r"""
#include "_dense.h"
ptrdiff_t size_f(ptrdiff_t m, ptrdiff_t k) { return ntkfast_packed_size_f(m, k); }
ptrdiff_t size_d(ptrdiff_t m, ptrdiff_t k) { return ntkfast_packed_size_d(m, k); }
void pack_f(const float *w, const float *s, ptrdiff_t m, ptrdiff_t k, float *p)
{ ntkfast_pack_weights_f(w, s, m, k, p); }
void pack_d(const double *w, const double *s, ptrdiff_t m, ptrdiff_t k, double *p)
{ ntkfast_pack_weights_d(w, s, m, k, p); }
void run_f(const float *x, ptrdiff_t n, ptrdiff_t k, const float *p, ptrdiff_t m, int order,
           float *out)
{ ntkfast_dense_activation_packed_f(x, k, n, k, p, m, order, out, m); }
void run_d(const double *x, ptrdiff_t n, ptrdiff_t k, const double *p, ptrdiff_t m, int order,
           double *out)
{ ntkfast_dense_activation_packed_d(x, k, n, k, p, m, order, out, m); }
"""


def _build_variant(tmp, macros):
    dll = build_header_standalone(tmp, "_dense.h", WRAPPER, macros)
    for name in ("size_f", "size_d"):
        getattr(dll, name).restype = ctypes.c_ssize_t
        getattr(dll, name).argtypes = [ctypes.c_ssize_t, ctypes.c_ssize_t]
    return dll


@pytest.mark.skipif(sys.platform == "win32", reason="MSVC builds only the plain C form")
@pytest.mark.parametrize("macros", [(), ("NTKFAST_NO_CLONES",), ("NTKFAST_PLAIN_C",)],
                         ids=["clones", "baseline", "plain-c"])
def test_every_compiled_form(tmp_path, macros):
    dll = _build_variant(tmp_path, macros)
    P, S = ctypes.c_void_p, ctypes.c_ssize_t
    for dtype, suffix in ((np.float32, "_f"), (np.float64, "_d")):
        for n, k, m in SHAPES[:5]:
            X, W, scale = _problem(n, k, m, dtype, seed=n * k + m)
            packed = np.empty(getattr(dll, "size" + suffix)(m, k), dtype=dtype)
            getattr(dll, "pack" + suffix)(P(W.ctypes.data), P(scale.ctypes.data), S(m), S(k),
                                          P(packed.ctypes.data))
            for order in ORDERS:
                out = np.full((n, m), np.nan, dtype=dtype)
                getattr(dll, "run" + suffix)(P(X.ctypes.data), S(n), S(k), P(packed.ctypes.data),
                                             S(m), order, P(out.ctypes.data))
                _check(out, X, W, scale, order)
        # k = 0 through the C API (packed_weights refuses it in Python): every product is 0.
        m = 21
        scale = np.ones(m, dtype=dtype)
        packed = np.empty(getattr(dll, "size" + suffix)(m, 0), dtype=dtype)
        getattr(dll, "pack" + suffix)(None, P(scale.ctypes.data), S(m), S(0), P(packed.ctypes.data))
        for order in ORDERS:
            out = np.full((7, m), np.nan, dtype=dtype)
            getattr(dll, "run" + suffix)(P(packed.ctypes.data), S(7), S(0), P(packed.ctypes.data),
                                         S(m), order, P(out.ctypes.data))
            np.testing.assert_array_equal(out, 0)
