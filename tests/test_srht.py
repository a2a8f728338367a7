"""TensorSRHT (SPEC section 4): ``ntkfast.tensor_srht`` and ``NTKRandomFeatures(sketch="srht")``.

References, all plain numpy: the explicit tensor product ``u (x) v`` (np.kron) times the
explicit TensorSRHT matrix (rows ``(s_u F_u[f]) (x) (s_v F_v[g])`` with the DFT written out
as ``exp(-2 pi i f t / k)``); the closed-form variance, checked by enumerating every sign and
frequency of tiny inputs and against the empirical variance over seeds; the feature map of
SPEC section 5 with that matrix in place of the TensorSketch; the exact NTK.
"""
import itertools
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

import ntkfast
import reference as R
from conftest import gaussian_data, rewrite_as_older
from ntkfast.io import load_model, save_model


# ---------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------
def _dft_rows(k, freqs):
    t = np.arange(k)
    return np.exp(-2j * np.pi * np.outer(freqs, t) / k)


def _srht_matrix(ku, kv, iu, su, iv, sv, D):
    """The (D, ku * kv) matrix of TensorSRHT acting on the explicit tensor product."""
    rows = np.array([np.kron(fu * su, fv * sv) for fu, fv in
                     zip(_dft_rows(ku, iu), _dft_rows(kv, iv))]) * np.sqrt(2.0 / D)
    return np.concatenate([rows.real, rows.imag], axis=0)


def _srht_reference(U, V, iu, su, iv, sv, D):
    U, V = np.asarray(U, np.float64), np.asarray(V, np.float64)
    kron = np.einsum("ni,nj->nij", U, V).reshape(len(U), -1)  # rows u (x) v
    return kron @ _srht_matrix(U.shape[1], V.shape[1], iu, su, iv, sv, D).T


def _c2(p, q):
    """sum over a, c with 2 (a - c) = 0 mod k of p_a q_c."""
    k = len(p)
    out = p @ q
    if k % 2 == 0:
        out += p @ np.roll(q, -k // 2)
    return out


def srht_variance(u, u2, v, v2, D):
    """Closed-form Var <TSRHT(u, v), TSRHT(u2, v2)> over random signs and D / 2 frequencies
    drawn uniformly with replacement (the formula of docs/user_guide/n_components.rst)."""
    def moments(x, y):
        w = x * y
        m1 = (x @ x) * (y @ y) + (x @ y) ** 2 + _c2(w, w) - 2 * (w @ w)
        m2 = 2 * (x @ y) ** 2 + _c2(x * x, y * y) - 2 * (w @ w)
        return m1, m2
    m1u, m2u = moments(np.asarray(u, float), np.asarray(u2, float))
    m1v, m2v = moments(np.asarray(v, float), np.asarray(v2, float))
    mean = (u @ u2) * (v @ v2)
    return (2.0 / D) * ((m1u * m1v + m2u * m2v) / 2 - mean ** 2)


def _draw(rng, ku, kv, D):
    m = D // 2
    return (rng.integers(0, ku, m), rng.choice([-1, 1], ku),
            rng.integers(0, kv, m), rng.choice([-1, 1], kv))


def _pair(n, ku, kv, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, ku)), rng.standard_normal((n, kv))


# ---------------------------------------------------------------------------
# tensor_srht against the explicit tensor product
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("ku,kv,D", [(1, 1, 2), (5, 8, 6), (7, 3, 10), (6, 6, 64), (9, 16, 40)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_matches_explicit_tensor_product(ku, kv, D, dtype, tol):
    U, V = _pair(11, ku, kv, ku * 100 + kv)
    iu, su, iv, sv = _draw(np.random.default_rng(D), ku, kv, D)
    got = ntkfast.tensor_srht(U.astype(dtype), V.astype(dtype), iu, su, iv, sv, D)
    want = _srht_reference(U, V, iu, su, iv, sv, D)
    assert got.dtype == dtype and got.shape == (11, D)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale * max(ku, kv))


def test_mixed_dtypes_give_float64():
    U, V = _pair(3, 4, 5, 0)
    iu, su, iv, sv = _draw(np.random.default_rng(1), 4, 5, 8)
    got = ntkfast.tensor_srht(U.astype(np.float32), V, iu, su, iv, sv, 8)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _srht_reference(U.astype(np.float32), V, iu, su, iv, sv, 8),
                               atol=1e-12)


