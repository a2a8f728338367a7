"""Tests of NTKRidge, NTKRidgeClassifier and ExactNTKRidge against plain numpy solves.

The references materialise the features (``features_.transform``) or the exact kernel and
solve the ridge systems directly with numpy; the estimators never hold those matrices.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import ntkfast
import ntkfast._engine.validation
import ntkfast.ridge
from ntkfast._engine import feature_maps
from ntkfast._engine.ridge_stats import accumulate, choose_method, holdout_mask, select_and_solve

M = 96  # n_components used by most tests: small, so every test stays fast


@pytest.fixture(autouse=True)
def _one_thread():
    # The tests fit many tiny batches, where OpenMP start-up dominates on a loaded machine;
    # thread-count independence is tested explicitly with n_threads=2 below.
    with threadpool_limits(1):
        yield


def _data(n=300, d=6, t=None, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    if t is not None:
        y = np.column_stack([y * (k + 1) + k for k in range(t)])
    return X.astype(dtype), y


def _ridge_reference(Phi, Y, alpha, fit_intercept=True):
    """Dense ridge: centre explicitly, then solve (Pc'Pc + alpha I) W = Pc'Yc."""
    Phi = np.asarray(Phi, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(Phi.shape[0], -1)
    if fit_intercept:
        mu, ybar = Phi.mean(axis=0), Y.mean(axis=0)
    else:
        mu, ybar = np.zeros(Phi.shape[1]), np.zeros(Y.shape[1])
    Pc, Yc = Phi - mu, Y - ybar
    W = np.linalg.solve(Pc.T @ Pc + alpha * np.eye(Phi.shape[1]), Pc.T @ Yc)
    return W, ybar - mu @ W


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


# --------------------------------------------------------------------------------------------
# NTKRidge: streaming fit == dense solve
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_targets", [None, 3])
@pytest.mark.parametrize("batch_size", [1, 7, 64, None, 1000])
def test_streaming_fit_equals_dense_solve(dtype, n_targets, batch_size):
    X, y = _data(t=n_targets, dtype=dtype)
    model = ntkfast.NTKRidge(n_components=M, alpha=0.7, batch_size=batch_size, random_state=1).fit(X, y)
    Phi = model.features_.transform(X)
    assert Phi.dtype == dtype
    W, b = _ridge_reference(Phi, y, 0.7)
    if n_targets is None:
        assert model.coef_.shape == (M,)
        assert isinstance(model.intercept_, float)
        assert _rel(model.coef_, W[:, 0]) < 1e-8
        assert abs(model.intercept_ - b[0]) < 1e-8 * max(1.0, abs(b[0]))
    else:
        assert model.coef_.shape == (n_targets, M)
        assert model.intercept_.shape == (n_targets,)
        assert _rel(model.coef_, W.T) < 1e-8
        assert _rel(model.intercept_, b) < 1e-8
    pred = model.predict(X)
    assert pred.dtype == np.float64
    expected = Phi.astype(np.float64) @ W + b
    assert_allclose(pred, expected[:, 0] if n_targets is None else expected, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("depth,kernel", [(2, "ntk"), (1, "nngp")])
def test_streaming_fit_without_intercept(depth, kernel):
    X, y = _data(n=200)
    model = ntkfast.NTKRidge(depth=depth, kernel=kernel, n_components=M, alpha=2.0,
                             fit_intercept=False, batch_size=33, random_state=4).fit(X, y)
    W, b = _ridge_reference(model.features_.transform(X), y, 2.0, fit_intercept=False)
    assert _rel(model.coef_, W[:, 0]) < 1e-8
    assert model.intercept_ == 0.0


def test_statistics_add_up_over_blocks():
    # Statistics of blocks computed separately (with their absolute row offsets) sum to
    # those of the whole data set: the contract a distributed fit relies on.
    X, y = _data(n=250)
    model = ntkfast.NTKRidge(n_components=M, random_state=0).fit(X, y)
    Y = y[:, None]
    whole, _ = accumulate(feature_maps.of(model.features_), X, Y, batch_size=50)
    a, _ = accumulate(feature_maps.of(model.features_), X[:90], Y[:90], batch_size=13, row_offset=0)
    b, _ = accumulate(feature_maps.of(model.features_), X[90:], Y[90:], batch_size=64, row_offset=90)
    total = a + b
    assert total.n == whole.n == 250
    Phi = model.features_.transform(X)
    assert_allclose(np.triu(total.gram), np.triu(Phi.T @ Phi), rtol=1e-10, atol=1e-10)
    assert_allclose(total.cross, Phi.T @ Y, rtol=1e-10, atol=1e-10)
    assert_allclose(total.sum_phi, Phi.sum(axis=0), rtol=1e-10, atol=1e-10)
    assert_allclose(total.sum_yy, [np.sum(y**2)], rtol=1e-12)
    assert_allclose(np.triu(total.gram), np.triu(whole.gram), rtol=1e-12, atol=1e-12)


def test_same_random_state_same_model_and_thread_count():
    X, y = _data(n=200)
    a = ntkfast.NTKRidge(n_components=M, random_state=5, n_threads=1).fit(X, y)
    b = ntkfast.NTKRidge(n_components=M, random_state=5, n_threads=2).fit(X, y)
    c = ntkfast.NTKRidge(n_components=M, random_state=6).fit(X, y)
    assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)
    assert not np.allclose(a.coef_, c.coef_)


# --------------------------------------------------------------------------------------------
# The alpha path
# --------------------------------------------------------------------------------------------

def test_holdout_mask_is_batch_independent_and_has_the_right_fraction():
    n, fraction = 20000, 0.2
    mask = holdout_mask(12345, 0, n, fraction)
    parts = np.concatenate([holdout_mask(12345, 0, 7000, fraction),
                            holdout_mask(12345, 7000, 13001, fraction),
                            holdout_mask(12345, 13001, n, fraction)])
    assert_array_equal(mask, parts)
    sigma = np.sqrt(n * fraction * (1 - fraction))
    assert abs(mask.sum() - n * fraction) < 6 * sigma
    assert not np.array_equal(mask, holdout_mask(54321, 0, n, fraction))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 2])
def test_alpha_path_equals_separate_fits(fit_intercept, n_targets):
    X, y = _data(n=400, t=n_targets, seed=2)
    alphas = [1e-3, 0.03, 1.0, 30.0, 1e3]
    fraction = 0.25
    path = ntkfast.NTKRidge(n_components=M, alpha=alphas, validation_fraction=fraction,
                            fit_intercept=fit_intercept, batch_size=37, random_state=7).fit(X, y)
    mask = holdout_mask(path._holdout_seed, 0, X.shape[0], fraction)
    assert 0 < mask.sum() < X.shape[0]
    Phi = path.features_.transform(X)
    Y = y.reshape(X.shape[0], -1)

    # Independent numpy reference: dense solve on the training rows, MSE on the others.
    mse_ref = []
    for a in alphas:
        W, b = _ridge_reference(Phi[~mask], Y[~mask], a, fit_intercept)
        mse_ref.append(np.mean((Y[mask] - Phi[mask] @ W - b) ** 2))
    assert path.cv_mse_.shape == (len(alphas),)
    assert_allclose(path.cv_mse_, mse_ref, rtol=1e-7)
    assert path.alpha_ == alphas[int(np.argmin(mse_ref))]

    # Separate single-alpha fits on the training rows (same random_state: same features).
    for a, mse in zip(alphas, path.cv_mse_):
        single = ntkfast.NTKRidge(n_components=M, alpha=a, fit_intercept=fit_intercept,
                                  random_state=7).fit(X[~mask], y[~mask])
        assert single.alpha_ == a and single.cv_mse_ is None
        assert_allclose(np.mean((single.predict(X[mask]).reshape(-1, Y.shape[1]) - Y[mask]) ** 2),
                        mse, rtol=1e-7)

    # The final model is the single-alpha fit on all rows.
    final = ntkfast.NTKRidge(n_components=M, alpha=path.alpha_, fit_intercept=fit_intercept,
                             random_state=7).fit(X, y)
    assert _rel(path.coef_, final.coef_) < 1e-8
    W, b = _ridge_reference(Phi, Y, path.alpha_, fit_intercept)
    assert _rel(path.coef_, W[:, 0] if n_targets is None else W.T) < 1e-8


def test_alpha_path_picks_a_sensible_alpha():
    # Noise-free smooth target: a tiny alpha must beat a huge one on held-out rows.
    X, _ = _data(n=600, seed=3)
    y = X[:, 0] - X[:, 1]
    path = ntkfast.NTKRidge(n_components=M, alpha=[1e-2, 1e6], random_state=0).fit(X, y)
    assert path.alpha_ == 1e-2
    assert path.cv_mse_[0] < path.cv_mse_[1]


def test_alpha_path_needs_validation_rows():
    X, y = _data(n=3)
    with pytest.raises(ValueError, match="validation_fraction"):
        # Hold-outs of 3 rows at 1e-6 keep no validation row (for any seed: P < 3e-6).
        ntkfast.NTKRidge(n_components=16, alpha=[1.0, 2.0], validation_fraction=1e-9,
                         random_state=0).fit(X, y)


# --------------------------------------------------------------------------------------------
# Memory-mapped input
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memmap_input_gives_the_same_model(tmp_path, dtype):
    X, y = _data(n=300, dtype=dtype, seed=4)
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert isinstance(Xm, np.memmap)
    params = dict(n_components=M, alpha=[0.1, 1.0], batch_size=50, random_state=8)
    a = ntkfast.NTKRidge(**params).fit(X, y)
    b = ntkfast.NTKRidge(**params).fit(Xm, y)
    assert_array_equal(a.coef_, b.coef_)
    assert a.intercept_ == b.intercept_
    assert_array_equal(a.cv_mse_, b.cv_mse_)
    assert_array_equal(a.predict(X), b.predict(Xm))


# --------------------------------------------------------------------------------------------
# NTKRidgeClassifier
# --------------------------------------------------------------------------------------------

def _blobs(n_per_class, centres, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + 0.3 * rng.standard_normal((n_per_class, len(c))) for c in centres])
    labels = np.repeat(np.arange(len(centres)), n_per_class)
    order = rng.permutation(X.shape[0])
    return X[order], labels[order]


def test_classifier_binary_string_labels():
    X, codes = _blobs(100, [(2.0, 0.0, 1.0), (-2.0, 0.0, 1.0)])
    y = np.array(["neg", "pos"])[codes]
    clf = ntkfast.NTKRidgeClassifier(n_components=M, alpha=0.1, random_state=0).fit(X, y)
    assert_array_equal(clf.classes_, ["neg", "pos"])
    assert clf.coef_.shape == (1, M) and clf.intercept_.shape == (1,)
    scores = clf.decision_function(X)
    assert scores.shape == (X.shape[0],)
    pred = clf.predict(X)
    assert pred.dtype == clf.classes_.dtype
    assert np.mean(pred == y) == 1.0
    assert clf.score(X, y) == 1.0
    # One column of +1 (for classes_[1]) / -1 targets, fitted as a regression.
    reg = ntkfast.NTKRidge(n_components=M, alpha=0.1, random_state=0).fit(X, np.where(y == "pos", 1.0, -1.0))
    assert_allclose(scores, reg.predict(X), rtol=1e-10, atol=1e-10)


def test_classifier_three_classes():
    X, codes = _blobs(80, [(2.0, 0.0), (-2.0, 0.0), (0.0, 2.5)], seed=1)
    labels = np.array([10, 20, 30])[codes]
    clf = ntkfast.NTKRidgeClassifier(n_components=M, alpha=[0.01, 0.1, 1.0], random_state=2).fit(X, labels)
    assert_array_equal(clf.classes_, [10, 20, 30])
    scores = clf.decision_function(X)
    assert scores.shape == (X.shape[0], 3)
    assert_array_equal(clf.predict(X), clf.classes_[np.argmax(scores, axis=1)])
    Xt, ct = _blobs(50, [(2.0, 0.0), (-2.0, 0.0), (0.0, 2.5)], seed=9)
    assert np.mean(clf.predict(Xt) == np.array([10, 20, 30])[ct]) > 0.97
    assert clf.cv_mse_.shape == (3,) and clf.alpha_ in (0.01, 0.1, 1.0)
    # One-vs-rest: column k is the +1/-1 regression of "class k against the rest".
    Y = np.where(codes[:, None] == np.arange(3), 1.0, -1.0)
    reg = ntkfast.NTKRidge(n_components=M, alpha=clf.alpha_, random_state=2).fit(X, Y)
    assert_allclose(scores, reg.predict(X), rtol=1e-9, atol=1e-9)


def test_classifier_bad_labels():
    X, _ = _data(n=20)
    clf = ntkfast.NTKRidgeClassifier(n_components=16)
    with pytest.raises(ValueError, match="y: expected at least 2 classes"):
        clf.fit(X, np.ones(20))
    with pytest.raises(ValueError, match="y:"):
        clf.fit(X, np.r_[np.zeros(19), np.nan])
    with pytest.raises(ValueError, match="y:"):
        clf.fit(X, np.zeros((20, 2)))
    with pytest.raises(ValueError, match="y:"):
        clf.fit(X, np.arange(19) % 2)


# --------------------------------------------------------------------------------------------
# ExactNTKRidge
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_exact_ridge_equals_numpy_kernel_ridge(n_targets, fit_intercept):
    X, y = _data(n=150, d=4, t=n_targets, seed=5)
    Xt, _ = _data(n=40, d=4, seed=6)
    model = ntkfast.ExactNTKRidge(depth=2, bias=0.3, alpha=0.5, fit_intercept=fit_intercept).fit(X, y)
    K = ntkfast.ntk_kernel(X, depth=2, bias=0.3)
    Y = y.reshape(150, -1)
    ybar = Y.mean(axis=0) if fit_intercept else np.zeros(Y.shape[1])
    A = np.linalg.solve(K + 0.5 * np.eye(150), Y - ybar)
    expected = ntkfast.ntk_kernel(Xt, X, depth=2, bias=0.3) @ A + ybar
    if n_targets is None:
        A, expected, ybar = A[:, 0], expected[:, 0], ybar[0]
    assert model.dual_coef_.shape == A.shape
    assert _rel(model.dual_coef_, A) < 1e-8
    assert_allclose(model.intercept_, ybar)
    assert_allclose(model.predict(Xt), expected, rtol=1e-8, atol=1e-10)
    assert_array_equal(model.X_fit_, X)


def test_exact_ridge_predicts_in_blocks(monkeypatch):
    X, y = _data(n=120, d=4, seed=7)
    model = ntkfast.ExactNTKRidge(alpha=0.2).fit(X, y)
    whole = model.predict(X)
    monkeypatch.setattr(ntkfast.ridge, "_KERNEL_BLOCK_ELEMENTS", 120 * 7)  # 7 rows per block
    assert_allclose(model.predict(X), whole, rtol=1e-12, atol=1e-12)


def test_exact_ridge_refuses_before_allocating(monkeypatch):
    def no_kernel(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("the kernel was computed before the memory check")

    monkeypatch.setattr(ntkfast._engine.validation, "available_memory", lambda: 1 << 20)  # 1 MiB
    monkeypatch.setattr(ntkfast.ridge, "exact_kernel", no_kernel)
    X, y = _data(n=1000, d=4)  # an 8 MB kernel
    with pytest.raises(MemoryError, match="1000 x 1000"):
        ntkfast.ExactNTKRidge().fit(X, y)


# --------------------------------------------------------------------------------------------
# scikit-learn integration, progress bars
# --------------------------------------------------------------------------------------------

def test_clone_pipeline_gridsearch():
    X, y = _data(n=120, d=4)
    est = ntkfast.NTKRidge(n_components=32, alpha=0.5, random_state=0)
    cl = clone(est)
    assert cl.get_params() == est.get_params() and not hasattr(cl, "coef_")
    pipe = Pipeline([("scale", StandardScaler()), ("ridge", est)]).fit(X, y)
    assert pipe.predict(X).shape == (120,)
    search = GridSearchCV(est, {"alpha": [0.1, 10.0], "depth": [1, 2]}, cv=2).fit(X, y)
    assert search.best_params_["alpha"] in (0.1, 10.0)
    X2, codes = _blobs(30, [(1.0, 1.0), (-1.0, -1.0)])
    clf_search = GridSearchCV(ntkfast.NTKRidgeClassifier(n_components=32, random_state=0),
                              {"alpha": [0.1, 1.0]}, cv=2).fit(X2, codes)
    assert clf_search.score(X2, codes) > 0.9
    exact = GridSearchCV(ntkfast.ExactNTKRidge(), {"alpha": [0.1, 1.0]}, cv=2).fit(X, y)
    assert exact.best_estimator_.dual_coef_.shape == (120,)  # refitted on all rows


def test_verbose_progress_bars(capsys):
    X, y = _data(n=100, d=4)
    ntkfast.NTKRidge(n_components=16, batch_size=10, verbose=True, random_state=0).fit(X, y).predict(X)
    ntkfast.ExactNTKRidge(verbose=True).fit(X, y).predict(X)
    err = capsys.readouterr().err
    assert "NTKRidge.fit" in err and "NTKRidge.predict" in err and "ExactNTKRidge" in err
    ntkfast.NTKRidge(n_components=16, random_state=0).fit(X, y)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: ntkfast.NTKRidge(n_components=16),
    lambda: ntkfast.ExactNTKRidge(),
])
def test_bad_inputs_name_the_argument(make):
    X, y = _data(n=30, d=4)
    with pytest.raises(ValueError, match="^y: .*30 rows"):
        make().fit(X, y[:-1])
    with pytest.raises(ValueError, match="^y: expected finite"):
        make().fit(X, np.r_[y[:-1], np.nan])
    Xbad = X.copy()
    Xbad[17, 2] = np.inf
    with pytest.raises(ValueError, match="^X: expected finite.*row 17"):
        make().fit(Xbad, y)
    with pytest.raises(TypeError, match="^X:"):
        make().fit(X.astype(complex), y)
    for alpha in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="^alpha:"):
            make().set_params(alpha=alpha).fit(X, y)
    model = make().fit(X, y)
    with pytest.raises(ValueError, match="^X: expected 4 features"):
        model.predict(X[:, :3])


def test_bad_ridge_parameters():
    X, y = _data(n=30, d=4)
    with pytest.raises(ValueError, match="^alpha:"):
        ntkfast.NTKRidge(n_components=16, alpha=[1.0, -2.0]).fit(X, y)
    with pytest.raises(ValueError, match="^alpha:"):
        ntkfast.NTKRidge(n_components=16, alpha=[]).fit(X, y)
    with pytest.raises(ValueError, match="^validation_fraction:"):
        ntkfast.NTKRidge(n_components=16, alpha=[1.0, 2.0], validation_fraction=1.0).fit(X, y)
    with pytest.raises(ValueError, match="^batch_size:"):
        ntkfast.NTKRidge(n_components=16, batch_size=0).fit(X, y)
    with pytest.raises(TypeError, match="^fit_intercept:"):
        ntkfast.NTKRidge(n_components=16, fit_intercept="yes").fit(X, y)
    with pytest.raises(ValueError, match="^n_components:"):
        ntkfast.NTKRidge(n_components=1).fit(X, y)
    with pytest.raises(TypeError, match="^alpha:"):
        ntkfast.ExactNTKRidge(alpha=[1.0, 2.0]).fit(X, y)
    with pytest.raises(ValueError, match="^depth:"):
        ntkfast.ExactNTKRidge(depth=0).fit(X, y)


# --------------------------------------------------------------------------------------------
# How the alphas are scored: a Cholesky per alpha or one eigendecomposition
# --------------------------------------------------------------------------------------------

def _path_reference(Phi, Y, mask, alphas, fit_intercept):
    """Dense numpy: MSE on the held-out rows of the fit on the others, for every alpha; then
    the fit on all rows at the best alpha."""
    mse = []
    for a in alphas:
        W, b = _ridge_reference(Phi[~mask], Y[~mask], a, fit_intercept)
        mse.append(np.mean((Y[mask] - Phi[mask] @ W - b) ** 2))
    best = alphas[int(np.argmin(mse))]
    return np.array(mse), best, _ridge_reference(Phi, Y, best, fit_intercept)


def _path_stats(n=300, t=None, seed=2, fraction=0.25):
    X, y = _data(n=n, t=t, seed=seed)
    Y = y.reshape(n, -1)
    rf = ntkfast.NTKRandomFeatures(n_components=M, random_state=seed).fit(X)
    train, val = accumulate(feature_maps.of(rf), X, Y, batch_size=41, holdout=(seed, fraction))
    mask = holdout_mask(seed, 0, n, fraction)
    return rf.transform(X).astype(np.float64), Y, mask, train, val


@pytest.mark.parametrize("method", ["cholesky", "eigh", "lowrank"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 3])
@pytest.mark.parametrize("n", [300, 70])  # more rows than features, and fewer (rank < M)
def test_each_method_equals_dense_reference(method, fit_intercept, n_targets, n):
    Phi, Y, mask, train, val = _path_stats(n=n, t=n_targets)
    alphas = np.array([1e-3, 0.03, 1.0, 30.0, 1e3])
    alpha, cv_mse, W, b = select_and_solve(train, val, alphas, fit_intercept, method=method)
    mse_ref, best, (W_ref, b_ref) = _path_reference(Phi, Y, mask, alphas, fit_intercept)
    assert_allclose(cv_mse, mse_ref, rtol=1e-7)
    assert alpha == best
    assert W.shape == W_ref.shape and b.shape == b_ref.shape
    assert _rel(W, W_ref) < 1e-8
    assert_allclose(b, b_ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", ["cholesky", "eigh", "lowrank"])
def test_estimator_uses_the_forced_method(monkeypatch, method):
    calls = []

    def forced(n_components, n_alphas, n_rows):
        calls.append((n_components, n_alphas))
        return method

    monkeypatch.setattr(ntkfast._engine.ridge_stats, "choose_method", forced)
    X, y = _data(n=400, t=2, seed=2)
    alphas = [1e-3, 1.0, 1e3]
    path = ntkfast.NTKRidge(n_components=M, alpha=alphas, validation_fraction=0.25,
                            batch_size=37, random_state=7).fit(X, y)
    assert calls == [(M, 3)]
    mask = holdout_mask(path._holdout_seed, 0, X.shape[0], 0.25)
    Phi = path.features_.transform(X)
    mse_ref, best, (W_ref, b_ref) = _path_reference(Phi, y, mask, alphas, True)
    assert_allclose(path.cv_mse_, mse_ref, rtol=1e-7)
    assert path.alpha_ == best
    assert _rel(path.coef_, W_ref.T) < 1e-8
    assert_allclose(path.intercept_, b_ref, rtol=1e-8)


@pytest.mark.parametrize("method", ["cholesky", "eigh", "lowrank"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_failed_cholesky_falls_back_on_the_eigendecomposition(monkeypatch, method, fit_intercept):
    # Every Cholesky "fails" (as rounding would make C + alpha I indefinite): the fallback
    # must give the same numbers, for the scores, the refit and a single alpha.
    def indefinite(A):
        raise np.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(ntkfast._engine.ridge_stats, "cho_factor_inplace", indefinite)
    Phi, Y, mask, train, val = _path_stats(t=2)
    alphas = np.array([0.01, 1.0, 100.0])
    alpha, cv_mse, W, b = select_and_solve(train, val, alphas, fit_intercept, method=method)
    mse_ref, best, (W_ref, b_ref) = _path_reference(Phi, Y, mask, alphas, fit_intercept)
    assert_allclose(cv_mse, mse_ref, rtol=1e-7)
    assert alpha == best
    assert _rel(W, W_ref) < 1e-8
    alpha, cv_mse, W, b = select_and_solve(train, None, np.array([0.3]), fit_intercept)
    W_ref, b_ref = _ridge_reference(Phi[~mask], Y[~mask], 0.3, fit_intercept)
    assert alpha == 0.3 and cv_mse is None
    assert _rel(W, W_ref) < 1e-8
    assert_allclose(b, b_ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", ["cholesky", "eigh", "lowrank"])
def test_near_singular_alpha(monkeypatch, method):
    # 40 rows, 96 features: the centred Gram has rank <= 39, and alpha = 1e-15 * trace / m is
    # below its rounding, so C + alpha I is indefinite in float64 (with this BLAS the Cholesky
    # fails and falls back; the test holds either way).  The weights' null-space part is
    # rounding amplified by 1/alpha, but the training fit is well determined: it
    # interpolates, as the dense solve does.
    Phi, Y, mask, train, val = _path_stats(n=53, fraction=0.25, seed=5)
    assert int((~mask).sum()) < M
    C, _, _, _ = train.centred(True)
    tiny = 1e-15 * np.trace(C) / M
    alphas = np.array([tiny, 1.0])
    alpha, cv_mse, W, b = select_and_solve(train, val, alphas, True, method=method)
    assert np.all(np.isfinite(cv_mse)) and np.all(np.isfinite(W))
    mse_ref, _, _ = _path_reference(Phi, Y, mask, alphas, True)
    assert_allclose(cv_mse[1], mse_ref[1], rtol=1e-7)  # the well-conditioned alpha
    Wa, ba = _ridge_reference(Phi, Y, alpha, True)
    assert_allclose(Phi @ W + b, Phi @ Wa + ba, rtol=0, atol=1e-9 * np.abs(Y).max())
    # The tiny alpha alone, on the training rows.
    Wt, bt = _ridge_reference(Phi[~mask], Y[~mask], tiny, True)
    fit_ref = Phi[~mask] @ Wt + bt
    assert_allclose(fit_ref, Y[~mask], rtol=0, atol=1e-9 * np.abs(Y).max())
    W1, b1 = select_and_solve(train, None, np.array([tiny]), True)[2:]
    assert_allclose(Phi[~mask] @ W1 + b1, fit_ref, rtol=0, atol=1e-9 * np.abs(Y).max())


def test_choose_method_rule():
    # The rule encodes measured time ratios: eigh about 16 to 35 Cholesky factorisations, a
    # pivoted Cholesky about 1.5, an r x r Cholesky (r/m)^3 of one.
    for m in (96, 1024, 8192):
        assert choose_method(m, 2) == choose_method(m, 10) == "cholesky"
        assert choose_method(m, 200) == "eigh"
        assert choose_method(m, 2, n_rows=10 * m) == "cholesky"
    assert choose_method(8192, 30) == "cholesky"
    assert choose_method(8192, 1, n_rows=1000) == "cholesky"
    assert choose_method(8192, 5, n_rows=1800) == choose_method(8192, 200, n_rows=1800) == "lowrank"
    assert choose_method(8192, 10, n_rows=5400) == "lowrank"
    assert choose_method(8192, 2, n_rows=5400) == "cholesky"


def test_verbose_solve_status(capsys):
    X, y = _data(n=100, d=4)
    ntkfast.NTKRidge(n_components=16, alpha=[0.1, 1.0], verbose=True, random_state=0).fit(X, y)
    err = capsys.readouterr().err
    assert "NTKRidge.fit: solve" in err
    ntkfast.NTKRidge(n_components=16, alpha=[0.1, 1.0], random_state=0).fit(X, y)
    assert capsys.readouterr().err == ""
