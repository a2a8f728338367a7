"""The vectorised arc-cosine evaluation (ntkfast/_arccos.h) and the exact recursion built on it,
against independent references (issue 14, item 2).

- kappa0 and kappa1 on a dense grid of [-1, 1] and near +-1, against numpy in longdouble
  (np.arccos), with the error bounds that _arccos.h and docs/user_guide/performance.rst state;
- the NTK / NNGP recursion (SPEC section 2, depth 1 to 5, with and without bias, tiny and huge
  norms, float64 and float32) for cosines at and near +-1, against the plain recursion computed
  in 60-digit decimal arithmetic (arccos from the series of asin), since numpy's longdouble
  recursion itself is off by up to 1e-10 at depth 5 there (arccos is ill-conditioned near 1);
- every element's value does not depend on where it sits in a row (the vector lanes);
- the three compiled forms of the header (AVX2 clone, baseline, plain C) built standalone.
"""
import ctypes
import sys
from decimal import Decimal, localcontext

import numpy as np
import pytest

import ntkfast
from conftest import build_header_standalone
from ntkfast import _exact

LD = np.longdouble
PI_LD = np.arccos(LD(-1))
EPS = 2.0 ** -52
EPS32 = 2.0 ** -23

# The bounds stated in _arccos.h (in units of double epsilon, 2^-52); measured maxima on the
# grid below: 1.61, 1.55 and 0.64.
KAPPA0_REL = 2.0      # |kappa0 - exact| / kappa0, everywhere
KAPPA1_REL = 2.0      # |kappa1 - exact| / kappa1 for t >= 0
KAPPA1_ABS = 1.0      # |kappa1 - exact| for t < 0 (kappa1 -> 0 like (1 + t)^1.5 at t = -1)


def _grid():
    """2,000,001 equispaced points of [-1, 1], 10^6 random ones, and points near +-1 and +-1/2."""
    k = np.arange(1, 54)
    near = np.concatenate([1 - 2.0 ** -k, -1 + 2.0 ** -k, 1 - np.arange(1, 200) * 2.0 ** -53,
                           -1 + np.arange(1, 200) * 2.0 ** -53])
    half = np.concatenate([np.nextafter(0.5, [0, 1]), np.nextafter(-0.5, [-1, 0]), [0.5, -0.5]])
    rng = np.random.default_rng(0)
    return np.concatenate([np.linspace(-1, 1, 2_000_001), rng.uniform(-1, 1, 1_000_000), near,
                           half, [0.0, -0.0, 1.0, -1.0]])


def _kappa_reference(t):
    """kappa0, kappa1 of the double values t, in longdouble numpy (SPEC section 1).

    kappa0 for t < 0 as arccos(-t) / pi (the same function: arccos(-t) = pi - arccos t), which
    keeps the reference's relative accuracy where kappa0 tends to 0 at t = -1."""
    tl = t.astype(LD)
    k0 = np.where(tl >= 0, 1 - np.arccos(tl) / PI_LD, np.arccos(-tl) / PI_LD)
    k1 = (np.sqrt(np.maximum(1 - tl * tl, 0)) + tl * (PI_LD - np.arccos(tl))) / PI_LD
    return k0, k1


def _check_kappas(t, k0, k1):
    r0, r1 = _kappa_reference(t)
    err0 = np.abs(k0.astype(LD) - r0)
    err1 = np.abs(k1.astype(LD) - r1)
    assert np.all(err0 <= KAPPA0_REL * EPS * r0), float(np.max(err0 / np.where(r0 > 0, r0, 1)) / EPS)
    pos = t >= 0
    assert np.all(err1[pos] <= KAPPA1_REL * EPS * r1[pos]), float(np.max(err1[pos] / r1[pos]) / EPS)
    assert np.all(err1[~pos] <= KAPPA1_ABS * EPS), float(np.max(err1[~pos]) / EPS)
    # The end points are exact.
    for value, want0, want1 in ((1.0, 1.0, 1.0), (-1.0, 0.0, 0.0)):
        i = np.flatnonzero(t == value)[0]
        assert k0[i] == want0 and k1[i] == want1


