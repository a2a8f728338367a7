"""Sanity checks of the numpy reference itself (no ntkfast needed)."""
import numpy as np

import reference as R
from conftest import gaussian_data


def test_kappa_closed_forms():
    np.testing.assert_allclose(R.kappa0([-1.0, 0.0, 1.0]), [0.0, 0.5, 1.0], atol=1e-15)
    np.testing.assert_allclose(R.kappa1([-1.0, 0.0, 1.0]), [0.0, 1 / np.pi, 1.0], atol=1e-15)
    # clipping
    np.testing.assert_allclose(R.kappa0([1 + 1e-12, -1 - 1e-12]), [1.0, 0.0], atol=1e-15)


def test_kappa1_derivative_is_kappa0():
    t = np.linspace(-0.95, 0.95, 21)
    e = 1e-6
    np.testing.assert_allclose((R.kappa1(t + e) - R.kappa1(t - e)) / (2 * e), R.kappa0(t), atol=1e-8)


def test_exact_diagonal_closed_forms():
    X = gaussian_data(7, 5, 0, zero_rows=(3,))
    sq = np.sum(X ** 2, axis=1)
    for L in range(1, 5):
        ntk, nngp = R.exact_kernels(X, depth=L)
        np.testing.assert_allclose(np.diag(ntk).astype(float), (L + 1) * sq, rtol=1e-15)
        np.testing.assert_allclose(np.diag(nngp).astype(float), sq, rtol=1e-15)
        assert np.all(ntk[3] == 0) and np.all(ntk[:, 3] == 0)
        ntk2, nngp2 = R.exact_kernels(X, X, depth=L)
        np.testing.assert_allclose(ntk2.astype(float), ntk.astype(float), rtol=1e-12, atol=1e-12)
        # bias: Sigma_L(x, x) = ||x||^2 + (L + 1) b
        ntkb, nngpb = R.exact_kernels(X, depth=L, bias=0.7)
        np.testing.assert_allclose(np.diag(nngpb).astype(float), sq + (L + 1) * 0.7, rtol=1e-15)


def test_depth1_by_hand():
    x = np.array([[1.0, 0.0]])
    y = np.array([[0.0, 2.0]])
    ntk, nngp = R.exact_kernels(x, y, depth=1)
    # rho = 0: Sigma_1 = 2/pi, Theta_1 = 0 * 1/2 + 2/pi
    np.testing.assert_allclose(float(nngp[0, 0]), 2 / np.pi, rtol=1e-15)
    np.testing.assert_allclose(float(ntk[0, 0]), 2 / np.pi, rtol=1e-15)
    ntk, nngp = R.exact_kernels(x, -x, depth=1)
    np.testing.assert_allclose(float(ntk[0, 0]), 0.0, atol=1e-15)


def _mc_arccos(order, leverage, m, seed):
    rng = np.random.default_rng(seed)
    d = 4
    if leverage:
        u = rng.normal(size=(m, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        W = u * np.sqrt(rng.chisquare(d + 2, size=m))[:, None]
    else:
        W = rng.normal(size=(m, d))
    X = gaussian_data(5, d, 1)
    f = R._step_features if order == 0 else R._relu_features
    P = f(X, W, leverage)
    K = R.arccos_kernel(X, order=order).astype(float)
    return np.abs(P @ P.T - K).max() / np.abs(K).max()


def test_reference_arccos_features_converge():
    for order in (0, 1):
        for lev in (False, True):
            assert _mc_arccos(order, lev, 200_000, 0) < 0.03


def test_reference_sketch_identities():
    rng = np.random.default_rng(3)
    U = rng.normal(size=(3, 5))
    V = rng.normal(size=(3, 7))
    D = 16
    iu, iv = rng.integers(0, D, 5), rng.integers(0, D, 7)
    su, sv = rng.choice([-1, 1], 5), rng.choice([-1, 1], 7)
    ts = R.tensor_sketch_explicit(U, V, iu, su, iv, sv, D)
    cu, cv = R.count_sketch(U, iu, su, D), R.count_sketch(V, iv, sv, D)
    np.testing.assert_allclose(R.tensor_sketch_fft(cu, cv), ts, atol=1e-12)
    np.testing.assert_allclose(R.circular_convolution(cu, cv), ts, atol=1e-12)
    np.testing.assert_allclose(R.tensor_sketch_product_explicit([U, V], [iu, iv], [su, sv], D), ts, atol=1e-12)
    np.testing.assert_array_equal(R.count_sketch([[1, 2, 3, 4]], [0, 2, 0, 1], [1, -1, -1, 1], 3), [[-2, 4, -2]])
