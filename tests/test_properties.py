"""Property-based tests (hypothesis) over shapes, dtypes and magnitudes.

What is "right" at extreme magnitudes: without bias every kernel is homogeneous,
``K(s x, t y) = s t K(x, y)`` (order-0 arc-cosine: degree 0), so the true value of each entry
is known from a well-scaled copy of the data, computed here in long double.  An entry whose
true value is inside the range of the output dtype must come out finite and accurate (to
the absolute accuracy the cosine allows, see ``_tol``); an entry whose true value is beyond
the largest finite number must be an infinity of the right sign; one below the smallest
subnormal may round to 0.  NaN is never right.  Scales are powers of two, so that the
well-scaled copy is exact.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ntkfast

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LD = np.longdouble
PI = np.arccos(LD(-1))


# --------------------------------------------------------------------------------------------
# An independent long double reference (SPEC sections 1-2), on data of moderate magnitude
# --------------------------------------------------------------------------------------------

def _kappa0(t):
    return 1 - np.arccos(np.clip(t, -1, 1)) / PI


def _kappa1(t):
    t = np.clip(t, -1, 1)
    return (np.sqrt(np.maximum(1 - t * t, 0)) + t * (PI - np.arccos(t))) / PI


def reference(kind, X, Y, depth=1, bias=0.0):
    X = np.asarray(X, dtype=LD)
    Y = X if Y is None else np.asarray(Y, dtype=LD)
    G = X @ Y.T
    nx, ny = np.sum(X * X, axis=1), np.sum(Y * Y, axis=1)
    den = np.sqrt(np.multiply.outer(nx, ny))
    if kind in ("arccos0", "arccos1"):
        rho = np.divide(G, den, out=np.zeros_like(G), where=den > 0)
        if kind == "arccos0":
            return np.where(den > 0, _kappa0(rho), 0)
        return den * _kappa1(rho)
    b = LD(bias)
    sigma, sxx, syy = G + b, nx + b, ny + b
    theta = sigma.copy()
    for _ in range(depth):
        d = np.sqrt(np.multiply.outer(sxx, syy))
        rho = np.divide(sigma, d, out=np.zeros_like(sigma), where=d > 0)
        theta = theta * _kappa0(rho)
        sigma = d * _kappa1(rho) + b
        theta = theta + sigma
        sxx, syy = sxx + b, syy + b
    return theta if kind == "ntk" else sigma


def compute(kind, X, Y=None, depth=1, bias=0.0):
    if kind == "arccos0":
        return ntkfast.arccos_kernel(X, Y, order=0)
    if kind == "arccos1":
        return ntkfast.arccos_kernel(X, Y, order=1)
    f = ntkfast.ntk_kernel if kind == "ntk" else ntkfast.nngp_kernel
    return f(X, Y, depth=depth, bias=bias)


def _tol(dtype):
    # The kernels lose accuracy where the cosine is near +-1 (arccos has an infinite slope
    # there): a cosine error e gives a kernel error ~ sqrt(2 e) / pi, relative to
    # ||x|| ||y||.  float64 cosines carry e ~ 1e-16, float32 ones ~ 1e-7, so sqrt(2 e) / pi
    # is ~5e-9 / ~1.6e-4 per arc-cosine.  Measured (scratch run, 30,000 hypothesis cases for
    # each of the two tests using _tol, both dtypes drawn; worst err / scale): float64
    # 1.23e-8 (at extreme magnitudes) and 1.01e-8 (against the long double reference), both
    # ntk with repeated rows; float32 1.65e-4 and 1.48e-4.  The tolerances are about 4x those.
    return 5e-8 if dtype == np.float64 else 6e-4


KINDS = ["ntk", "nngp", "arccos0", "arccos1"]
DTYPES = [np.float64, np.float32]


@st.composite
def data(draw, max_rows=7, max_cols=5, dtype=None):
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    n = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_cols))
    elem = st.floats(-4, 4, allow_nan=False, allow_infinity=False, width=32)
    Z = np.array(draw(st.lists(st.lists(elem, min_size=d, max_size=d), min_size=n, max_size=n)), dtype=np.float64)
    # Sometimes repeat a row (cosine exactly 1) or zero one (zero norm).
    if n > 1 and draw(st.booleans()):
        Z[-1] = Z[0] * draw(st.sampled_from([1.0, -1.0, 2.0, 0.5]))
    if draw(st.booleans()):
        Z[draw(st.integers(0, n - 1))] = 0.0
    return Z.astype(dtype)


def _exponents(dtype):
    # Powers of two that span the whole range: subnormals, the tiny and huge normals, and
    # 1 -- entries of Z are below 4, so 2**(e + 2) must stay finite.
    if dtype == np.float64:
        return st.sampled_from([-1070, -1060, -1030, -1000, -600, -300, -40, 0, 40, 300, 500, 511, 512, 600, 1000, 1020])
    return st.sampled_from([-148, -140, -126, -100, -64, -40, 0, 40, 63, 64, 100, 124])


# --------------------------------------------------------------------------------------------
# Exact kernels
# --------------------------------------------------------------------------------------------

@SETTINGS
@given(kind=st.sampled_from(KINDS), Z=data(), depth=st.integers(1, 3),
       bias=st.sampled_from([0.0, 0.5, 2.0]), other=st.booleans(), Zy=data(dtype=np.float64))
def test_kernels_match_long_double_reference(kind, Z, depth, bias, other, Zy):
    if kind.startswith("arccos"):
        bias = 0.0
    Y = None
    if other:
        Y = np.resize(Zy, (Zy.shape[0], Z.shape[1])).astype(Z.dtype)
    K = compute(kind, Z, Y, depth, bias)
    assert K.dtype == Z.dtype and K.shape == (Z.shape[0], (Z if Y is None else Y).shape[0])
    assert not np.isnan(K).any()
    ref = reference(kind, Z, Y, depth, bias)
    nx = np.sqrt(np.sum(Z.astype(LD) ** 2, axis=1) + bias)
    ny = nx if Y is None else np.sqrt(np.sum(Y.astype(LD) ** 2, axis=1) + bias)
    scale = 1 if kind == "arccos0" else (depth + 1) * np.multiply.outer(nx, ny) + (depth + 1) ** 2 * bias
    err = np.abs(K.astype(LD) - ref)
    # Values below the dtype's smallest subnormal round to 0 (float32 inputs of 1e-39).
    atol = 4 * LD(np.finfo(Z.dtype).smallest_subnormal)
    assert np.all(err <= _tol(Z.dtype) * scale + atol), float(np.max(err / (scale + atol)))
    if Y is None:
        np.testing.assert_array_equal(K, K.T)


@SETTINGS
@given(kind=st.sampled_from(KINDS), dtype=st.sampled_from(DTYPES), depth=st.integers(1, 3), data_=st.data())
def test_kernels_at_extreme_magnitudes(kind, dtype, depth, data_):
    """Rows scaled by 2**e for e across the whole range of the dtype, mixed in one matrix."""
    Z = data_.draw(data(dtype=np.float64))
    n = Z.shape[0]
    e = np.array(data_.draw(st.lists(_exponents(dtype), min_size=n, max_size=n)))
    X = (Z * np.exp2(e.astype(np.float64))[:, None]).astype(dtype)   # exact unless subnormal

    # The true kernel of X, from the exactly rescaled well-scaled copy (long double range).
    s = np.exp2(e.astype(LD))
    Zx = X.astype(LD) / s[:, None]
    ref = reference(kind, Zx, None, depth)
    norms = np.sqrt(np.sum(Zx * Zx, axis=1))
    if kind == "arccos0":
        true, scale = ref, np.ones_like(ref)
    else:
        true = ref * np.multiply.outer(s, s)
        scale = (depth + 1) * np.multiply.outer(norms * s, norms * s)
    fi = np.finfo(dtype)
    big = np.abs(true) > LD(fi.max)
    if big.any():
        # Out of range: a value that cannot be represented is an error that says so, never
        # a silent infinity (or NaN).
        with pytest.raises(ValueError, match="overflows"):
            compute(kind, X, None, depth)
        return
    edge = np.abs(true) > LD(fi.max) / 4
    try:
        K = compute(kind, X, None, depth)
    except ValueError as exc:
        # Within a factor 4 of the largest float, rounding of the intermediate products may
        # overflow: refusing is acceptable there, and only there.
        assert edge.any() and "overflows" in str(exc), str(exc)
        return
    assert np.isfinite(K).all()
    np.testing.assert_array_equal(K, K.T)
    normal = (scale < LD(fi.max) / 4) & ~big
    # In range: accurate to the cosine's accuracy, plus subnormal rounding.  A row norm
    # below the smallest normal number is itself rounded on the subnormal grid (absolute
    # error up to half a subnormal ulp, in float64 where norms are kept), and that error is
    # multiplied by the other row's norm.
    err = np.abs(K.astype(LD) - true)
    rn = norms * s
    ulp = LD(np.finfo(np.float64).smallest_subnormal)
    norm_err = 0 if kind == "arccos0" else (depth + 1) * ulp * np.add.outer(rn, rn)
    atol = _tol(dtype) * scale + norm_err + 4 * LD(fi.smallest_subnormal)
    bad = normal & ~(err <= atol)
    assert not bad.any(), (K[bad], true[bad])


@SETTINGS
@given(kind=st.sampled_from(KINDS), Z=data(), depth=st.integers(1, 3), k=st.integers(-200, 200))
def test_homogeneity_power_of_two(kind, Z, depth, k):
    """Without bias K(2^k X) = 4^k K(X) exactly (degree 0 for order-0 arc-cosine)."""
    if Z.dtype == np.float32:
        k = k // 8
    Z2 = Z * Z.dtype.type(2.0**k)
    # Scaling is exact unless it takes a subnormal entry below its last bit.
    assume(np.array_equal(Z2.astype(LD) * LD(2.0) ** -k, Z.astype(LD)))
    K = compute(kind, Z, None, depth)
    K2 = compute(kind, Z2, None, depth)
    expected = K if kind == "arccos0" else (K.astype(np.float64) * 4.0**k).astype(Z.dtype)
    fi = np.finfo(Z.dtype)
    ok = (np.abs(expected) < fi.max / 4) & ((np.abs(expected) > fi.tiny * 4) | (expected == 0))
    if kind != "arccos0":
        # K itself must be a normal number: a subnormal K (or one flushed to 0) has already
        # lost digits that K2, computed at a larger scale, keeps.  Pairs with a zero row are
        # exactly 0 at every scale.
        zero = ~Z.any(axis=1)
        ok &= (np.abs(K) > fi.tiny * 4) | np.logical_or.outer(zero, zero)
    np.testing.assert_array_equal(K2[ok], expected[ok])


@SETTINGS
@given(kind=st.sampled_from(["ntk", "nngp", "arccos1"]), Z=data(dtype=np.float64), depth=st.integers(1, 3),
       c=st.sampled_from([1e-300, 3.7e-200, 1e-150, 0.3, 7.0, 1e150, 2.9e200]))
def test_homogeneity_any_scale(kind, Z, depth, c):
    """K(cX) = c^2 K(X) for magnitudes across the range (not powers of two: X*c rounds)."""
    K = compute(kind, Z, None, depth)
    n = np.linalg.norm(Z, axis=1)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        scale = (depth + 1) * np.multiply.outer(n, n) * c * c
        expected = K * c * c
    if np.any(np.abs(K.astype(LD) * LD(c) * LD(c)) > LD(np.finfo(np.float64).max)):
        # Some true value is beyond float64: refused, never a silent infinity.
        with pytest.raises(ValueError, match="overflows"):
            compute(kind, Z * c, None, depth)
        return
    Kc = compute(kind, Z * c, None, depth)
    assert not np.isnan(Kc).any()
    finite = np.isfinite(expected) & (scale < 1e300)
    assert np.all(np.abs(Kc[finite] - expected[finite]) <= 1e-6 * scale[finite] + 1e-320)


# --------------------------------------------------------------------------------------------
# Random features and sketches
# --------------------------------------------------------------------------------------------

_FEATURES = {
    "ntk": lambda: ntkfast.NTKRandomFeatures(depth=2, n_components=48, random_state=1),
    "nngp": lambda: ntkfast.NTKRandomFeatures(depth=2, n_components=24, kernel="nngp", random_state=1),
    "relu": lambda: ntkfast.ArcCosineFeatures(order=1, n_components=24, leverage=True, random_state=1),
    "step": lambda: ntkfast.ArcCosineFeatures(order=0, n_components=24, random_state=1),
}


@SETTINGS
@given(name=st.sampled_from(sorted(_FEATURES)), Z=data(max_rows=20), data_=st.data())
def test_features_finite_and_homogeneous(name, Z, data_):
    """Features are finite at every magnitude whose features are representable, and scale
    exactly with powers of two (degree 1; degree 0 for step features)."""
    dtype = Z.dtype
    lo, hi = (-1000, 1000) if dtype == np.float64 else (-100, 100)
    k = data_.draw(st.integers(lo, hi))
    rf = _FEATURES[name]().fit(Z)
    P = rf.transform(Z)
    P2 = rf.transform(Z * dtype.type(2.0**k))
    assert np.isfinite(P).all() and np.isfinite(P2).all()
    expected = P if name == "step" else P.astype(np.float64) * 2.0**k
    fi = np.finfo(dtype)
    # Exact while every intermediate stays normal: compare entries of a normal magnitude
    # whose row has no tiny (subnormal-risk) entries after scaling.
    row_ok = np.abs(Z).max(axis=1) * 2.0**k < fi.max / 2**10
    smallest = np.where(Z != 0, np.abs(Z), np.inf).min(axis=1)   # smallest nonzero entry
    row_ok &= (smallest == np.inf) | (np.minimum(smallest, smallest * 2.0**k) > fi.tiny * 2**40)
    np.testing.assert_array_equal(P2[row_ok], expected[row_ok].astype(dtype))


@SETTINGS
@given(Z=data(max_rows=10, max_cols=6), data_=st.data())
def test_count_sketch_linear_and_exact(Z, data_):
    n, k = Z.shape
    D = data_.draw(st.integers(1, 8))
    idx = np.array(data_.draw(st.lists(st.integers(0, D - 1), min_size=k, max_size=k)))
    sgn = np.array(data_.draw(st.lists(st.sampled_from([-1, 1]), min_size=k, max_size=k)))
    W = data_.draw(data(max_rows=n, max_cols=k, dtype=Z.dtype))
    W = np.resize(W, Z.shape).astype(Z.dtype)
    a, b = data_.draw(st.sampled_from([(1.0, 1.0), (2.0, -3.0), (1e-200, 1e200), (0.5, 0.0)]))
    if Z.dtype == np.float32:
        a, b = np.float32(min(max(a, -1e10), 1e10)), np.float32(min(max(b, -1e10), 1e10))
    ref = np.zeros((n, D), dtype=np.float64)
    for j in range(k):
        ref[:, idx[j]] += sgn[j] * Z[:, j].astype(np.float64)
    S = ntkfast.count_sketch(Z, idx, sgn, D)
    assert S.dtype == Z.dtype
    np.testing.assert_allclose(S, ref, rtol=1e-6, atol=1e-6 * np.abs(Z).sum() + 1e-30)
    with np.errstate(over="ignore", under="ignore"):
        comb = (a * Z.astype(np.float64) + b * W.astype(np.float64)).astype(Z.dtype)
        lhs = ntkfast.count_sketch(comb, idx, sgn, D).astype(np.float64)
        rhs = a * ntkfast.count_sketch(Z, idx, sgn, D).astype(np.float64) + b * ntkfast.count_sketch(W, idx, sgn, D)
    scale = k * (abs(a) * np.abs(Z).max(initial=0) + abs(b) * np.abs(W).max(initial=0))
    eps = np.finfo(Z.dtype).eps
    assert np.all(np.abs(lhs - rhs) <= 4 * k * eps * scale + 1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_sketch_never_nan_at_extremes(dtype):
    fi = np.finfo(dtype)
    U = np.array([[fi.tiny, -fi.tiny, 1.0], [fi.max / 8, 0.0, -fi.max / 8], [fi.smallest_subnormal, 0, 0]], dtype)
    V = np.array([[1.0, 2.0], [1e-3, 0.0], [1.0, 1.0]], dtype)
    T = ntkfast.tensor_sketch(U, V, [0, 1, 2], [1, -1, 1], [0, 1], [1, 1], 4)
    assert not np.isnan(T).any()


def test_regressions_found_by_these_properties():
    # A row of norm 2^-1070 against one of norm 2^40: (theta * 2^-1070) * 2^40 went through
    # a subnormal intermediate and lost 2% of the (representable) value 2^-1030 / pi.
    X = np.array([[0.0, 0.0, 2.0**-1070], [0.0, 2.0**40, 0.0]])
    K = ntkfast.ntk_kernel(X)
    assert abs(K[0, 1] - float(LD(2) ** -1030 / PI)) <= 2 * np.finfo(np.float64).smallest_subnormal
    # A subnormal row divided by its (subnormal, few-bit) norm gave wrong cosines.
    Xs = np.array([[0.0, 1.0], [1.0, 1.0]]) * 2.0**-1070
    assert ntkfast.arccos_kernel(Xs, order=0)[0, 1] == pytest.approx(0.75, abs=1e-15)
