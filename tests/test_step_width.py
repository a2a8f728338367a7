"""NTKRandomFeatures(step_components=m0): a step width m0 apart from the ReLU width m1.

References: the numpy feature map of SPEC section 5 recomputed from the fitted arrays
(tests/reference.py), the same map on draws replayed with numpy in the documented order
(for the default m0 = m1, whose features must not change), the exact NTK (unbiasedness, a
statistical bound), and hand-written expectations for shapes, errors and model files.
"""
import pickle
import types

import numpy as np
import pytest

import ntkfast
import reference as R
from conftest import gaussian_data, rewrite_as_older
from ntkfast.io import load_model, save_model


def _rf(**kw):
    return ntkfast.NTKRandomFeatures(**kw)


def _reference(X, est):
    """SPEC section 5 in numpy from the fitted arrays, with the bias column of SPEC 2
    (``phi_0 = psi_0 = [x, sqrt(b)]``, ``phi_h = [Phi1(phi_{h-1}), sqrt(b)]``)."""
    X = np.asarray(X, dtype=np.float64)
    b = est.bias_
    col = (lambda Z: np.c_[Z, np.full(len(Z), np.sqrt(b))]) if b > 0 else (lambda Z: Z)
    phi = psi = col(X)
    for h in range(est.depth):
        a = R._step_features(phi, est.step_weights_[h])
        phi = col(R._relu_features(phi, est.relu_weights_[h], est.leverage))
        c1 = R.count_sketch(psi, est.sketch_indices_[h], est.sketch_signs_[h], est.n_sketch_)
        c2 = R.count_sketch(a, est.step_indices_[h], est.step_signs_[h], est.n_sketch_)
        psi = np.concatenate([phi, R.tensor_sketch_fft(c1, c2)], axis=1)
    return psi


def _margin(X, est):
    """Smallest |w . z| / (||w|| ||z||) over the step pre-activations (float32 tests skip
    seeds where a step may flip on rounding)."""
    X = np.asarray(X, dtype=np.float64)
    b = est.bias_
    col = (lambda Z: np.c_[Z, np.full(len(Z), np.sqrt(b))]) if b > 0 else (lambda Z: Z)
    phi, out = col(X), np.inf
    for h in range(est.depth):
        W = np.asarray(est.step_weights_[h], dtype=np.float64)
        den = np.outer(np.linalg.norm(phi, axis=1), np.linalg.norm(W, axis=1))
        ok = den > 0
        out = min(out, np.min(np.abs(phi @ W.T)[ok] / den[ok]))
        phi = col(R._relu_features(phi, est.relu_weights_[h], est.leverage))
    return out


