"""NTKRidge / NTKRidgeClassifier(features="nystroem") and ``ntkfast fit --features nystroem``.

The reference is kernel ridge regression with the Nystroem kernel
``K_xC K_CC^+ K_Cy``, built in numpy from the exact kernels of tests/reference.py on the
model's own landmark rows (``features_.component_indices_``): ridge predictions do not
change under an orthogonal change of the feature basis, so they are those of the Nystroem
kernel whatever eigenvectors the library picked.
"""
import pickle

import numpy as np
import pytest

import ntkfast
import reference as R
from ntkfast._engine.ridge_stats import holdout_mask
from ntkfast.cli import main
from ntkfast.io import load_model, save_model


def _data(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


def _nystroem_features(X, C, depth, bias, kernel):
    """Features whose Gram is K_XC K_CC^+ K_CX (float64 from the longdouble reference),
    with the library's truncation rule (s_j <= s_max m eps64 dropped)."""
    which = 0 if kernel == "ntk" else 1
    Kcc = np.asarray(R.exact_kernels(C, depth=depth, bias=bias)[which], dtype=np.float64)
    Kxc = np.asarray(R.exact_kernels(X, C, depth=depth, bias=bias)[which], dtype=np.float64)
    s, U = np.linalg.eigh(Kcc)
    keep = s > s.max() * len(C) * np.finfo(np.float64).eps
    return Kxc @ (U[:, keep] / np.sqrt(s[keep]))


def _ridge_predict(P, y, Pt, alpha):
    """Ridge with an unpenalised intercept: features and targets centred on the fit rows."""
    mu, ym = P.mean(axis=0), y.mean()
    A = (P - mu).T @ (P - mu) + alpha * np.eye(P.shape[1])
    w = np.linalg.solve(A, (P - mu).T @ (y - ym))
    return (Pt - mu) @ w + ym


@pytest.mark.parametrize("depth,bias,kernel", [(1, 0.0, "ntk"), (2, 0.5, "ntk"), (3, 0.0, "nngp")])
def test_nystroem_ridge_matches_kernel_ridge_reference(depth, bias, kernel):
    X, y = _data()
    Xt, _ = _data(50, seed=1)
    model = ntkfast.NTKRidge(depth=depth, bias=bias, kernel=kernel, n_components=60, alpha=0.3,
                             features="nystroem", random_state=3).fit(X, y)
    f = model.features_
    assert isinstance(f, ntkfast.NTKNystroem) and f.n_components_ == 60
    np.testing.assert_array_equal(f.components_, X[f.component_indices_])
    C = X[f.component_indices_]
    P, Pt = _nystroem_features(X, C, depth, bias, kernel), _nystroem_features(Xt, C, depth, bias, kernel)
    ref = _ridge_predict(P, y, Pt, 0.3)
    np.testing.assert_allclose(model.predict(Xt), ref, rtol=0, atol=1e-7 * np.abs(ref).max())


def test_nystroem_ridge_with_all_rows_as_landmarks_is_exact_kernel_ridge():
    # Every training row a landmark: the Nystroem kernel is the exact kernel on them, so the
    # model is ExactNTKRidge's, to rounding.  Without intercepts: NTKRidge centres its
    # features (an unpenalised intercept in feature space), ExactNTKRidge only the targets.
    X, y = _data(150)
    Xt, _ = _data(40, seed=2)
    with pytest.warns(UserWarning, match="every row is a landmark"):
        model = ntkfast.NTKRidge(depth=2, n_components=500, alpha=0.5, features="nystroem",
                                 fit_intercept=False, random_state=0).fit(X, y)
    exact = ntkfast.ExactNTKRidge(depth=2, alpha=0.5, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(model.predict(Xt), exact.predict(Xt), rtol=0, atol=1e-6)


def test_nystroem_ridge_penalty_path_scores_the_held_out_rows():
    X, y = _data(500)
    alphas = [0.01, 0.3, 10.0]
    model = ntkfast.NTKRidge(depth=2, n_components=80, alpha=alphas, features="nystroem",
                             random_state=5).fit(X, y)
    val = holdout_mask(model._holdout_seed, 0, len(X), 0.1)
    C = X[model.features_.component_indices_]
    P = _nystroem_features(X, C, 2, 0.0, "ntk")
    cv = [np.mean((_ridge_predict(P[~val], y[~val], P[val], a) - y[val]) ** 2) for a in alphas]
    np.testing.assert_allclose(model.cv_mse_, cv, rtol=1e-6)
    assert model.alpha_ == alphas[int(np.argmin(cv))]
    ref = _ridge_predict(P, y, P, model.alpha_)  # refitted on all rows
    np.testing.assert_allclose(model.predict(X), ref, rtol=0, atol=1e-7 * np.abs(ref).max())


def test_nystroem_beats_random_features_of_the_same_width_on_a_smooth_target():
    # The reason for the option: on data whose kernel spectrum decays, m landmarks
    # approximate the exact model far better than m random features (README, protein data).
    # Here against the exact model's own predictions, five seeds each, at width 100.
    X, y = _data(1500, d=4)
    Xt, _ = _data(300, d=4, seed=9)
    exact = ntkfast.ExactNTKRidge(depth=2, alpha=1.0).fit(X, y).predict(Xt)

    def gap(features, seed):
        m = ntkfast.NTKRidge(depth=2, n_components=100, alpha=1.0, features=features,
                             random_state=seed).fit(X, y)
        return np.sqrt(np.mean((m.predict(Xt) - exact) ** 2))

    ny = [gap("nystroem", s) for s in range(5)]
    rf = [gap("random", s) for s in range(5)]
    assert max(ny) < 0.7 * min(rf), (ny, rf)   # measured: 0.109-0.116 against 0.207-0.268


def test_nystroem_ridge_dtype_threads_and_batches():
    X, y = _data(300)
    a = ntkfast.NTKRidge(n_components=50, features="nystroem", random_state=1, n_threads=1).fit(X, y)
    b = ntkfast.NTKRidge(n_components=50, features="nystroem", random_state=1, n_threads=2,
                         batch_size=7).fit(X, y)
    np.testing.assert_array_equal(a.features_.transform(X), b.features_.transform(X))
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=0, atol=1e-12)
    c = ntkfast.NTKRidge(n_components=50, features="nystroem", random_state=1).fit(X.astype(np.float32), y)
    assert c.features_.dtype_ == np.float32
    np.testing.assert_allclose(c.predict(X.astype(np.float32)), a.predict(X), rtol=0, atol=2e-3)


def test_nystroem_ridge_model_file_pickle_and_old_pickles(tmp_path):
    X, y = _data(300)
    model = ntkfast.NTKRidge(depth=2, n_components=40, alpha=[0.1, 1.0], features="nystroem",
                             random_state=0).fit(X, y)
    path = tmp_path / "m.npz"
    save_model(model, path)
    back = load_model(path)
    assert back.features == "nystroem" and isinstance(back.features_, ntkfast.NTKNystroem)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    clf = ntkfast.NTKRidgeClassifier(n_components=40, features="nystroem", random_state=0).fit(X, y > 0)
    save_model(clf, tmp_path / "c.npz")
    np.testing.assert_array_equal(load_model(tmp_path / "c.npz").decision_function(X), clf.decision_function(X))
    assert clf.score(X, y > 0) > 0.8
    # A pickle of a model from before the parameter: random features.
    old = ntkfast.NTKRidge(n_components=40, random_state=0).fit(X, y)
    del old.__dict__["features"]
    assert pickle.loads(pickle.dumps(old)).get_params()["features"] == "random"


def test_nystroem_ridge_rejects_bad_parameter():
    X, y = _data(50)
    with pytest.raises(ValueError, match="features"):
        ntkfast.NTKRidge(features="landmarks").fit(X, y)


def test_cli_fit_features_nystroem(tmp_path, capsys):
    X, y = _data(300)
    data = tmp_path / "d.npy"
    np.save(data, np.column_stack([X, y]))
    model = tmp_path / "m.npz"
    code = main(["fit", "--data", str(data), "--target", "-1", "--features", "nystroem",
                 "--n-components", "50", "--depth", "2", "--alpha", "0.1", "1", "--model", str(model), "-q"])
    assert code == 0, capsys.readouterr().err
    m = load_model(model)
    assert m.features == "nystroem" and m.features_.n_components_ == 50 and m.depth == 2
    out = tmp_path / "f.npy"
    np.save(tmp_path / "x.npy", X)
    assert main(["transform", "--model", str(model), "--data", str(tmp_path / "x.npy"),
                 "--out", str(out), "-q"]) == 0
    mean, scale = X.mean(axis=0), X.std(axis=0)
    np.testing.assert_allclose(np.load(out), m.features_.transform((X - mean) / scale), rtol=0, atol=1e-10)
    for extra in (["--sketch", "srht"], ["--projection", "sorf"], ["--no-leverage"]):
        code = main(["fit", "--data", str(data), "--target", "-1", "--features", "nystroem",
                     "--model", str(tmp_path / "x.npz"), "-q"] + extra)
        assert code == 2
        assert "do not apply to --features nystroem" in capsys.readouterr().err
    code = main(["fit", "--data", str(data), "--target", "-1", "--features", "nystroem", "--exact",
                 "--model", str(tmp_path / "x.npz"), "-q"])
    assert code == 2 and "do not apply to --exact" in capsys.readouterr().err


def test_nystroem_ridge_on_dask_matches_memory():
    da = pytest.importorskip("dask.array")
    X, y = _data(400)
    mem = ntkfast.NTKRidge(n_components=60, alpha=[0.1, 1.0], features="nystroem", random_state=2).fit(X, y)
    lazy = ntkfast.NTKRidge(n_components=60, alpha=[0.1, 1.0], features="nystroem",
                            random_state=2).fit(da.from_array(X, chunks=(97, -1)), y)
    np.testing.assert_array_equal(lazy.features_.component_indices_, mem.features_.component_indices_)
    np.testing.assert_array_equal(lazy.features_.normalization_, mem.features_.normalization_)
    np.testing.assert_allclose(lazy.predict(X), mem.predict(X), rtol=0, atol=1e-9)