def _driver_kappas(t, n_threads=2):
    """kappa0, kappa1 of the cosines t through the driver (unit norms: arccos1 = kappa1)."""
    out = []
    for kind in (_exact.KIND_ARCCOS0, _exact.KIND_ARCCOS1):
        G = t[None, :].copy()
        _exact.exact_kernel_block(G, np.ones(1), np.ones(t.size), -1, kind, 1, 0.0, n_threads)
        out.append(G[0])
    return out


def test_kappa_error_bound_on_a_dense_grid():
    t = _grid()
    k0, k1 = _driver_kappas(t)
    _check_kappas(t, k0, k1)


def test_kappa_float32_rounds_the_double_values():
    # float32 blocks are computed in double and rounded once: within half a float32 ulp of the
    # exact value, plus the double error (tiny next to it).
    t = _grid()[::7].astype(np.float32)
    r0, r1 = _kappa_reference(t.astype(np.float64))
    for kind, ref in ((_exact.KIND_ARCCOS0, r0), (_exact.KIND_ARCCOS1, r1)):
        G = t[None, :].copy()
        _exact.exact_kernel_block(G, np.ones(1), np.ones(t.size), -1, kind, 1, 0.0, 2)
        err = np.abs(G[0].astype(LD) - ref)
        bound = (0.5 * EPS32 + 4 * EPS) * np.abs(ref) + (4 * EPS if kind == _exact.KIND_ARCCOS1 else 0)
        assert np.all(err <= bound)


# --------------------------------------------------------------------------------------
# The recursion near rho = +-1, against 60-digit decimal arithmetic
# --------------------------------------------------------------------------------------

_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")


def _asin(x):
    """asin x for 0 <= x <= sqrt(1/2), by its Taylor series (terms shrink at least 2x each)."""
    s, term, n = Decimal(0), x, 0
    while True:
        t = term / (2 * n + 1)
        s += t
        if t < Decimal(10) ** -62:
            return s
        term = term * x * x * (2 * n + 1) / (2 * n + 2)
        n += 1


def _acos(r):
    r = min(Decimal(1), max(Decimal(-1), r))
    if r >= 0:
        return 2 * _asin(((1 - r) / 2).sqrt())
    return _PI - 2 * _asin(((1 + r) / 2).sqrt())


def _decimal_kernels(cosine, nx, ny, depth, bias):
    """(NTK, NNGP) of SPEC section 2 from a cosine and the norms, in 60-digit decimals."""
    with localcontext() as ctx:
        ctx.prec = 64
        c, nx, ny, b = Decimal(float(cosine)), Decimal(nx), Decimal(ny), Decimal(bias)
        sigma = c * nx * ny + b
        sxx, syy = nx * nx + b, ny * ny + b
        theta = sigma
        for _ in range(depth):
            den = (sxx * syy).sqrt()
            rho = sigma / den
            a = _acos(rho)
            rho = min(Decimal(1), max(Decimal(-1), rho))
            k0 = 1 - a / _PI
            k1 = ((1 - rho * rho).sqrt() + rho * (_PI - a)) / _PI
            sigma = den * k1 + b
            theta = theta * k0 + sigma
            sxx, syy = sxx + b, syy + b
        return float(theta), float(sigma)


def _near_pm1():
    k = np.array([1, 2, 3, 5, 8, 13, 20, 26, 27, 30, 35, 40, 45, 50, 52, 53])
    return np.concatenate([1 - 2.0 ** -k, -1 + 2.0 ** -k, [1.0, -1.0, 0.0, 0.5, -0.5, 0.3, -0.7]])


NORMS = [(1.0, 1.0), (3.0, 1e-3), (1e-150, 1e-150), (1e-300, 1e300), (1e150, 1e150)]


@pytest.mark.parametrize("bias", [0.0, 0.5])
@pytest.mark.parametrize("norms", NORMS, ids=[f"{a:g},{b:g}" for a, b in NORMS])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_recursion_near_pm1_float64(depth, norms, bias):
    nx, ny = norms
    c = _near_pm1()
    ref = np.array([_decimal_kernels(ci, nx, ny, depth, bias) for ci in c])
    for kind, col in ((_exact.KIND_NTK, 0), (_exact.KIND_NNGP, 1)):
        G = c[None, :].copy()
        _exact.exact_kernel_block(G, np.array([nx]), np.full(c.size, ny), -1, kind, depth, bias, 1)
        want = ref[:, col]
        scale = np.max(np.abs(want))
        # Each layer's arithmetic is a few ulps; the error relative to the largest value of the
        # row stays below 4e-15 at depth 5 (the previous libm code: the same; the tests of
        # test_exact.py allow 1e-10).
        np.testing.assert_allclose(G[0], want, rtol=4e-15, atol=4e-15 * scale)