@pytest.mark.parametrize("ku,kv,D", [(3, 4, 2), (4, 3, 4), (2, 5, 2)])
def test_exact_mean_and_variance_by_enumeration(ku, kv, D):
    """Every sign vector and every frequency tuple, with their probabilities: the mean of
    <TSRHT(u, v), TSRHT(u', v')> is <u, u'> <v, v'> (unbiased) and its variance is the
    closed form, both to rounding, with no sampling error."""
    rng = np.random.default_rng(ku * 10 + kv)
    u, u2 = rng.standard_normal((2, ku))
    v, v2 = rng.standard_normal((2, kv))
    m = D // 2
    values = []
    for su in itertools.product([-1, 1], repeat=ku):
        for sv in itertools.product([-1, 1], repeat=kv):
            for iu in itertools.product(range(ku), repeat=m):
                for iv in itertools.product(range(kv), repeat=m):
                    out = ntkfast.tensor_srht(np.array([u, u2]), np.array([v, v2]),
                                              iu, su, iv, sv, D)
                    values.append(out[0] @ out[1])
    values = np.array(values)  # all outcomes equally likely
    target = np.kron(u, v) @ np.kron(u2, v2)
    np.testing.assert_allclose(values.mean(), target, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(values.var(), srht_variance(u, u2, v, v2, D), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ku,kv,D", [(5, 8, 4), (16, 7, 12)])
def test_unbiased_and_variance_over_seeds(ku, kv, D):
    """Over S independent draws: the mean of the estimate is within 5 standard errors of
    the explicit <u (x) v, u' (x) v'> (the CLT), and the sample variance within 5 of its own
    standard errors (sqrt((mu4 - s^2^2) / S), from the sample fourth moment) of the closed
    form.  Fails with probability < 1e-5 for a correct implementation, whatever the seed."""
    S = 4000
    U, V = _pair(2, ku, kv, ku + kv)
    target = np.kron(U[0], V[0]) @ np.kron(U[1], V[1])
    rng = np.random.default_rng()
    z = np.empty(S)
    for s in range(S):
        out = ntkfast.tensor_srht(U, V, *_draw(rng, ku, kv, D), D)
        z[s] = out[0] @ out[1]
    se = z.std(ddof=1) / np.sqrt(S)
    assert abs(z.mean() - target) < 5 * se
    var = srht_variance(U[0], U[1], V[0], V[1], D)
    s2 = z.var(ddof=1)
    mu4 = np.mean((z - z.mean()) ** 4)
    assert abs(s2 - var) < 5 * np.sqrt((mu4 - s2 ** 2) / S), (s2, var)


def test_variance_falls_like_one_over_d():
    u, v = np.random.default_rng(0).standard_normal((2, 12))
    base = srht_variance(u, u, v, v, 2)
    for D in (4, 16, 256):
        assert np.isclose(srht_variance(u, u, v, v, D), base * 2 / D)


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tensor_srht_threads_and_chunks(dtype, monkeypatch):
    U, V = _pair(700, 33, 50, 4)
    U, V = U.astype(dtype), V.astype(dtype)
    h = _draw(np.random.default_rng(5), 33, 50, 128)
    one = ntkfast.tensor_srht(U, V, *h, 128, n_threads=1)
    two = ntkfast.tensor_srht(U, V, *h, 128, n_threads=2)
    np.testing.assert_array_equal(one, two)
    with threadpool_limits(1):
        np.testing.assert_array_equal(ntkfast.tensor_srht(U, V, *h, 128), one)
    # rows do not depend on their chunk: tiny chunks, and each row alone
    import ntkfast.sketch as sk
    monkeypatch.setattr(sk, "_CHUNK_ELEMENTS", 1)
    np.testing.assert_array_equal(ntkfast.tensor_srht(U, V, *h, 128, n_threads=2), one)
    np.testing.assert_array_equal(ntkfast.tensor_srht(U[5:6], V[5:6], *h, 128), one[5:6])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [0.0, 0.3])
def test_ntk_features_threads_and_batches(dtype, bias):
    X = gaussian_data(300, 7, 3).astype(dtype)
    est = ntkfast.NTKRandomFeatures(depth=2, n_components=300, sketch="srht", bias=bias,
                                    random_state=3).fit(X)
    with threadpool_limits(1):
        z1 = est.transform(X)
    with threadpool_limits(2):
        z2 = est.transform(X)
    np.testing.assert_array_equal(z1, z2)
    for batch_size in (1, 17, 300):
        np.testing.assert_array_equal(est.transform(X, batch_size=batch_size), z1)
    e1 = clone(est).set_params(n_threads=1).fit(X)
    e2 = clone(est).set_params(n_threads=2).fit(X)
    np.testing.assert_array_equal(e1.transform(X), e2.transform(X))
    np.testing.assert_array_equal(e1.transform(X), z1)
    np.testing.assert_array_equal(est.transform(X[40:41]), z1[40:41])


# ---------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------
def _ok():
    U, V = _pair(3, 4, 5, 0)
    return dict(U=U, V=V, indices_u=[0, 3], signs_u=[1, -1, 1, 1], indices_v=[4, 0],
                signs_v=[1, 1, -1, 1, -1], n_components=4)


@pytest.mark.parametrize("change,kind,message", [
    ({"n_components": 5}, ValueError, "n_components: expected an even integer"),
    ({"n_components": 0}, ValueError, "n_components"),
    ({"n_components": 2.0}, TypeError, "n_components"),
    ({"U": np.ones(4)}, ValueError, "U: expected a 2-D array"),
    ({"V": np.ones((2, 5))}, ValueError, "V: expected 3 rows"),
    ({"V": np.ones((3, 0))}, ValueError, "V: expected at least 1 feature"),
    ({"U": np.array([[np.nan, 0, 0, 0]] * 3)}, ValueError, "U"),
    ({"V": np.full((3, 5), np.inf)}, ValueError, "V"),
    ({"U": np.array([["a"] * 4] * 3)}, TypeError, "U"),
    ({"indices_u": [0, 4]}, ValueError, r"indices_u: expected values in \[0, 4\)"),
    ({"indices_v": [0]}, ValueError, r"indices_v: expected shape \(2,\)"),
    ({"indices_u": [0.0, 1.0]}, TypeError, "indices_u: expected an integer array"),
    ({"signs_u": [1, 1, 1]}, ValueError, r"signs_u: expected shape \(4,\)"),
    ({"signs_v": [1, 2, 1, 1, 1]}, ValueError, "signs_v: expected values"),
])
def test_bad_inputs(change, kind, message):
    kw = _ok()
    kw.update(change)
    with pytest.raises(kind, match=message):
        ntkfast.tensor_srht(**kw)


def test_bad_ntk_parameters():
    X = gaussian_data(5, 3, 0)
    with pytest.raises(ValueError, match="sketch: expected 'countsketch' or 'srht'"):
        ntkfast.NTKRandomFeatures(sketch="fft").fit(X)
    with pytest.raises(ValueError, match="sketch_components: expected an even integer"):
        ntkfast.NTKRandomFeatures(n_components=64, sketch_components=31, sketch="srht").fit(X)
    with pytest.raises(ValueError, match="n_components: expected >= 3"):
        ntkfast.NTKRandomFeatures(n_components=2, sketch="srht").fit(X)
    # the default split is rounded down to an even width; the NNGP ignores the sketch
    rf = ntkfast.NTKRandomFeatures(n_components=27, sketch="srht", random_state=0).fit(X)
    assert rf.n_sketch_ % 2 == 0 and rf.transform(X).shape == (5, 27)
    assert ntkfast.NTKRandomFeatures(n_components=27, sketch="srht", kernel="nngp").fit(X).n_sketch_ == 0


def test_inconsistent_assigned_arrays_are_refused():
    X = gaussian_data(5, 3, 0)
    rf = ntkfast.NTKRandomFeatures(n_components=40, sketch_components=20, sketch="srht",
                                   random_state=0).fit(X)
    rf.sketch_indices_ = [np.full(10, 3, dtype=np.intp)]  # frequency 3 of a length-3 DFT
    with pytest.raises(ValueError, match=r"sketch_indices_\[0\]: expected values in \[0, 3\)"):
        rf.transform(X)


# ---------------------------------------------------------------------------
# the NTK features with sketch="srht"
# ---------------------------------------------------------------------------
def _reference(X, est):
    """SPEC section 5 in numpy from the fitted arrays, TensorSRHT through its explicit
    matrix on the explicit tensor product."""
    X = np.asarray(X, dtype=np.float64)
    b = est.bias_
    col = (lambda Z: np.c_[Z, np.full(len(Z), np.sqrt(b))]) if b > 0 else (lambda Z: Z)
    phi = psi = col(X)
    for h in range(est.depth):
        a = R._step_features(phi, est.step_weights_[h])
        phi = col(R._relu_features(phi, est.relu_weights_[h], est.leverage))
        ts = _srht_reference(psi, a, est.sketch_indices_[h], est.sketch_signs_[h],
                             est.step_indices_[h], est.step_signs_[h], est.n_sketch_)
        psi = np.concatenate([phi, ts], axis=1)
    return psi


@pytest.mark.parametrize("depth,bias,m0", [(1, 0.0, None), (2, 0.5, None), (2, 0.0, 9)])
def test_features_match_reference(depth, bias, m0):
    X = gaussian_data(6, 4, depth)
    est = ntkfast.NTKRandomFeatures(depth=depth, n_components=40, sketch_components=16,
                                    step_components=m0, bias=bias, sketch="srht",
                                    random_state=depth).fit(X)
    assert est.sketch_ == "srht"
    assert est.sketch_indices_[0].shape == (8,) and est.sketch_signs_[0].shape == (4 + (bias > 0),)
    np.testing.assert_allclose(est.transform(X), _reference(X, est), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_converges_to_exact_ntk(depth):
    """The relative Frobenius error of Phi Phi^T, averaged over seeds, shrinks as the width
    grows (about 1/sqrt(width)) and is small at 8192."""
    X = gaussian_data(40, 5, depth)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    K = ntkfast.ntk_kernel(X, depth=depth)
    errs = []
    for width in (128, 1024, 8192):
        e = []
        for seed in range(3):
            P = ntkfast.NTKRandomFeatures(depth=depth, n_components=width, sketch="srht",
                                          random_state=seed).fit_transform(X)
            e.append(np.linalg.norm(P @ P.T - K) / np.linalg.norm(K))
        errs.append(np.mean(e))
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < 0.15, errs


def test_unbiased_against_exact_ntk():
    """Mean of Phi Phi^T over S seeds within 5 standard errors of the exact NTK (per entry)."""
    S = 300
    X = gaussian_data(5, 4, 3)
    K = ntkfast.ntk_kernel(X, depth=2)
    ests = np.array([(lambda P: P @ P.T)(
        ntkfast.NTKRandomFeatures(depth=2, n_components=64, sketch_components=32, sketch="srht",
                                  random_state=s).fit_transform(X)) for s in range(S)])
    iu = np.triu_indices(5)
    z = (ests.mean(axis=0)[iu] - K[iu]) / (ests.std(axis=0, ddof=1)[iu] / np.sqrt(S))
    assert np.all(np.abs(z) < 5), z


# ---------------------------------------------------------------------------
# model files, pickles, ridge, CLI, dask
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_file_round_trip(tmp_path, dtype):
    X = gaussian_data(10, 4, 2).astype(dtype)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=48, sketch="srht", random_state=1).fit(X)
    save_model(rf, tmp_path / "rf.npz")
    back = load_model(tmp_path / "rf.npz")
    assert back.sketch == back.sketch_ == "srht"
    np.testing.assert_array_equal(back.transform(X), rf.transform(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rf)).transform(X), rf.transform(X))


