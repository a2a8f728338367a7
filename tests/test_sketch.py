"""CountSketch / TensorSketch primitives against the explicit reference."""
import itertools

import numpy as np
import pytest

import ntkfast
import reference as R


def _hash(rng, k, D, sign_dtype=np.float64, idx_dtype=np.int64):
    return rng.integers(0, D, size=k).astype(idx_dtype), rng.choice([-1, 1], size=k).astype(sign_dtype)


def _sketch_estimates(rng, U, V, D, reps):
    """``<TS(U[0], V[0]), TS(U[1], V[1])>`` for ``reps`` independent draws of the two hashes."""
    est = np.empty(reps)
    for r in range(reps):
        iu, su = _hash(rng, U.shape[1], D)
        iv, sv = _hash(rng, V.shape[1], D)
        T = ntkfast.tensor_sketch(U, V, iu, su, iv, sv, D)
        est[r] = T[0] @ T[1]
    return est


def test_count_sketch_golden():
    X = np.array([[1.0, 2.0, 3.0, 4.0]])
    out = ntkfast.count_sketch(X, np.array([0, 2, 0, 1]), np.array([1, -1, -1, 1]), 3)
    np.testing.assert_array_equal(out, np.array([[-2.0, 4.0, -2.0]]))
    X2 = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0]])
    out2 = ntkfast.count_sketch(X2, np.array([1, 1, 3, 0]), np.array([-1.0, 1.0, 1.0, -1.0]), 5)
    np.testing.assert_array_equal(out2, np.array([[-4.0, 1.0, 0.0, 3.0, 0.0], [-2.0, -1.5, 0.0, 0.0, 0.0]]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sign_dtype", [np.float64, np.float32, np.int8, np.int32, np.int64])
@pytest.mark.parametrize("idx_dtype", [np.int64, np.int32, np.intp, np.uint32])
def test_count_sketch_matches_reference(dtype, sign_dtype, idx_dtype):
    rng = np.random.default_rng(0)
    n, k, D = 13, 50, 17
    X = rng.normal(size=(n, k)).astype(dtype)
    idx, sg = _hash(rng, k, D, sign_dtype, idx_dtype)
    out = ntkfast.count_sketch(X, idx, sg, D)
    assert out.shape == (n, D) and out.dtype == dtype
    ref = R.count_sketch(X, idx, sg, D)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_count_sketch_larger_and_fewer_columns_than_buckets():
    rng = np.random.default_rng(1)
    for n, k, D in [(300, 700, 64), (5, 3, 100), (1, 1, 1)]:
        X = rng.normal(size=(n, k))
        idx, sg = _hash(rng, k, D)
        np.testing.assert_allclose(ntkfast.count_sketch(X, idx, sg, D), R.count_sketch(X, idx, sg, D),
                                   rtol=1e-12, atol=1e-12 * np.abs(X).sum(axis=1).max())


def test_count_sketch_preserves_inner_products_in_expectation():
    # E <CS(u), CS(v)> = <u, v>; average over independent hashes
    rng = np.random.default_rng(2)
    k, D, reps = 20, 8, 800
    U = rng.normal(size=(2, k))
    est = np.empty(reps)
    for r in range(reps):
        idx, sg = _hash(rng, k, D)
        C = ntkfast.count_sketch(U, idx, sg, D)
        est[r] = C[0] @ C[1]
    truth = U[0] @ U[1]
    se = est.std(ddof=1) / np.sqrt(reps)
    assert abs(est.mean() - truth) < 5 * se


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("D", [1, 2, 7, 16, 33, 128])
def test_tensor_sketch_equals_explicit(dtype, D):
    rng = np.random.default_rng(D)
    n, ku, kv = 9, 11, 6
    U = rng.normal(size=(n, ku)).astype(dtype)
    V = rng.normal(size=(n, kv)).astype(dtype)
    iu, su = _hash(rng, ku, D)
    iv, sv = _hash(rng, kv, D)
    out = ntkfast.tensor_sketch(U, V, iu, su, iv, sv, D)
    assert out.shape == (n, D) and out.dtype == dtype
    ref = R.tensor_sketch_explicit(U, V, iu, su, iv, sv, D)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol * np.abs(ref).max())


def test_tensor_sketch_different_row_structure():
    # sparse-ish rows and a zero row
    rng = np.random.default_rng(5)
    n, ku, kv, D = 6, 40, 25, 64
    U = rng.normal(size=(n, ku)) * (rng.random((n, ku)) < 0.2)
    V = rng.normal(size=(n, kv))
    U[3] = 0
    iu, su = _hash(rng, ku, D)
    iv, sv = _hash(rng, kv, D)
    out = ntkfast.tensor_sketch(U, V, iu, su, iv, sv, D)
    ref = R.tensor_sketch_explicit(U, V, iu, su, iv, sv, D)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    assert np.all(np.abs(out[3]) <= 1e-12 * np.abs(ref).max())


def test_tensor_sketch_unbiased_inner_product():
    # E <TS(u, v), TS(u', v')> = <u, u'> <v, v'>
    rng = np.random.default_rng(6)
    ku, kv, D, reps = 7, 5, 16, 3000
    U = rng.normal(size=(2, ku))
    V = rng.normal(size=(2, kv))
    est = _sketch_estimates(rng, U, V, D, reps)
    truth = (U[0] @ U[1]) * (V[0] @ V[1])
    se = est.std(ddof=1) / np.sqrt(reps)
    assert abs(est.mean() - truth) < 5 * se + 1e-12


def _tensor_sketch_variance(U, V, D):
    """Exact variance of <TS(u, v), TS(u', v')> over fully random hashes and signs.

    With P_r(w) = FFT(CS_r x)(w) conj(FFT(CS_r x')(w)) for factor r, the estimate is
    (1/D) sum_w P_1(w) P_2(w), and the factors are independent.  E[P_r(w) conj P_r(w')] =
    a_r + b_r [w = w'] + c_r [w = -w'] (the three ways four signs pair up), with
    a = <x, x'>^2, b = |x|^2 |x'|^2 - s, c = <x, x'>^2 - s, s = sum_i x_i^2 x'_i^2.  Summing
    over (w, w'), with z = #{w : w = -w mod D} (1 for odd D, 2 for even D):
    Var = (a_1 (b_2 + c_2) + a_2 (b_1 + c_1) + b_1 b_2 + c_1 c_2) / D + z (b_1 c_2 + c_1 b_2) / D^2.
    """
    def abc(x, y):
        s = np.sum(x * x * y * y)
        return (x @ y) ** 2, (x @ x) * (y @ y) - s, (x @ y) ** 2 - s
    (a1, b1, c1), (a2, b2, c2) = abc(U[0], U[1]), abc(V[0], V[1])
    z = 2 if D % 2 == 0 else 1
    return (a1 * (b2 + c2) + a2 * (b1 + c1) + b1 * b2 + c1 * c2) / D + z * (b1 * c2 + c1 * b2) / D**2


@pytest.mark.parametrize("D", [1, 2, 3])
def test_tensor_sketch_variance_formula_by_enumeration(D):
    # Every hash and sign assignment of a 2 x 2 tensor: the mean and variance of the estimate
    # over them are exact, so the closed form below is checked with no sampling error.
    rng = np.random.default_rng(30 + D)
    U, V = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    hashes = [(np.array(h), np.array(sg))
              for h in itertools.product(range(D), repeat=2) for sg in itertools.product([-1.0, 1.0], repeat=2)]
    est = np.array([T[0] @ T[1] for T in (ntkfast.tensor_sketch(U, V, iu, su, iv, sv, D)
                                          for iu, su in hashes for iv, sv in hashes)])
    assert est.size == (4 * D * D) ** 2
    np.testing.assert_allclose(est.mean(), (U[0] @ U[1]) * (V[0] @ V[1]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.var(), _tensor_sketch_variance(U, V, D), rtol=1e-10)


def test_tensor_sketch_variance_shrinks_like_1_over_D():
    # The sample variance of the estimate at each D must match the closed form, which falls
    # like 1/D (16x from D = 4 to D = 64), within 5 standard errors of a sample variance,
    # sqrt((m4 - s^4) / reps).  A sketch whose spread does not follow D fails it at once.
    rng = np.random.default_rng(7)
    ku, kv, reps = 7, 5, 2000
    U, V = rng.normal(size=(2, ku)), rng.normal(size=(2, kv))
    variances = {}
    for D in (4, 16, 64):
        est = _sketch_estimates(rng, U, V, D, reps)
        s2 = est.var(ddof=1)
        m4 = np.mean((est - est.mean()) ** 4)
        se = np.sqrt(max(m4 - s2 * s2, 0.0) / reps)
        expected = _tensor_sketch_variance(U, V, D)
        assert abs(s2 - expected) < 5 * se, (D, s2, expected, se)
        variances[D] = s2
    # The closed form is ~ 1/D here; the measured ratio must be far from 1 (constant spread).
    assert 8 < variances[4] / variances[64] < 32, variances


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tensor_sketch_product_equals_explicit(p, dtype):
    rng = np.random.default_rng(10 + p)
    n, D = 4, 13
    ks = [5, 3, 4][:p]
    factors = [rng.normal(size=(n, k)).astype(dtype) for k in ks]
    hashes = [_hash(rng, k, D) for k in ks]
    indices = [h[0] for h in hashes]
    signs = [h[1] for h in hashes]
    out = ntkfast.tensor_sketch_product(factors, indices, signs, D)
    assert out.shape == (n, D) and out.dtype == dtype
    ref = R.tensor_sketch_product_explicit(factors, indices, signs, D)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol * np.abs(ref).max())
    if p == 1:
        np.testing.assert_allclose(out, ntkfast.count_sketch(factors[0], indices[0], signs[0], D),
                                   rtol=0, atol=tol * np.abs(ref).max())
    if p == 2:
        ts = ntkfast.tensor_sketch(factors[0], factors[1], indices[0], signs[0], indices[1], signs[1], D)
        np.testing.assert_allclose(out, ts, rtol=0, atol=tol * np.abs(ref).max())


def test_tensor_sketch_product_accepts_tuples_and_lists():
    rng = np.random.default_rng(20)
    D = 8
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    (ia, sa), (ib, sb) = _hash(rng, 4, D), _hash(rng, 2, D)
    o1 = ntkfast.tensor_sketch_product((A, B), (ia, ib), (sa, sb), D)
    o2 = ntkfast.tensor_sketch_product([A, B], [ia, ib], [sa, sb], D)
    np.testing.assert_array_equal(o1, o2)


@pytest.mark.skipif(ntkfast._sketch.DEBUG_BUILD,
                    reason="the checked build reports the zero-width row (tests/test_debug_build.py)")
def test_count_sketch_driver_takes_zero_length_hashes():
    # The drivers read a private, checked copy of the bucket indices; a zero-length copy
    # once failed inside Cython ("Invalid shape in axis 0: 0") before any check ran.  A
    # sketch of no coordinates is the zero vector.
    from ntkfast import _sketch
    out = np.full((2, 3), np.nan)
    _sketch.count_sketch_rows(np.zeros((2, 0)), np.zeros(0, np.intp), np.zeros(0), out, 3, 1)
    np.testing.assert_array_equal(out, np.zeros((2, 3)))