# ---------------------------------------------------------------------------
# the feature map with m0 != m1 against the numpy reference
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("bias", [0.0, 0.5])
@pytest.mark.parametrize("m0", [1, 7, 250])
@pytest.mark.parametrize("depth", [1, 3])
def test_features_match_reference(depth, m0, bias, dtype, rtol):
    X = gaussian_data(15, 5, depth, zero_rows=(2,)).astype(dtype)
    for seed in range(40):  # float32: no step pre-activation on a rounding tie
        est = _rf(depth=depth, n_components=100, sketch_components=40, step_components=m0,
                  bias=bias, random_state=seed).fit(X)
        if dtype == np.float64 or _margin(X, est) > 2e-5:
            break
    e = 1 if bias else 0
    m1 = 100 - 40 - e
    assert (est.n_relu_, est.n_step_, est.n_sketch_) == (m1, m0, 40)
    Z = est.transform(X)
    assert Z.shape == (15, 100) and Z.dtype == dtype
    ref = _reference(X, est)
    np.testing.assert_allclose(Z.astype(np.float64), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    if not bias:
        assert np.all(Z[2] == 0)
    # batches and threads change no bits
    np.testing.assert_array_equal(est.transform(X, batch_size=4), Z)
    np.testing.assert_array_equal(est.set_params(n_threads=1).transform(X), Z)


@pytest.mark.parametrize("depth", [1, 3])
def test_fitted_shapes(depth):
    d, m0 = 6, 23
    est = _rf(depth=depth, n_components=90, sketch_components=30, step_components=m0,
              random_state=0).fit(gaussian_data(4, d, 0))
    m1, ms = 60, 30
    for h in range(depth):
        d_in, d_psi = (d, d) if h == 0 else (m1, m1 + ms)
        assert est.relu_weights_[h].shape == (m1, d_in)
        assert est.relu_scales_[h].shape == (m1,)
        assert est.step_weights_[h].shape == (m0, d_in)
        assert est.step_indices_[h].shape == est.step_signs_[h].shape == (m0,)
        assert est.sketch_indices_[h].shape == (d_psi,)
    assert est.get_feature_names_out().shape == (90,)


def test_nngp_ignores_step_components():
    X = gaussian_data(5, 4, 0)
    a = _rf(depth=2, n_components=40, kernel="nngp", step_components=7, random_state=0).fit(X)
    b = _rf(depth=2, n_components=40, kernel="nngp", random_state=0).fit(X)
    assert a.n_step_ == 0 and a.step_weights_ == []
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


# ---------------------------------------------------------------------------
# the default (step_components=None) is the old feature map, draw for draw
# ---------------------------------------------------------------------------
def _replayed_draws(seed, d, depth, m1, m0, ms, leverage):
    """The random quantities of a fit, drawn with numpy in the documented order (per layer:
    step weights, ReLU weights (leverage: Gaussian directions, then chi(d + 2) radii), the
    CountSketch of psi_{h-1}, the CountSketch of a_h), as the fitted attributes."""
    rng = np.random.default_rng(seed)
    est = types.SimpleNamespace(depth=depth, kernel="ntk", leverage=leverage, n_sketch_=ms,
                                step_weights_=[], relu_weights_=[], sketch_indices_=[],
                                sketch_signs_=[], step_indices_=[], step_signs_=[])
    d_in, d_psi = d, d
    for _ in range(depth):
        est.step_weights_.append(rng.standard_normal((m0, d_in)))
        g = rng.standard_normal((m1, d_in))
        if leverage:
            r = np.sqrt(rng.chisquare(d_in + 2, size=m1))
            g = g * (r / np.linalg.norm(g, axis=1))[:, None]
        est.relu_weights_.append(g)
        est.sketch_indices_.append(rng.integers(0, ms, size=d_psi))
        est.sketch_signs_.append(2 * rng.integers(0, 2, size=d_psi) - 1)
        est.step_indices_.append(rng.integers(0, ms, size=m0))
        est.step_signs_.append(2 * rng.integers(0, 2, size=m0) - 1)
        d_in, d_psi = m1, m1 + ms
    return est


@pytest.mark.parametrize("leverage", [True, False])
@pytest.mark.parametrize("depth", [1, 2])
def test_default_is_the_old_feature_map(depth, leverage):
    X = gaussian_data(12, 5, 7)
    nc = 200
    ms = ntkfast.default_sketch_components(nc)
    m1 = nc - ms
    est = _rf(depth=depth, n_components=nc, leverage=leverage, random_state=11).fit(X)
    assert est.step_components is None and est.n_step_ == m1
    replay = _replayed_draws(11, 5, depth, m1, m1, ms, leverage)
    ref = R.ntk_features_reference(X, replay)
    Z = est.transform(X)
    np.testing.assert_allclose(Z, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    # and a replay with m0 != m1 matches step_components=m0 (same order, other lengths)
    est2 = _rf(depth=depth, n_components=nc, leverage=leverage, step_components=3 * m1,
               random_state=11).fit(X)
    ref2 = R.ntk_features_reference(X, _replayed_draws(11, 5, depth, m1, 3 * m1, ms, leverage))
    np.testing.assert_allclose(est2.transform(X), ref2, rtol=1e-10, atol=1e-10 * np.abs(ref2).max())


def test_explicit_m1_is_the_default():
    X = gaussian_data(9, 4, 1)
    a = _rf(depth=2, n_components=120, random_state=5).fit(X)
    b = _rf(depth=2, n_components=120, step_components=a.n_relu_, random_state=5).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


# ---------------------------------------------------------------------------
# unbiased for any m0: the average over seeds converges to the exact NTK
# ---------------------------------------------------------------------------
SEEDS = 300


@pytest.mark.parametrize("depth,m0", [(1, 4), (1, 96), (2, 4), (2, 96)])
def test_unbiased_against_exact_ntk(depth, m0):
    """Each seed's Phi Phi^T is an unbiased estimate of the exact NTK.  Per entry, the mean
    over S seeds differs from the exact kernel by less than 5 standard errors (sd / sqrt(S),
    the CLT; 21 entries, so a false alarm has probability < 1e-4).  For the whole matrix,
    E ||mean - K||_F^2 = E ||K_s - K||_F^2 / S exactly for an unbiased estimate, and
    ||mean - K||_F^2 S / mean_s ||K_s - K||_F^2 is a weighted sum of chi2(1) with unit total
    weight (asymptotically): it exceeds 15 with probability < 1e-4 whatever the weights.  A
    step scale of sqrt(2/m1) instead of sqrt(2/m0) would bias the sketch term by m1/m0."""
    X = gaussian_data(6, 4, 3)
    K = ntkfast.ntk_kernel(X, depth=depth)
    ests = []
    for seed in range(SEEDS):
        P = _rf(depth=depth, n_components=64, sketch_components=32, step_components=m0,
                random_state=seed).fit_transform(X)
        ests.append(P @ P.T)
    ests = np.array(ests)
    iu = np.triu_indices(6)
    mean, sd = ests.mean(axis=0)[iu], ests.std(axis=0, ddof=1)[iu]
    z = (mean - K[iu]) / (sd / np.sqrt(SEEDS))
    assert np.all(np.abs(z) < 5), z
    err_one = np.mean([np.linalg.norm(E - K) ** 2 for E in ests])
    err_avg = np.linalg.norm(ests.mean(axis=0) - K) ** 2
    assert err_avg * SEEDS / err_one < 15
    # The error of an average of S seeds is about 1/sqrt(S) of one seed's.
    assert np.sqrt(err_avg / err_one) < np.sqrt(15 / SEEDS)


def test_error_shrinks_with_m0():
    """More step features, less variance: for a depth-1 NTK, the part of Theta_1 that the
    step features estimate is <x, y> kappa0, whose estimate's variance falls like 1/m0 (the
    sketch adds its own), so m0 = 16 m1 beats m0 = m1 / 16 on average."""
    X = gaussian_data(30, 5, 4)
    K = ntkfast.ntk_kernel(X, depth=1)

    def err(m0, seed):
        P = _rf(depth=1, n_components=512, sketch_components=256, step_components=m0,
                random_state=seed).fit_transform(X)
        return np.linalg.norm(P @ P.T - K) / np.linalg.norm(K)

    small = np.array([err(16, s) for s in range(20)])
    large = np.array([err(4096, s) for s in range(20)])
    # paired by nothing but the seed range; the gap is many standard errors wide
    se = np.sqrt(small.var(ddof=1) / 20 + large.var(ddof=1) / 20)
    assert small.mean() - large.mean() > 4 * se


# ---------------------------------------------------------------------------
# invalid values
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value,kind,message", [
    (0, ValueError, "step_components: expected an integer >= 1, got 0"),
    (-3, ValueError, "step_components: expected an integer >= 1, got -3"),
    (2.5, TypeError, "step_components: expected an integer, got 2.5"),
    ("64", TypeError, "step_components: expected an integer"),
    (True, TypeError, "step_components: expected an integer, got True"),
])
def test_bad_step_components(value, kind, message):
    X = gaussian_data(4, 3, 0)
    rf = _rf(n_components=32, step_components=value, random_state=0)
    with pytest.raises(kind, match=message):
        rf.fit(X)
    assert not hasattr(rf, "n_features_in_")
    with pytest.raises(kind, match=message):
        ntkfast.NTKRidge(n_components=32, step_components=value).fit(X, X[:, 0])


