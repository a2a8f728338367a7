"""Exact kernels: ntkfast.arccos_kernel / nngp_kernel / ntk_kernel against the reference."""
import numpy as np
import pytest

import ntkfast
import reference as R
from conftest import gaussian_data

DEPTHS = [1, 2, 3, 4]
BIASES = [0.0, 0.5]


def _data(dtype, sym, seed=0, n=23, m=17, d=6):
    X = gaussian_data(n, d, seed, zero_rows=(2, 11)).astype(dtype)
    Y = None if sym else gaussian_data(m, d, seed + 1, zero_rows=(0,)).astype(dtype)
    return X, Y


def _assert_close(got, ref, rtol):
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(np.abs(ref).max(), 1e-300)
    assert got.shape == ref.shape
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("sym", [True, False], ids=["Y=None", "X!=Y"])
@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("depth", DEPTHS)
def test_ntk_nngp_float64(depth, bias, sym):
    X, Y = _data(np.float64, sym, seed=depth)
    ntk_ref, nngp_ref = R.exact_kernels(X, Y, depth=depth, bias=bias)
    ntk = ntkfast.ntk_kernel(X, Y, depth=depth, bias=bias)
    nngp = ntkfast.nngp_kernel(X, Y, depth=depth, bias=bias)
    assert ntk.dtype == np.float64 and nngp.dtype == np.float64
    _assert_close(ntk, ntk_ref, 1e-10)
    _assert_close(nngp, nngp_ref, 1e-10)


@pytest.mark.parametrize("sym", [True, False], ids=["Y=None", "X!=Y"])
@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("depth", DEPTHS)
def test_ntk_nngp_float32(depth, bias, sym):
    X, Y = _data(np.float32, sym, seed=10 + depth)
    ntk_ref, nngp_ref = R.exact_kernels(X, Y, depth=depth, bias=bias)  # float32 data cast up
    ntk = ntkfast.ntk_kernel(X, Y, depth=depth, bias=bias)
    nngp = ntkfast.nngp_kernel(X, Y, depth=depth, bias=bias)
    assert ntk.dtype == np.float32 and nngp.dtype == np.float32
    _assert_close(ntk, ntk_ref, 1e-5)
    _assert_close(nngp, nngp_ref, 1e-5)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("sym", [True, False], ids=["Y=None", "X!=Y"])
@pytest.mark.parametrize("order", [0, 1])
def test_arccos_kernel(order, sym, dtype, rtol):
    X, Y = _data(dtype, sym, seed=20 + order)
    ref = R.arccos_kernel(X, Y, order=order)
    K = ntkfast.arccos_kernel(X, Y, order=order)
    assert K.dtype == dtype
    _assert_close(K, ref, rtol)


def test_arccos_default_order_is_0():
    X, _ = _data(np.float64, True)
    _assert_close(ntkfast.arccos_kernel(X), R.arccos_kernel(X, order=0), 1e-10)


