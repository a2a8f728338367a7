"""NTKRandomFeatures(bias=b): the features of the kernels with a bias variance (issue 15).

With a constant feature ``sqrt(b)`` after the input and after the ReLU features of every
layer, ``E <phi_L(x), phi_L(y)> = Sigma_L`` and ``E <psi_L(x), psi_L(y)> = Theta_L`` of
``nngp_kernel(X, bias=b)`` and ``ntk_kernel(X, bias=b)`` (SPEC sections 2 and 5).
"""
import numpy as np
import pytest

import ntkfast
from conftest import rewrite_as_older
from ntkfast.io import load_model, save_model

SEEDS = 20


def _X(n=6, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def _estimates(X, dtype, seeds=SEEDS, **params):
    """Phi Phi^T of each seed, in float64: shape (seeds, n, n)."""
    out = []
    for s in range(seeds):
        P = ntkfast.NTKRandomFeatures(random_state=s, **params).fit_transform(X.astype(dtype))
        P = P.astype(np.float64)
        out.append(P @ P.T)
    return np.array(out)


def _exact(X, kernel, depth, bias):
    f = ntkfast.ntk_kernel if kernel == "ntk" else ntkfast.nngp_kernel
    return f(X, depth=depth, bias=bias)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [0.5, 2.0])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_features_estimate_the_kernel_with_bias(kernel, depth, bias, dtype):
    X = _X()
    Ks = _estimates(X, dtype, depth=depth, bias=bias, kernel=kernel, n_components=1024)
    K = _exact(X, kernel, depth, bias)
    mean, sd = Ks.mean(axis=0), Ks.std(axis=0, ddof=1)
    # Unbiased: every entry of the 20-seed mean within 5 standard errors of the exact kernel
    # (a z-score; the seeds are fixed, so the test is deterministic).
    se = sd / np.sqrt(SEEDS)
    z = np.abs(mean - K) / (se + 1e-6 * np.abs(K).max())
    assert z.max() < 5, (z.max(), kernel, depth, bias)
    # The error of the average shrinks with the number of seeds: well below a single seed's
    # typical error (its root-mean-square over seeds), about 1/sqrt(20) of it.
    single = np.sqrt(np.mean([np.mean((k - K) ** 2) for k in Ks]))
    averaged = np.sqrt(np.mean((mean - K) ** 2))
    assert averaged < 3 * single / np.sqrt(SEEDS), (averaged, single)
    # And the bias matters: without it the features miss the kernel by far more.
    K0 = _exact(X, kernel, depth, 0.0)
    assert np.sqrt(np.mean((mean - K0) ** 2)) > 5 * averaged


def test_nngp_squared_norms_follow_the_bias_recursion():
    X = _X()
    depth, b = 3, 2.0
    exact_diag = np.sum(X ** 2, axis=1) + (depth + 1) * b
    np.testing.assert_allclose(np.diag(ntkfast.nngp_kernel(X, depth=depth, bias=b)), exact_diag,
                               rtol=1e-12)
    norms = []
    for s in range(SEEDS):
        rf = ntkfast.NTKRandomFeatures(depth=depth, kernel="nngp", bias=b, n_components=512,
                                       random_state=s)
        P = rf.fit_transform(X)
        # The last column is the bias feature, exactly.
        np.testing.assert_array_equal(P[:, -1], np.sqrt(b))
        norms.append(np.sum(P ** 2, axis=1))
    norms = np.array(norms)
    se = norms.std(axis=0, ddof=1) / np.sqrt(SEEDS)
    assert np.all(np.abs(norms.mean(axis=0) - exact_diag) < 5 * se)


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
@pytest.mark.parametrize("depth", [1, 3])
def test_zero_bias_is_bit_identical_to_no_bias(kernel, depth):
    X = _X(20, 5)
    a = ntkfast.NTKRandomFeatures(depth=depth, n_components=300, kernel=kernel, random_state=3)
    b = ntkfast.NTKRandomFeatures(depth=depth, n_components=300, kernel=kernel, random_state=3,
                                  bias=0.0)
    Pa, Pb = a.fit_transform(X), b.fit_transform(X)
    np.testing.assert_array_equal(Pa, Pb)
    # The old widths and draws: no bias column anywhere.
    ms = 0 if kernel == "nngp" else ntkfast.default_sketch_components(300)
    assert (b.n_relu_, b.n_sketch_) == (300 - ms, ms)
    assert b.relu_weights_[0].shape == (300 - ms, 5)
    for wa, wb in zip(a.relu_weights_ + a.step_weights_, b.relu_weights_ + b.step_weights_):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_bias_widths(kernel):
    X = _X(7, 5)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=100, sketch_components=40,
                                   kernel=kernel, bias=1.0, random_state=0).fit(X)
    ms = 40 if kernel == "ntk" else 0
    m1 = 100 - ms - 1
    assert (rf.n_relu_, rf.n_sketch_, rf.bias_) == (m1, ms, 1.0)
    assert rf.relu_weights_[0].shape == (m1, 6)
    assert rf.relu_weights_[1].shape == (m1, m1 + 1)
    if ms:
        assert rf.sketch_indices_[0].shape == (6,)
        assert rf.sketch_indices_[1].shape == (m1 + 1 + ms,)
    P = rf.transform(X)
    assert P.shape == (7, 100)
    np.testing.assert_array_equal(P[:, m1], 1.0)
    # Batches do not change the result.
    np.testing.assert_array_equal(rf.transform(X, batch_size=2), P)
    assert rf.get_feature_names_out().shape == (100,)