def test_huge_step_components_refused_before_allocating():
    with pytest.raises(MemoryError, match="^n_components, step_components: .* 1000000000000 step features"):
        _rf(n_components=64, step_components=10**12, random_state=0).fit(gaussian_data(3, 4, 0))


def test_inconsistent_assigned_arrays_are_refused():
    X = gaussian_data(4, 3, 0)
    rf = _rf(n_components=40, sketch_components=20, step_components=9, random_state=0).fit(X)
    rf.step_weights_ = [np.zeros((20, 3))]  # an m1-long step layer: n_step_ says 9
    with pytest.raises(ValueError, match=r"step_weights_\[0\]: .*expected shape \(9, 3\)"):
        rf.transform(X)


# ---------------------------------------------------------------------------
# model files, pickles, ridge, dask
# ---------------------------------------------------------------------------
def test_model_file_round_trip(tmp_path):
    X = gaussian_data(10, 4, 2)
    rf = _rf(depth=2, n_components=48, sketch_components=20, step_components=70, random_state=1).fit(X)
    save_model(rf, tmp_path / "rf.npz")
    back = load_model(tmp_path / "rf.npz")
    assert back.step_components == 70 and back.n_step_ == 70
    np.testing.assert_array_equal(back.transform(X), rf.transform(X))
    # a file whose n_step_ disagrees with its parameters is refused
    with np.load(tmp_path / "rf.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["n_step_"] = np.array(28)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="n_step_: expected 70"):
        load_model(tmp_path / "bad.npz")


@pytest.mark.parametrize("ridge", [False, True])
def test_old_model_file_without_step_components_loads(tmp_path, ridge):
    X = gaussian_data(40, 4, 2)
    if ridge:
        model = ntkfast.NTKRidge(depth=2, n_components=48, random_state=1).fit(X, X[:, 0])
    else:
        model = _rf(depth=2, n_components=48, random_state=1).fit(X)
    path = tmp_path / "m.npz"
    save_model(model, path)
    # Rewrite it as an ntkfast without step_components wrote it: no parameter, no n_step_.
    rewrite_as_older(path, tmp_path / "old.npz", "step_components", None, drop_suffixes=["n_step_"])
    back = load_model(tmp_path / "old.npz")
    rf = back.features_ if ridge else back
    assert back.step_components is None and rf.n_step_ == rf.n_relu_
    if ridge:
        np.testing.assert_array_equal(back.predict(X), model.predict(X))
    else:
        np.testing.assert_array_equal(back.transform(X), model.transform(X))


def test_old_pickle_without_step_width():
    X = gaussian_data(8, 4, 2)
    rf = _rf(depth=2, n_components=48, random_state=1).fit(X)
    state = rf.__getstate__()
    for name in ("step_components", "n_step_"):
        del state[name]
    old = ntkfast.NTKRandomFeatures.__new__(ntkfast.NTKRandomFeatures)
    old.__setstate__(state)
    assert old.step_components is None and old.n_step_ == old.n_relu_
    np.testing.assert_array_equal(old.transform(X), rf.transform(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rf)).transform(X), rf.transform(X))