@pytest.mark.parametrize("bias", [0.0, 0.5])
@pytest.mark.parametrize("depth", [1, 3, 5])
def test_recursion_near_pm1_float32(depth, bias):
    c = _near_pm1().astype(np.float32)
    for nx, ny in [(1.0, 1.0), (3.0, 1e-3), (1e-15, 1e-15), (1e15, 1e-20)]:
        ref = np.array([_decimal_kernels(ci, nx, ny, depth, bias) for ci in c])
        for kind, col in ((_exact.KIND_NTK, 0), (_exact.KIND_NNGP, 1)):
            G = c[None, :].copy()
            _exact.exact_kernel_block(G, np.array([nx]), np.full(c.size, ny), -1, kind, depth, bias, 1)
            want = ref[:, col]
            # Computed in double, rounded once to float32.
            np.testing.assert_allclose(G[0], want, rtol=EPS32, atol=EPS32 * np.max(np.abs(want)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("depth", [1, 5])
def test_public_kernels_at_depth_5_and_near_parallel_rows(dtype, depth):
    # End to end: near-parallel and near-opposite rows, against the longdouble reference of
    # tests/reference.py at the tolerances of tests/test_exact.py.  (Cosines rounded near 1
    # cost sqrt(eps) in any implementation, so the perturbations stay >= 1e-4.)
    import reference as R

    rng = np.random.default_rng(depth)
    base = rng.standard_normal((6, 9))
    X = np.concatenate([base, base + 1e-4 * rng.standard_normal((6, 9)), -base + 1e-3 * rng.standard_normal((6, 9)),
                        3e-5 * base, 4e4 * base]).astype(dtype)
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    for bias in (0.0, 0.5):
        ntk_ref, nngp_ref = R.exact_kernels(X, depth=depth, bias=bias)
        for got, ref in ((ntkfast.ntk_kernel(X, depth=depth, bias=bias), ntk_ref),
                         (ntkfast.nngp_kernel(X, depth=depth, bias=bias), nngp_ref)):
            ref = np.asarray(ref, dtype=np.float64)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


# --------------------------------------------------------------------------------------
# Lanes: a value does not depend on its position
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", [_exact.KIND_ARCCOS0, _exact.KIND_ARCCOS1, _exact.KIND_NNGP, _exact.KIND_NTK])
@pytest.mark.parametrize("bias", [0.0, 0.7])
def test_value_independent_of_position_in_the_row(dtype, kind, bias):
    rng = np.random.default_rng(kind)
    n = 37                                  # not a multiple of any lane count
    c = np.concatenate([rng.uniform(-1, 1, n - 5), [1.0, -1.0, 1 - 2.0 ** -40, 0.0, 0.5]]).astype(dtype)
    ny = np.concatenate([rng.uniform(0.1, 10.0, n - 3), [0.0, 1e-300, 1e300]])
    nx = 1.7

    def run(cols):
        G = c[cols][None, :].copy()
        _exact.exact_kernel_block(G, np.array([nx]), ny[cols], -1, kind, 3, bias, 1)
        return G[0]

    whole = run(np.arange(n))
    perm = rng.permutation(n)
    np.testing.assert_array_equal(run(perm), whole[perm])
    singles = np.array([run(np.array([j]))[0] for j in range(n)], dtype=dtype)
    np.testing.assert_array_equal(singles, whole)


# --------------------------------------------------------------------------------------
# The three compiled forms of the header, built standalone
# --------------------------------------------------------------------------------------

WRAPPER = r"""
#include "_arccos.h"
int row_d(double *g, ptrdiff_t n, double nx, const double *ny, int kind, int depth, double bias)
{ return ntkfast_exact_row_d(g, n, nx, ny, kind, depth, bias, NULL); }
int row_f(float *g, ptrdiff_t n, double nx, const double *ny, int kind, int depth, double bias)
{ return ntkfast_exact_row_f(g, n, nx, ny, kind, depth, bias, NULL); }
"""


def _build_variant(tmp, macros):
    dll = build_header_standalone(tmp, "_arccos.h", WRAPPER, macros, libraries=["m"])
    for name in ("row_d", "row_f"):
        getattr(dll, name).restype = ctypes.c_int
        getattr(dll, name).argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_double,
                                       ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_double]
    return dll


@pytest.mark.skipif(sys.platform == "win32", reason="MSVC builds only the plain C form")
@pytest.mark.parametrize("macros", [(), ("NTKFAST_NO_CLONES",), ("NTKFAST_PLAIN_C",)],
                         ids=["clones", "baseline", "plain-c"])
def test_every_compiled_form(tmp_path, macros):
    dll = _build_variant(tmp_path, macros)
    t = _grid()[::5].copy()
    ones = np.ones(t.size)
    kappas = []
    for kind in (_exact.KIND_ARCCOS0, _exact.KIND_ARCCOS1):
        g = t.copy()
        assert dll.row_d(g.ctypes.data, g.size, 1.0, ones.ctypes.data, kind, 1, 0.0) == 0
        kappas.append(g)
    _check_kappas(t, *kappas)
    # The recursion, float64 and float32, and the non-finite flag.
    c = _near_pm1()
    for depth, bias in ((2, 0.0), (4, 0.5)):
        ref = np.array([_decimal_kernels(ci, 2.0, 0.5, depth, bias)[0] for ci in c])
        g = c.copy()
        assert dll.row_d(g.ctypes.data, g.size, 2.0, np.full(c.size, 0.5).ctypes.data, 3, depth, bias) == 0
        np.testing.assert_allclose(g, ref, rtol=4e-15, atol=4e-15 * np.abs(ref).max())
        g32 = c.astype(np.float32)
        ref32 = np.array([_decimal_kernels(ci, 2.0, 0.5, depth, bias)[0] for ci in g32])
        assert dll.row_f(g32.ctypes.data, g32.size, 2.0, np.full(c.size, 0.5).ctypes.data, 3, depth, bias) == 0
        np.testing.assert_allclose(g32, ref32, rtol=EPS32, atol=EPS32 * np.abs(ref32).max())
    g = np.full(5, 0.3)
    assert dll.row_d(g.ctypes.data, 5, 1e200, np.full(5, 1e200).ctypes.data, 3, 2, 0.0) == 1
    assert np.all(np.isinf(g))
    g32 = np.full(5, 0.3, dtype=np.float32)
    assert dll.row_f(g32.ctypes.data, 5, 1e30, np.full(5, 1e30).ctypes.data, 3, 2, 0.0) == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [0.0, 0.5])
