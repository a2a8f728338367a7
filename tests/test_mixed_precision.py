"""The ridge solvers' mixed precision (float32 Cholesky + float64 refinement, as LAPACK's
dsposv): results checked against float64 numpy solves and backward-error bounds."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_limits

import ntkfast
import ntkfast._engine.ridge_stats as rs
from test_ridge import _ridge_reference


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _gram(n, cond, seed=0):
    """A symmetric PSD matrix with eigenvalues from 1 down to 1/cond (upper triangle used)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.logspace(0, -np.log10(cond), n)
    return np.asfortranarray((Q * s) @ Q.T), s


def test_largest_eigenvalue_is_a_close_lower_bound():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        P = rng.standard_normal((500, 300)) + 0.3  # a Gram of correlated columns, like features
        C = np.asfortranarray(P.T @ P)
        lam = rs.largest_eigenvalue(C)
        top = np.linalg.eigvalsh(C)[-1]
        assert 0.5 * top <= lam <= top * (1 + 1e-12)
    assert rs.largest_eigenvalue(np.eye(10, order="F")) is None  # too small to matter


@pytest.mark.parametrize("t", [1, 3])
@pytest.mark.parametrize("alpha", [1e-3, 1e-1, 10.0])
def test_mixed_solve_meets_the_float64_backward_error(t, alpha):
    A, s = _gram(400, cond=1e6, seed=1)
    B = np.random.default_rng(2).standard_normal((400, t))
    lam = rs.largest_eigenvalue(A)
    X = rs._mixed_solve(A, B, alpha, lam)
    cond = (s[0] + alpha) / (s[-1] + alpha)
    if (lam + alpha) / alpha * np.finfo(np.float32).eps > rs._MIXED_MAX_COND_EPS:
        assert X is None  # too ill-conditioned for float32: the caller uses float64
        return
    assert X is not None
    M = A + alpha * np.eye(400)
    ref = np.linalg.solve(M, B)
    R = B - M @ X
    # dsposv's criterion, with the exact infinity norm
    bound = np.abs(X).max(axis=0) * np.abs(M).sum(axis=1).max() * np.finfo(float).eps * 20
    assert np.all(np.abs(R).max(axis=0) <= bound)
    assert np.linalg.norm(X - ref) <= 50 * cond * np.finfo(float).eps * np.linalg.norm(ref)


def test_mixed_solve_declines_what_it_cannot_do(monkeypatch):
    A, _ = _gram(300, cond=10.0)
    B = np.ones((300, 1))
    lam = rs.largest_eigenvalue(A)
    assert rs._mixed_solve(A, B, 1e-9, lam) is None  # cond * eps32 far above 1/32
    assert rs._mixed_solve(A[:100, :100].copy(order="F"), B[:100], 1.0, lam) is None  # small
    monkeypatch.setattr(rs, "_REFINE_MAX_STEPS", 0)  # never converges: declined, not returned
    assert rs._mixed_solve(A, B, 1.0, lam) is None


def _data(n, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("n,m", [(900, 300), (330, 400)])  # the primal (n >= m), the dual (n < m)
def test_estimators_take_the_float32_route_and_match_float64(monkeypatch, n, m):
    calls = []
    spotrf = rs.spotrf

    def counting(*args, **kw):
        calls.append(args[0].shape[0])
        return spotrf(*args, **kw)

    monkeypatch.setattr(rs, "spotrf", counting)
    X, y = _data(n)
    alphas = [0.1, 1.0, 10.0]
    model = ntkfast.NTKRidge(depth=2, n_components=m, alpha=alphas, random_state=0).fit(X, y)
    assert calls, "the float32 route was not taken"
    Phi = model.features_.transform(X)
    W, b = _ridge_reference(Phi, y, model.alpha_)
    W, b = W[:, 0], b[0]
    assert np.linalg.norm(model.coef_ - W) <= 1e-8 * np.linalg.norm(W)
    assert_allclose(model.intercept_, b, rtol=1e-8, atol=1e-10)
    # and the scores are those of float64 solves on the training rows
    mask = rs.holdout_mask(model._holdout_seed, 0, n, 0.1)
    mse = []
    for a in alphas:
        Wa, ba = _ridge_reference(Phi[~mask], y[~mask], a)
        mse.append(np.mean((Phi[mask] @ Wa[:, 0] + ba[0] - y[mask]) ** 2))
    assert_allclose(model.cv_mse_, mse, rtol=1e-7)


def test_unconverged_refinement_falls_back_to_float64(monkeypatch):
    X, y = _data(900)
    ref = ntkfast.NTKRidge(n_components=300, alpha=[0.1, 10.0], random_state=1).fit(X, y)
    monkeypatch.setattr(rs, "_REFINE_MAX_STEPS", 0)
    fb = ntkfast.NTKRidge(n_components=300, alpha=[0.1, 10.0], random_state=1).fit(X, y)
    assert fb.alpha_ == ref.alpha_
    assert_allclose(fb.cv_mse_, ref.cv_mse_, rtol=1e-9)
    assert np.linalg.norm(fb.coef_ - ref.coef_) <= 1e-9 * np.linalg.norm(ref.coef_)
