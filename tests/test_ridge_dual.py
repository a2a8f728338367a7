"""NTKRidge with fewer rows than features takes the n x n dual (ntkfast._engine.ridge_dual).

Every number is checked against a dense numpy solve of the *primal* ridge system on the
materialised features (``features_.transform``): an independent route to the same solution.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_limits

import ntkfast
import ntkfast._engine.ridge_dual
import ntkfast._engine.ridge_stats
from ntkfast._engine.ridge_dual import use_dual
from ntkfast._engine.ridge_stats import holdout_mask
from test_ridge import _ridge_reference

M = 160  # more features than the rows of every fit below


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _data(n=120, d=5, t=None, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.cos(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    if t is not None:
        y = np.column_stack([(k + 1) * y - k for k in range(t)])
    return X.astype(dtype), y


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


def test_rule():
    assert use_dual(100, 101) and not use_dual(101, 101) and not use_dual(5000, 4096)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("t", [None, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_single_alpha_equals_primal_solve(fit_intercept, t, dtype):
    X, y = _data(t=t, dtype=dtype)
    model = ntkfast.NTKRidge(depth=2, n_components=M, alpha=0.3, fit_intercept=fit_intercept,
                             batch_size=17, random_state=3).fit(X, y)
    Phi = model.features_.transform(X)
    W, b = _ridge_reference(Phi, y, 0.3, fit_intercept)
    coef = W[:, 0] if t is None else W.T
    assert model.coef_.shape == coef.shape
    assert _rel(model.coef_, coef) < 1e-8
    assert_allclose(model.intercept_, b if t is not None else b[0], rtol=1e-8, atol=1e-10)
    assert model.cv_mse_ is None and model.alpha_ == 0.3


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("t", [None, 2])
def test_alpha_path_equals_primal_solves(fit_intercept, t):
    X, y = _data(n=140, t=t, seed=1)
    alphas = [1e-3, 0.03, 1.0, 30.0, 1e3]
    fraction = 0.3
    model = ntkfast.NTKRidge(depth=2, n_components=M, alpha=alphas, validation_fraction=fraction,
                             fit_intercept=fit_intercept, batch_size=23, random_state=5).fit(X, y)
    mask = holdout_mask(model._holdout_seed, 0, X.shape[0], fraction)
    assert 0 < mask.sum() < X.shape[0] and (~mask).sum() < M
    Phi = model.features_.transform(X).astype(np.float64)
    Y = y.reshape(X.shape[0], -1)
    mse = []
    for a in alphas:
        W, b = _ridge_reference(Phi[~mask], Y[~mask], a, fit_intercept)
        mse.append(np.mean((Phi[mask] @ W + b - Y[mask]) ** 2))
    assert_allclose(model.cv_mse_, mse, rtol=1e-7)
    best = alphas[int(np.argmin(mse))]
    assert model.alpha_ == best
    W, b = _ridge_reference(Phi, Y, best, fit_intercept)
    assert _rel(model.coef_, W[:, 0] if t is None else W.T) < 1e-8
    assert_allclose(model.intercept_, b[0] if t is None else b, rtol=1e-8, atol=1e-10)


def test_dual_equals_primal_route(monkeypatch):
    # The same estimator with the dual switched off (the m x m statistics): same model.
    X, y = _data(n=130, seed=2)
    kw = dict(depth=1, n_components=M, alpha=[0.01, 1.0, 100.0], random_state=9)
    dual = ntkfast.NTKRidge(**kw).fit(X, y)
    monkeypatch.setattr(ntkfast.ridge, "use_dual", lambda n, m: False)
    primal = ntkfast.NTKRidge(**kw).fit(X, y)
    assert_allclose(dual.cv_mse_, primal.cv_mse_, rtol=1e-7)
    assert dual.alpha_ == primal.alpha_
    assert _rel(dual.coef_, primal.coef_) < 1e-8
    assert_allclose(dual.predict(X), primal.predict(X), rtol=1e-8, atol=1e-10)


def test_failed_cholesky_falls_back_on_the_eigendecomposition(monkeypatch):
    def indefinite(A):
        raise np.linalg.LinAlgError("not positive definite")

    X, y = _data(n=110, seed=4)
    alphas = [0.01, 1.0, 100.0]
    ref = ntkfast.NTKRidge(n_components=M, alpha=alphas, random_state=2).fit(X, y)
    monkeypatch.setattr(ntkfast._engine.ridge_stats, "cho_factor_inplace", indefinite)
    fb = ntkfast.NTKRidge(n_components=M, alpha=alphas, random_state=2).fit(X, y)
    assert_allclose(fb.cv_mse_, ref.cv_mse_, rtol=1e-7)
    assert fb.alpha_ == ref.alpha_
    assert _rel(fb.coef_, ref.coef_) < 1e-8
    Phi = ref.features_.transform(X)
    W, b = _ridge_reference(Phi, y, ref.alpha_, True)
    assert _rel(fb.coef_, W[:, 0]) < 1e-8


def test_thread_count_and_batches_change_nothing():
    X, y = _data(n=150, seed=6)
    kw = dict(depth=2, n_components=M, alpha=[0.1, 10.0], random_state=1)
    a = ntkfast.NTKRidge(n_threads=1, batch_size=7, **kw).fit(X, y)
    with threadpool_limits(2):
        b = ntkfast.NTKRidge(n_threads=2, **kw).fit(X, y)
    assert a.alpha_ == b.alpha_
    assert_allclose(a.cv_mse_, b.cv_mse_, rtol=1e-10)
    assert _rel(a.coef_, b.coef_) < 1e-10


def test_classifier_in_the_dual():
    X, _ = _data(n=100, seed=7)
    labels = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    clf = ntkfast.NTKRidgeClassifier(n_components=M, alpha=0.5, random_state=0).fit(X, labels)
    Phi = clf.features_.transform(X)
    Y = np.where(labels == clf.classes_[1], 1.0, -1.0)
    W, b = _ridge_reference(Phi, Y, 0.5, True)
    assert_allclose(clf.decision_function(X), Phi @ W[:, 0] + b[0], rtol=1e-8, atol=1e-10)
    assert (clf.predict(X) == labels).mean() > 0.8


def test_no_validation_rows_is_an_error():
    X, y = _data(n=3)
    with pytest.raises(ValueError, match="validation_fraction: the hold-out kept 0 validation"):
        ntkfast.NTKRidge(n_components=16, alpha=[1.0, 2.0], validation_fraction=1e-9,
                         random_state=0).fit(X, y)


def test_overflow_is_an_error():
    X, y = _data(n=50)
    with pytest.raises(ValueError, match="overflow"):
        ntkfast.NTKRidge(n_components=M, alpha=1.0, random_state=0).fit(X * 1e160, y)


def test_the_dual_is_taken_below_n_components_only(monkeypatch):
    calls = []
    real = ntkfast.ridge.dual_select_and_solve

    def spy(fmap, X, *args, **kw):
        calls.append(X.shape[0])
        return real(fmap, X, *args, **kw)

    monkeypatch.setattr(ntkfast.ridge, "dual_select_and_solve", spy)
    X, y = _data(n=200, seed=8)
    ntkfast.NTKRidge(n_components=M, alpha=[0.1, 1.0], random_state=0).fit(X[:M - 1], y[:M - 1])
    ntkfast.NTKRidge(n_components=M, alpha=[0.1, 1.0], random_state=0).fit(X[:M], y[:M])
    assert calls == [M - 1]


def test_sparse_and_memmap_input_give_the_dense_model(tmp_path):
    import scipy.sparse

    X, y = _data(n=120, seed=9)
    X[np.abs(X) < 0.8] = 0.0
    kw = dict(depth=2, n_components=M, alpha=[0.1, 1.0, 10.0], random_state=4)
    dense = ntkfast.NTKRidge(**kw).fit(X, y)
    sparse = ntkfast.NTKRidge(**kw).fit(scipy.sparse.csr_matrix(X), y)
    np.save(tmp_path / "X.npy", X)
    mapped = ntkfast.NTKRidge(**kw).fit(np.load(tmp_path / "X.npy", mmap_mode="r"), y)
    for other in (sparse, mapped):
        assert other.alpha_ == dense.alpha_
        assert_allclose(other.cv_mse_, dense.cv_mse_, rtol=1e-12)
        assert_allclose(other.coef_, dense.coef_, rtol=1e-12, atol=1e-14)