def test_medium_size_float64():
    # big enough to exercise blocked / threaded code paths
    X = gaussian_data(310, 37, 5, zero_rows=(7,))
    Y = gaussian_data(150, 37, 6)
    for depth in (1, 3):
        ntk_ref, nngp_ref = R.exact_kernels(X, Y, depth=depth, bias=0.25)
        _assert_close(ntkfast.ntk_kernel(X, Y, depth=depth, bias=0.25), ntk_ref, 1e-10)
        _assert_close(ntkfast.nngp_kernel(X, Y, depth=depth, bias=0.25), nngp_ref, 1e-10)
        ntk_ref, nngp_ref = R.exact_kernels(X, depth=depth)
        _assert_close(ntkfast.ntk_kernel(X, depth=depth), ntk_ref, 1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_many_row_blocks(monkeypatch, dtype):
    # Blocks of 7 rows: the symmetric case computes the cosines of each block from its first
    # row's column on (the upper triangle) and mirrors; rows and columns of every block
    # boundary must match the reference and the result must be exactly symmetric.
    from ntkfast._engine import exact

    monkeypatch.setattr(exact, "_BLOCK_ELEMENTS", 7 * 45)
    X = gaussian_data(45, 9, 11, zero_rows=(13,)).astype(dtype)
    Y = gaussian_data(31, 9, 12).astype(dtype)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    ntk_ref, _ = R.exact_kernels(X, depth=2)
    K = ntkfast.ntk_kernel(X, depth=2)
    _assert_close(K, ntk_ref, rtol)
    np.testing.assert_array_equal(K, K.T)
    ntk_ref, _ = R.exact_kernels(X, Y, depth=2)
    _assert_close(ntkfast.ntk_kernel(X, Y, depth=2), ntk_ref, rtol)
    _assert_close(ntkfast.arccos_kernel(X, Y, order=1), R.arccos_kernel(X, Y, order=1), rtol)


@pytest.mark.parametrize("depth", DEPTHS)
def test_ntk_diagonal_closed_form(depth):
    X = gaussian_data(30, 8, depth, zero_rows=(4,))
    sq = np.sum(X ** 2, axis=1)
    np.testing.assert_allclose(np.diag(ntkfast.ntk_kernel(X, depth=depth)), (depth + 1) * sq, rtol=1e-10, atol=0)
    np.testing.assert_allclose(np.diag(ntkfast.nngp_kernel(X, depth=depth)), sq, rtol=1e-10, atol=0)
    np.testing.assert_allclose(np.diag(ntkfast.arccos_kernel(X, order=1)), sq, rtol=1e-10, atol=0)
    d0 = np.diag(ntkfast.arccos_kernel(X, order=0))
    np.testing.assert_allclose(d0, (sq > 0).astype(float), rtol=1e-10, atol=0)


@pytest.mark.parametrize("depth", DEPTHS)
def test_bias_diagonal_closed_form(depth):
    X = gaussian_data(12, 5, depth, zero_rows=(4,))
    sq = np.sum(X ** 2, axis=1)
    b = 0.5
    np.testing.assert_allclose(np.diag(ntkfast.nngp_kernel(X, depth=depth, bias=b)), sq + (depth + 1) * b, rtol=1e-10)


def test_kappa_values_via_arccos_kernel():
    e1 = np.array([[1.0, 0.0]])
    y = np.array([[0.0, 3.0], [-2.0, 0.0], [5.0, 0.0]])  # rho = 0, -1, 1
    K0 = ntkfast.arccos_kernel(e1, y, order=0)
    K1 = ntkfast.arccos_kernel(e1, y, order=1)
    np.testing.assert_allclose(K0, [[0.5, 0.0, 1.0]], atol=1e-15)
    np.testing.assert_allclose(K1, [[3.0 / np.pi, 0.0, 5.0]], rtol=1e-14, atol=1e-15)


def test_orthogonal_and_opposite_depth1_by_hand():
    x = np.array([[1.0, 0.0]])
    y = np.array([[0.0, 2.0], [-3.0, 0.0]])
    # rho = 0: Sigma_1 = ||x|| ||y|| / pi, Theta_1 = <x,y> / 2 + Sigma_1; rho = -1: all 0
    np.testing.assert_allclose(ntkfast.nngp_kernel(x, y, depth=1), [[2.0 / np.pi, 0.0]], atol=1e-15)
    np.testing.assert_allclose(ntkfast.ntk_kernel(x, y, depth=1), [[2.0 / np.pi, 0.0]], atol=1e-15)


@pytest.mark.parametrize("func", ["ntk", "nngp", "arccos0", "arccos1"])
def test_zero_rows_give_zero(func):
    X = gaussian_data(9, 4, 3, zero_rows=(0, 5))
    K = _call(func, X, None, depth=2)
    assert np.all(np.isfinite(K))
    for i in (0, 5):
        assert np.all(K[i] == 0) and np.all(K[:, i] == 0)
    Y = gaussian_data(4, 4, 4, zero_rows=(1,))
    K = _call(func, X, Y, depth=2)
    assert np.all(np.isfinite(K))
    assert np.all(K[:, 1] == 0) and np.all(K[0] == 0) and np.all(K[5] == 0)


def _call(func, X, Y, depth=2, bias=0.0):
    if func == "ntk":
        return ntkfast.ntk_kernel(X, Y, depth=depth, bias=bias)
    if func == "nngp":
        return ntkfast.nngp_kernel(X, Y, depth=depth, bias=bias)
    return ntkfast.arccos_kernel(X, Y, order=int(func[-1]))


@pytest.mark.parametrize("func", ["ntk", "nngp", "arccos0", "arccos1"])
@pytest.mark.parametrize("bias", BIASES)
def test_symmetric_psd(func, bias):
    if func.startswith("arccos") and bias:
        pytest.skip("no bias for arc-cosine kernels")
    X = gaussian_data(60, 5, 7, zero_rows=(3,))
    K = _call(func, X, None, depth=3, bias=bias)
    np.testing.assert_allclose(K, K.T, rtol=0, atol=1e-13 * np.abs(K).max())
    ev = np.linalg.eigvalsh(K)
    assert ev.min() >= -1e-10 * np.abs(ev).max()


@pytest.mark.parametrize("func", ["ntk", "nngp", "arccos0", "arccos1"])
def test_y_equal_x_matches_y_none(func):
    X = gaussian_data(20, 6, 8)
    K1 = _call(func, X, None)
    K2 = _call(func, X, X.copy())
    # duplicated points across X and Y are rho == 1 up to rounding: arccos is only
    # sqrt(eps)-conditioned there, hence the looser tolerance.
    np.testing.assert_allclose(K2, K1, rtol=1e-6, atol=1e-6 * np.abs(K1).max())


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_homogeneity(depth):
    X = gaussian_data(10, 5, 9, zero_rows=(1,))
    Y = gaussian_data(8, 5, 10)
    for c in (0.25, 3.0):
        for f in (ntkfast.ntk_kernel, ntkfast.nngp_kernel):
            K = f(X, Y, depth=depth)
            np.testing.assert_allclose(f(c * X, Y, depth=depth), c * K, rtol=1e-10, atol=1e-10 * np.abs(K).max())
            np.testing.assert_allclose(f(X, c * Y, depth=depth), c * K, rtol=1e-10, atol=1e-10 * np.abs(K).max())
        K1 = ntkfast.arccos_kernel(X, Y, order=1)
        np.testing.assert_allclose(ntkfast.arccos_kernel(c * X, Y, order=1), c * K1, rtol=1e-10, atol=1e-10 * np.abs(K1).max())
        K0 = ntkfast.arccos_kernel(X, Y, order=0)
        np.testing.assert_allclose(ntkfast.arccos_kernel(c * X, Y, order=0), K0, rtol=1e-10, atol=1e-10)


def test_bias_breaks_homogeneity_and_matches_reference():
    # guards against a bias that is silently ignored
    X = gaussian_data(6, 3, 11)
    K0 = ntkfast.ntk_kernel(X, depth=2, bias=0.0)
    K1 = ntkfast.ntk_kernel(X, depth=2, bias=1.0)
    assert np.abs(K1 - K0).max() > 0.1
    ref, _ = R.exact_kernels(X, depth=2, bias=1.0)
    _assert_close(K1, ref, 1e-10)


@pytest.mark.parametrize("func", ["ntk", "nngp", "arccos0", "arccos1"])
def test_dtype_promotion(func):
    X = gaussian_data(5, 3, 12)
    Y = gaussian_data(4, 3, 13)
    assert _call(func, X.astype(np.float32), None).dtype == np.float32
    assert _call(func, X.astype(np.float32), Y.astype(np.float32)).dtype == np.float32
    assert _call(func, X.astype(np.float32), Y).dtype == np.float64
    assert _call(func, X, Y.astype(np.float32)).dtype == np.float64
    assert _call(func, X, Y).dtype == np.float64


@pytest.mark.parametrize("func", ["ntk", "nngp", "arccos0", "arccos1"])
def test_shape(func):
    X = gaussian_data(5, 3, 12)
    Y = gaussian_data(4, 3, 13)
    assert _call(func, X, Y).shape == (5, 4)
    assert _call(func, X, None).shape == (5, 5)
    assert _call(func, X[:1], Y[:1]).shape == (1, 1)