def test_old_ridge_pickle_without_step_components():
    X = gaussian_data(40, 3, 5)
    model = ntkfast.NTKRidge(depth=2, n_components=48, random_state=0).fit(X, X[:, 0])
    state = model.__getstate__()
    del state["step_components"]
    old = ntkfast.NTKRidge.__new__(ntkfast.NTKRidge)
    old.__setstate__(state)
    assert old.get_params()["step_components"] is None
    np.testing.assert_array_equal(old.predict(X), model.predict(X))


@pytest.mark.parametrize("cls", [ntkfast.NTKRidge, ntkfast.NTKRidgeClassifier])
def test_ridge_passes_step_components_on(tmp_path, cls):
    X = gaussian_data(60, 3, 5)
    y = X[:, 0] > 0 if cls is ntkfast.NTKRidgeClassifier else X[:, 0]
    model = cls(depth=2, n_components=64, step_components=100, random_state=0).fit(X, y)
    assert model.features_.step_components == 100 and model.features_.n_step_ == 100
    save_model(model, tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert back.step_components == 100
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


def test_dask_transform_bit_identical():
    da = pytest.importorskip("dask.array")
    X = gaussian_data(150, 5, 6)
    rf = _rf(depth=2, n_components=100, step_components=170, random_state=2).fit(X)
    got = rf.transform(da.from_array(X, chunks=(41, 5))).compute(scheduler="threads")
    np.testing.assert_array_equal(got, rf.transform(X))