def test_bias_default_sketch_width_leaves_a_relu_feature():
    rf = ntkfast.NTKRandomFeatures(n_components=3, bias=1.0, random_state=0).fit(_X())
    assert (rf.n_relu_, rf.n_sketch_) == (1, 1)
    assert rf.transform(_X()).shape == (6, 3)


@pytest.mark.parametrize("params, kind", [
    ({"bias": -1.0}, ValueError),
    ({"bias": "x"}, TypeError),
    ({"bias": float("nan")}, ValueError),
    ({"bias": True}, TypeError),
    ({"bias": 1.0, "n_components": 2}, ValueError),
    ({"bias": 1.0, "n_components": 10, "sketch_components": 9}, ValueError),
])
def test_bias_parameter_errors(params, kind):
    rf = ntkfast.NTKRandomFeatures(**params)
    with pytest.raises(kind):
        rf.fit(_X())
    assert not hasattr(rf, "n_features_in_")


def test_bias_accepted_edges():
    X = _X()
    # nngp needs no sketch: n_components=2 is one ReLU feature and the bias column.
    P = ntkfast.NTKRandomFeatures(n_components=2, kernel="nngp", bias=1.0, random_state=0).fit_transform(X)
    assert P.shape == (6, 2)
    ntkfast.NTKRandomFeatures(n_components=10, sketch_components=8, bias=1.0).fit(X)
    ntkfast.NTKRandomFeatures(n_components=10, sketch_components=9, bias=0.0).fit(X)


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_file_round_trip_with_bias(tmp_path, kernel, dtype):
    X = _X(9, 4).astype(dtype)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=64, kernel=kernel, bias=0.7,
                                   random_state=1).fit(X)
    path = tmp_path / "rf.npz"
    save_model(rf, path)
    back = load_model(path)
    assert back.bias == 0.7 and back.bias_ == 0.7
    np.testing.assert_array_equal(back.transform(X), rf.transform(X))


def test_old_model_file_without_bias_still_loads(tmp_path):
    X = _X(9, 4)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=64, random_state=1).fit(X)
    path = tmp_path / "rf.npz"
    save_model(rf, path)
    # Rewrite the file as an ntkfast without the bias parameter wrote it.
    old = tmp_path / "old.npz"
    assert rewrite_as_older(path, old, "bias", 0.0) == ["__params__"]
    back = load_model(old)
    assert back.bias == 0.0 and back.bias_ == 0.0
    np.testing.assert_array_equal(back.transform(X), rf.transform(X))


def test_bias_in_a_pickle_and_a_refit():
    import pickle
    X = _X()
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=50, bias=1.5, random_state=0).fit(X)
    P = rf.transform(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rf)).transform(X), P)
    # The fitted bias is the model's: changing the parameter needs a refit.
    rf.set_params(bias=0.0)
    np.testing.assert_array_equal(rf.transform(X), P)
    assert rf.fit(X).transform(X).shape == (6, 50) and rf.bias_ == 0.0


@pytest.mark.parametrize("cls", [ntkfast.NTKRidge, ntkfast.NTKRidgeClassifier])
def test_ridge_passes_the_bias_on(tmp_path, cls):
    X = _X(40, 3)
    y = X[:, 0] > 0 if cls is ntkfast.NTKRidgeClassifier else X[:, 0]
    model = cls(depth=2, n_components=64, bias=1.0, random_state=0).fit(X, y)
    assert model.features_.bias == 1.0 and model.features_.bias_ == 1.0
    assert model.features_.n_relu_ == 64 - model.features_.n_sketch_ - 1
    path = tmp_path / "m.npz"
    save_model(model, path)
    back = load_model(path)
    assert back.bias == 1.0
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    with pytest.raises(ValueError):
        cls(bias=-1.0).fit(X, y)
    # An old file (no bias anywhere) still loads, without bias.
    old_model = cls(depth=2, n_components=64, random_state=0).fit(X, y)
    save_model(old_model, path)
    old = tmp_path / "old.npz"
    assert rewrite_as_older(path, old, "bias", 0.0) == ["__params__", "features_.__params__"]
    back = load_model(old)
    assert back.bias == 0.0 and back.features_.bias_ == 0.0
    np.testing.assert_array_equal(back.predict(X), old_model.predict(X))


def test_cli_transform_with_a_biased_model_file(tmp_path):
    # A model saved from Python with a bias: the command line's output has the feature map's
    # width (the bias column included) and equals the in-memory transform.
    from ntkfast.cli import main
    from ntkfast.io import save_model

    X = np.random.default_rng(3).standard_normal((50, 4))
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=64, bias=0.5, random_state=0).fit(X)
    np.save(tmp_path / "X.npy", X)
    save_model(rf, tmp_path / "rf.npz")
    assert main(["transform", "--data", str(tmp_path / "X.npy"), "--out", str(tmp_path / "P.npy"),
                 "--model", str(tmp_path / "rf.npz"), "-q"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "P.npy"), rf.transform(X))