@pytest.mark.parametrize("ridge", [False, True])
def test_old_model_file_without_sketch_loads_as_countsketch(tmp_path, ridge):
    X = gaussian_data(40, 4, 2)
    if ridge:
        model = ntkfast.NTKRidge(depth=2, n_components=48, random_state=1).fit(X, X[:, 0])
    else:
        model = ntkfast.NTKRandomFeatures(depth=2, n_components=48, random_state=1).fit(X)
    save_model(model, tmp_path / "m.npz")
    rewrite_as_older(tmp_path / "m.npz", tmp_path / "old.npz", "sketch", "countsketch")
    back = load_model(tmp_path / "old.npz")
    assert back.sketch == "countsketch"
    if ridge:
        np.testing.assert_array_equal(back.predict(X), model.predict(X))
    else:
        np.testing.assert_array_equal(back.transform(X), model.transform(X))


def test_old_pickles_without_sketch():
    X = gaussian_data(40, 3, 5)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=48, random_state=1).fit(X)
    state = rf.__getstate__()
    del state["sketch"], state["sketch_"]
    old = ntkfast.NTKRandomFeatures.__new__(ntkfast.NTKRandomFeatures)
    old.__setstate__(state)
    assert old.sketch == old.sketch_ == "countsketch"
    np.testing.assert_array_equal(old.transform(X), rf.transform(X))
    model = ntkfast.NTKRidge(depth=2, n_components=48, random_state=0).fit(X, X[:, 0])
    state = model.__getstate__()
    del state["sketch"]
    old = ntkfast.NTKRidge.__new__(ntkfast.NTKRidge)
    old.__setstate__(state)
    assert old.get_params()["sketch"] == "countsketch"
    np.testing.assert_array_equal(old.predict(X), model.predict(X))