def test_non_finite_values_are_counted_and_nan_propagates(dtype, bias):
    # The driver counts the rows holding a value that is not finite (the Python layer then
    # raises); a NaN cosine (only a direct caller can pass one) gives NaN, not a clipped value.
    G = np.array([[0.3, np.nan, 0.2], [0.1, 0.2, 0.3]], dtype=dtype)
    nx, ny = np.array([1.0, 1.0]), np.array([1.0, 1.0, 1.0])
    n_bad = _exact.exact_kernel_block(G, nx, ny, -1, _exact.KIND_NTK, 2, bias, 1)
    assert n_bad == 1
    assert np.isnan(G[0, 1]) and np.all(np.isfinite(np.delete(G.ravel(), 1)))
    big = 1e200 if dtype == np.float64 else 1e30          # the kernel overflows the dtype
    G = np.full((1, 9), 0.3, dtype=dtype)
    assert _exact.exact_kernel_block(G, np.array([big]), np.full(9, big), -1, _exact.KIND_NTK,
                                     2, bias, 1) == 1
    assert np.all(np.isinf(G))
    G = np.full((3, 9), 0.3, dtype=dtype)
    assert _exact.exact_kernel_block(G, np.ones(3), np.ones(9), -1, _exact.KIND_NTK, 2, bias, 1) == 0
