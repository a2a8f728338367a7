"""``ntkfast fit`` standardises the feature columns and the regression target by default
(stored in the model file, applied by ``predict``); ``--no-standardize`` keeps raw values."""
import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

import ntkfast
from ntkfast.io import load_model

from test_cli import _run, _write_csv

NAMES = ["big", "small", "tiny", "flat", "y"]


@pytest.fixture
def scaled_data(tmp_path):
    # Columns whose scales differ by 1e6 (and a constant one), a target around 1e3.
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((500, 3))
    y = 1e3 + 50 * (np.sin(2 * Z[:, 0]) + Z[:, 1] * Z[:, 2] + 0.1 * rng.standard_normal(500))
    X = np.c_[5e6 + 1e6 * Z[:, 0], Z[:, 1], 1e-2 * Z[:, 2], np.full(500, 7.0)]
    tr, te = slice(0, 400), slice(400, None)
    _write_csv(tmp_path / "train.csv", NAMES, [(*x, t) for x, t in zip(X[tr], y[tr])])
    _write_csv(tmp_path / "test.csv", NAMES, [(*x, t) for x, t in zip(X[te], y[te])])
    return tmp_path, X[tr], y[tr], X[te], y[te]


def _fit_predict(capsys, folder, *extra):
    code, _, err = _run(capsys, "fit", "--data", folder / "train.csv", "--target", "y",
                        "--n-components", 64, "--alpha", 0.1, "--random-state", 3,
                        "--model", folder / "m.npz", *extra)
    assert code == 0, err
    code, _, perr = _run(capsys, "predict", "--model", folder / "m.npz", "--data", folder / "test.csv",
                         "--out", folder / "p.npy", "-q")
    assert code == 0, perr
    return np.load(folder / "p.npy"), err


def test_default_matches_a_fit_on_standardised_data(scaled_data, capsys):
    folder, X, y, X_te, y_te = scaled_data
    pred, err = _fit_predict(capsys, folder)
    # Reference: scikit-learn's StandardScaler + the library's NTKRidge, by hand.
    sx, sy = StandardScaler().fit(X), StandardScaler().fit(y[:, None])
    ref = ntkfast.NTKRidge(n_components=64, alpha=0.1, random_state=3).fit(
        sx.transform(X), sy.transform(y[:, None])[:, 0])
    ref_pred = sy.inverse_transform(ref.predict(sx.transform(X_te))[:, None])[:, 0]
    mse, ref_mse = np.mean((pred - y_te) ** 2), np.mean((ref_pred - y_te) ** 2)
    assert mse == pytest.approx(ref_mse, rel=1e-6)
    np.testing.assert_allclose(pred, ref_pred, rtol=1e-8)
    assert mse < 0.5 * np.var(y_te)  # it learned something
    # The constant column is centred and divided by 1, and the user is told.
    assert "constant column(s) 'flat': centred, divided by 1" in err
    model, meta = load_model(folder / "m.npz", return_metadata=True)
    assert meta["standardize"] is True
    np.testing.assert_allclose(meta["feature_mean"], X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(meta["feature_scale"][:3], X.std(axis=0)[:3], rtol=1e-12)
    assert meta["feature_scale"][3] == 1.0
    assert meta["target_mean"] == pytest.approx(y.mean()) and meta["target_scale"] == pytest.approx(y.std())
    # The command's progress setting is not saved with the model.
    assert model.verbose is False


def test_no_standardize_reproduces_the_raw_fit(scaled_data, capsys):
    folder, X, y, X_te, y_te = scaled_data
    pred, _ = _fit_predict(capsys, folder, "--no-standardize", "-q")
    raw = ntkfast.NTKRidge(n_components=64, alpha=0.1, random_state=3).fit(X, y)
    np.testing.assert_allclose(pred, raw.predict(X_te), rtol=1e-10)
    meta = load_model(folder / "m.npz", return_metadata=True)[1]
    assert meta["standardize"] is False and "feature_mean" not in meta
    std_pred, _ = _fit_predict(capsys, folder, "-q")
    # On these scales the raw fit is much worse: the point of the default.
    assert np.mean((pred - y_te) ** 2) > 3 * np.mean((std_pred - y_te) ** 2)


def test_classification_and_exact_standardise_features_only(scaled_data, capsys):
    folder, X, y, X_te, y_te = scaled_data
    code, _, err = _run(capsys, "fit", "--data", folder / "train.csv", "--target", "y", "--exact",
                        "--alpha", 0.1, "--model", folder / "e.npz", "-q")
    assert code == 0, err
    code, out, err = _run(capsys, "predict", "--model", folder / "e.npz", "--data", folder / "test.csv", "-q")
    assert code == 0, err
    sx, sy = StandardScaler().fit(X), StandardScaler().fit(y[:, None])
    ref = ntkfast.ExactNTKRidge(alpha=0.1).fit(sx.transform(X), sy.transform(y[:, None])[:, 0])
    ref_pred = sy.inverse_transform(ref.predict(sx.transform(X_te))[:, None])[:, 0]
    np.testing.assert_allclose(np.array(out.split(), dtype=float), ref_pred, rtol=1e-8)

    labels = np.where(y > np.median(y), "high", "low")
    _write_csv(folder / "c.csv", NAMES, [(*x, t) for x, t in zip(X, labels)])
    code, _, err = _run(capsys, "fit", "--data", folder / "c.csv", "--target", "y", "--task", "classification",
                        "--n-components", 64, "--model", folder / "c.npz", "-q")
    assert code == 0, err
    meta = load_model(folder / "c.npz", return_metadata=True)[1]
    assert "feature_mean" in meta and "target_mean" not in meta


def test_transform_with_a_fit_model_applies_its_standardisation(scaled_data, capsys):
    folder, X, y, X_te, y_te = scaled_data
    _fit_predict(capsys, folder, "-q")
    np.save(folder / "X.npy", X_te)
    code, _, err = _run(capsys, "transform", "--data", folder / "X.npy", "--out", folder / "F.npy",
                        "--model", folder / "m.npz", "-q")
    assert code == 0, err
    model, meta = load_model(folder / "m.npz", return_metadata=True)
    Xs = (X_te - np.array(meta["feature_mean"])) / np.array(meta["feature_scale"])
    np.testing.assert_array_equal(np.load(folder / "F.npy"), model.features_.transform(Xs))