@pytest.mark.parametrize("cls", [ntkfast.NTKRidge, ntkfast.NTKRidgeClassifier])
def test_ridge_passes_sketch_on(tmp_path, cls):
    X = gaussian_data(60, 3, 5)
    y = X[:, 0] > 0 if cls is ntkfast.NTKRidgeClassifier else X[:, 0]
    model = cls(depth=2, n_components=64, sketch="srht", random_state=0).fit(X, y)
    assert model.features_.sketch_ == "srht"
    save_model(model, tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert back.sketch == "srht"
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="sketch_components: expected an even integer"):
        cls(n_components=64, sketch_components=33, sketch="srht").fit(X, y)


def test_cli_sketch_option(tmp_path, capsys):
    from ntkfast.cli import main
    X = gaussian_data(30, 3, 1)
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "f.npy"
    code = main(["transform", "--data", str(tmp_path / "x.npy"), "--out", str(out), "--depth", "2",
                 "--n-components", "64", "--sketch", "srht", "--random-state", "4", "-q"])
    assert code == 0, capsys.readouterr().err
    want = ntkfast.NTKRandomFeatures(depth=2, n_components=64, sketch="srht", random_state=4).fit(X)
    np.testing.assert_array_equal(np.load(out), want.transform(X))
    code = main(["transform", "--data", str(tmp_path / "x.npy"), "--out", str(out),
                 "--sketch", "fft", "-q"])
    assert code == 2 and "--sketch" in capsys.readouterr().err
    # fit: the ridge model's features; an odd sketch width is a one-line error
    np.savetxt(tmp_path / "d.csv", np.c_[X, X[:, 0]], delimiter=",", header="a,b,c,y", comments="")
    code = main(["fit", "--data", str(tmp_path / "d.csv"), "--target", "y", "--model",
                 str(tmp_path / "m.npz"), "--n-components", "32", "--sketch", "srht", "-q"])
    assert code == 0, capsys.readouterr().err
    assert load_model(tmp_path / "m.npz").features_.sketch_ == "srht"
    code = main(["fit", "--data", str(tmp_path / "d.csv"), "--target", "y", "--model",
                 str(tmp_path / "m2.npz"), "--n-components", "32", "--sketch-components", "15",
                 "--sketch", "srht", "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "sketch_components: expected an even integer" in err, err
    # with the bias, and refused with transform --model (the model holds the sketch)
    code = main(["transform", "--data", str(tmp_path / "x.npy"), "--out", str(out), "--n-components", "32",
                 "--sketch", "srht", "--bias", "0.5", "--save-model", str(tmp_path / "rf.npz"), "-q"])
    assert code == 0, capsys.readouterr().err
    rf = load_model(tmp_path / "rf.npz")
    assert (rf.sketch_, rf.bias_) == ("srht", 0.5)
    np.testing.assert_array_equal(np.load(out), rf.transform(X))
    code = main(["transform", "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "g.npy"),
                 "--model", str(tmp_path / "rf.npz"), "--sketch", "srht", "-q"])
    assert code == 2 and "--sketch" in capsys.readouterr().err


def test_dask_transform_bit_identical():
    da = pytest.importorskip("dask.array")
    X = gaussian_data(150, 5, 6)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=100, sketch="srht", random_state=2).fit(X)
    got = rf.transform(da.from_array(X, chunks=(41, 5))).compute(scheduler="threads")
    np.testing.assert_array_equal(got, rf.transform(X))
