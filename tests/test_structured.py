"""Structured projections (``NTKRandomFeatures(projection="fastfood" / "sorf")``).

References, all plain numpy: the Walsh-Hadamard matrix of ``scipy.linalg.hadamard`` and the
explicit p x p blocks ``H D P ...`` built from the fitted diagonals and permutations; the
feature map of SPEC section 5 with those matrices in place of the Gaussian weights (the row
norms for the leverage scales recomputed from the explicit matrix); the exact NTK.
"""
import pickle

import numpy as np
import pytest
from scipy.linalg import hadamard
from threadpoolctl import threadpool_limits

import ntkfast
import reference as R
from conftest import gaussian_data, rewrite_as_older
from ntkfast import _sketch
from ntkfast.io import load_model, save_model


# ---------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------
def _explicit(diag, perm, k, m):
    """The (m, k) matrix of the structured projection: blocks H (D * v[perm]) ... stacked."""
    nb, ns, p = diag.shape
    H = hadamard(p).astype(np.float64)
    blocks = []
    for b in range(nb):
        M = np.eye(p)
        for s in range(ns):
            P = np.eye(p)[perm[b, s]] if perm is not None else np.eye(p)
            M = H @ (np.diag(np.asarray(diag[b, s], np.float64)) @ P @ M)
        blocks.append(M)
    return np.vstack(blocks)[:m, :k]


def _reference(X, est):
    """SPEC section 5 from the fitted arrays with one explicit matrix per layer shared by the
    ReLU and step features; the TensorSketch through reference.py (plain loops, numpy FFT),
    TensorSRHT through test_srht's explicit matrix."""
    from test_srht import _srht_reference
    X = np.asarray(X, dtype=np.float64)
    b, m1, m0, ms = est.bias_, est.n_relu_, est.n_step_, est.n_sketch_
    col = (lambda Z: np.c_[Z, np.full(len(Z), np.sqrt(b))]) if b > 0 else (lambda Z: Z)
    phi = psi = col(X)
    for h in range(est.depth):
        k = phi.shape[1]
        perm = est.projection_permutations_[h] if est.projection_ == "fastfood" else None
        M = _explicit(est.projection_diagonals_[h], perm, k, max(m1, m0))
        if h == 0 and est.projection_ == "sorf":  # the first layer projects Q x
            M = M @ np.asarray(est.projection_rotations_[0], np.float64)
        Z = phi @ M.T
        norms = np.linalg.norm(M[:m1], axis=1)
        p, stages = est.projection_diagonals_[h].shape[2], est.projection_diagonals_[h].shape[1]
        if est.leverage:
            scales = np.sqrt(2.0 * k / m1) / norms
        elif est.projection_ == "fastfood":
            scales = np.full(m1, np.sqrt(2.0 / m1) / np.sqrt(p) ** (stages - 1))
        else:  # sorf: random chi lengths (checked in test_sorf_lengths_are_chi)
            scales = est.relu_scales_[h]
        new_phi = col(np.maximum(Z[:, :m1], 0) * scales)
        if ms:
            a = (Z[:, :m0] > 0) * np.sqrt(2.0 / m0)
            if est.sketch_ == "srht":
                ts = _srht_reference(psi, a, est.sketch_indices_[h], est.sketch_signs_[h],
                                     est.step_indices_[h], est.step_signs_[h], ms)
            else:
                c1 = R.count_sketch(psi, est.sketch_indices_[h], est.sketch_signs_[h], ms)
                c2 = R.count_sketch(a, est.step_indices_[h], est.step_signs_[h], ms)
                ts = R.circular_convolution(c1, c2)
            psi = np.concatenate([new_phi, ts], axis=1)
        phi = new_phi
    return psi if ms else phi


# ---------------------------------------------------------------------------
# the compiled projection against the explicit matrix
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("k,m,p,stages,with_perm", [
    (1, 3, 1, 1, False), (2, 7, 2, 2, True), (3, 5, 4, 3, False), (9, 40, 16, 3, True),
    (50, 150, 64, 2, True), (100, 300, 128, 2, False), (300, 700, 512, 2, True),
    (600, 1000, 1024, 3, False)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_projection_matches_explicit_matrix(k, m, p, stages, with_perm, dtype, tol):
    rng = np.random.default_rng(k + m)
    nb = -(-m // p)
    diag = rng.standard_normal((nb, stages, p)).astype(dtype)
    perm = (np.array([[rng.permutation(p) for _ in range(stages)] for _ in range(nb)])
            if with_perm else None)
    X = rng.standard_normal((7, k)).astype(dtype)
    proj = _sketch.StructuredProjection(k, m, diag, perm)
    relu, step = np.zeros((7, m), dtype), np.zeros((7, m), dtype)
    _sketch.structured_activation(X, proj, np.full(m, 0.5, dtype), relu, 2.0, step, 2)
    Z = X.astype(np.float64) @ _explicit(diag, perm, k, m).T
    np.testing.assert_allclose(relu, 0.5 * np.maximum(Z, 0), rtol=0, atol=tol * np.abs(Z).max())
    np.testing.assert_array_equal(step, 2.0 * (Z > 0))
    # pickling goes through the checking constructor
    again = pickle.loads(pickle.dumps(proj))
    relu2 = np.zeros_like(relu)
    _sketch.structured_activation(X, again, np.full(m, 0.5, dtype), relu2, 0.0, None, 1)
    np.testing.assert_array_equal(relu2, relu)


@pytest.mark.parametrize("bad,message", [
    (dict(diag=np.ones((1, 2, 6))), "power of 2"),
    (dict(k=9), "1 <= k <= 8"),
    (dict(m=17), "blocks"),
    (dict(diag=np.full((1, 2, 8), np.nan)), "finite"),
    (dict(perm=np.full((1, 2, 8), 8)), r"indices in \[0, 8\)"),
    (dict(perm=np.zeros((1, 1, 8), dtype=np.intp)), "shape"),
])
def test_projection_refuses_bad_arrays(bad, message):
    args = dict(k=5, m=8, diag=np.ones((1, 2, 8)), perm=None)
    args.update(bad)
    with pytest.raises(ValueError, match=message):
        _sketch.StructuredProjection(args["k"], args["m"], args["diag"], args["perm"])


def test_drivers_refuse_inconsistent_arrays():
    proj = _sketch.StructuredProjection(5, 8, np.ones((1, 2, 8)), None)
    X = np.zeros((4, 5))
    with pytest.raises(ValueError, match="at least 5 columns"):
        _sketch.structured_activation(np.zeros((4, 3)), proj, np.ones(8), np.zeros((4, 8)), 0.0, None, 1)
    with pytest.raises(ValueError, match="expected at most 8"):
        _sketch.structured_activation(X, proj, np.ones(9), np.zeros((4, 9)), 0.0, None, 1)
    with pytest.raises(ValueError, match="float32"):
        _sketch.structured_activation(X.astype(np.float32), proj, np.ones(8, np.float32),
                                      np.zeros((4, 8), np.float32), 0.0, None, 1)
    with pytest.raises(ValueError, match="values > 0"):
        _sketch.structured_activation(X, proj, -np.ones(8), np.zeros((4, 8)), 0.0, None, 1)
    with pytest.raises(ValueError, match=r"bucket indices in \[0, 4\)"):
        _sketch.ntk_layer_inputs_structured(X, X, proj, np.ones(8), 1.0, np.full(8, 4, dtype=np.intp),
                                            np.ones(8), np.zeros(5, dtype=np.intp), np.ones(5),
                                            np.zeros((4, 8)), np.zeros((4, 4)), np.zeros((4, 4)), 1)


# ---------------------------------------------------------------------------
# NTKRandomFeatures against the reference
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("projection", ["fastfood", "sorf"])
@pytest.mark.parametrize("depth,bias,m0,sketch,leverage", [
    (1, 0.0, None, "countsketch", True), (2, 0.0, None, "countsketch", False),
    (2, 0.5, None, "countsketch", True), (3, 0.0, 30, "countsketch", True),
    (2, 0.0, 7, "srht", True), (2, 0.3, None, "srht", False)])
def test_features_match_reference(projection, depth, bias, m0, sketch, leverage):
    X = gaussian_data(6, 5, depth)
    est = ntkfast.NTKRandomFeatures(depth=depth, n_components=40, sketch_components=16,
                                    step_components=m0, bias=bias, sketch=sketch,
                                    projection=projection, leverage=leverage,
                                    random_state=depth).fit(X)
    assert est.relu_weights_ == [] and est.step_weights_ == []
    np.testing.assert_allclose(est.transform(X), _reference(X, est), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("projection", ["fastfood", "sorf"])
def test_nngp_features_match_reference(projection):
    X = gaussian_data(6, 3, 1)
    est = ntkfast.NTKRandomFeatures(depth=2, n_components=20, kernel="nngp",
                                    projection=projection, random_state=0).fit(X)
    np.testing.assert_allclose(est.transform(X), _reference(X, est), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("projection", ["fastfood", "sorf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sketch", ["countsketch", "srht"])
def test_threads_and_batches_give_the_same_bits(projection, dtype, sketch):
    X = gaussian_data(301, 7, 2).astype(dtype)
    est = ntkfast.NTKRandomFeatures(depth=2, n_components=300, projection=projection,
                                    sketch=sketch, bias=0.2, random_state=3).fit(X)
    with threadpool_limits(1):
        one = ntkfast.NTKRandomFeatures(**{**est.get_params(), "n_threads": 1}).fit(X).transform(X)
    two = est.set_params(n_threads=2).transform(X, batch_size=37)
    assert one.dtype == dtype
    np.testing.assert_array_equal(one, two)
    if dtype == np.float32:  # float32 follows the float64 features to float32 rounding
        ref = ntkfast.NTKRandomFeatures(**est.get_params()).fit(X.astype(np.float64)).transform(X.astype(np.float64))
        assert np.abs(one - ref).max() < 1e-3 * np.abs(ref).max()


def test_fastfood_rows_are_standard_gaussian():
    """Each row of a fastfood block is exactly N(0, I) after the scale: over many fits the
    entries of one row have variance 1 and the squared row norm of k = 6 inputs a chi^2(6)
    distribution (Kolmogorov-Smirnov)."""
    from scipy import stats
    entries, sq = [], []
    for seed in range(400):
        est = ntkfast.NTKRandomFeatures(depth=1, n_components=12, sketch_components=4,
                                        projection="fastfood", leverage=False,
                                        random_state=seed).fit(np.zeros((1, 6)))
        M = _explicit(est.projection_diagonals_[0], est.projection_permutations_[0], 6, 8)
        W = M / np.sqrt(8)  # p = 8, two stages: divide by sqrt(p)
        entries.append(W[seed % 8])
        sq.append(W[seed % 8] @ W[seed % 8])
    entries = np.concatenate(entries)
    assert abs(entries.var() - 1) < 0.1
    assert stats.kstest(sq, stats.chi2(6).cdf).pvalue > 1e-3


def test_sorf_rotation_is_orthogonal_and_lengths_are_chi():
    """sorf: the first layer's rotation is orthogonal (and Haar: its first row's first entry
    has the law of u_1 for u uniform on the sphere, (u_1 + 1) / 2 ~ Beta((k-1)/2, (k-1)/2));
    without leverage each ReLU scale times ||w_j|| / sqrt(2 / m1) is chi(d_h)-distributed."""
    from scipy import stats
    k, firsts, lengths = 6, [], []
    for seed in range(300):
        est = ntkfast.NTKRandomFeatures(depth=1, n_components=40, sketch_components=8,
                                        projection="sorf", leverage=False,
                                        random_state=seed).fit(np.zeros((1, k)))
        Q = est.projection_rotations_[0]
        np.testing.assert_allclose(Q @ Q.T, np.eye(k), atol=1e-12)
        firsts.append(Q[0, 0])
        M = _explicit(est.projection_diagonals_[0], None, k, 32) @ Q
        lengths.append(est.relu_scales_[0][seed % 32] * np.linalg.norm(M[seed % 32]) / np.sqrt(2.0 / 32))
    assert stats.kstest((np.array(firsts) + 1) / 2, stats.beta((k - 1) / 2, (k - 1) / 2).cdf).pvalue > 1e-3
    assert stats.kstest(lengths, stats.chi(k).cdf).pvalue > 1e-3


@pytest.mark.parametrize("projection", ["fastfood", "gaussian", "sorf"])
@pytest.mark.parametrize("depth", [1, 2])
def test_unbiased_on_axis_aligned_inputs(projection, depth):
    """Mean of Phi Phi^T over S seeds within 5 standard errors of the exact NTK (per entry),
    on inputs along the coordinate axes (where sorf directions without the first layer's
    rotation are furthest from uniform)."""
    S = 300
    X = np.zeros((5, 8))
    X[[0, 1, 2, 3, 4], [0, 1, 5, 0, 3]] = 1.0
    X[3, 7] = 1.0
    K = ntkfast.ntk_kernel(X, depth=depth)
    ests = np.array([(lambda P: P @ P.T)(
        ntkfast.NTKRandomFeatures(depth=depth, n_components=48, sketch_components=24,
                                  projection=projection, random_state=s).fit_transform(X))
        for s in range(S)])
    iu = np.triu_indices(5)
    z = (ests.mean(axis=0)[iu] - K[iu]) / (ests.std(axis=0, ddof=1)[iu] / np.sqrt(S))
    assert np.all(np.abs(z) < 5), z


@pytest.mark.parametrize("projection", ["fastfood", "sorf"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_converges_to_exact_ntk(projection, depth):
    X = gaussian_data(40, 5, depth)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    K = ntkfast.ntk_kernel(X, depth=depth)
    errs = []
    for width in (128, 1024, 8192):
        e = [np.linalg.norm((lambda P: P @ P.T)(ntkfast.NTKRandomFeatures(
            depth=depth, n_components=width, projection=projection,
            random_state=seed).fit_transform(X)) - K) / np.linalg.norm(K) for seed in range(3)]
        errs.append(np.mean(e))
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < 0.15, errs


# ---------------------------------------------------------------------------
# fitted arrays, model files, pickles, ridge, CLI
# ---------------------------------------------------------------------------
def test_assigned_arrays_are_checked():
    X = gaussian_data(5, 3, 0)
    rf = ntkfast.NTKRandomFeatures(n_components=40, projection="fastfood", random_state=0).fit(X)
    perm = rf.projection_permutations_[0].copy()
    perm[0, 1, 0] = perm[0, 1, 1]
    rf.projection_permutations_ = [perm]
    with pytest.raises(ValueError, match=r"projection_permutations_\[0\]: expected a permutation"):
        rf.transform(X)
    rf = ntkfast.NTKRandomFeatures(n_components=40, projection="sorf", random_state=0).fit(X)
    rf.projection_diagonals_ = [rf.projection_diagonals_[0][:, :2]]
    with pytest.raises(ValueError, match=r"projection_diagonals_\[0\]: expected shape"):
        rf.transform(X)
    with pytest.raises(ValueError, match="projection: expected 'gaussian' or 'fastfood' or 'sorf'"):
        ntkfast.NTKRandomFeatures(projection="orthogonal").fit(X)


@pytest.mark.parametrize("projection", ["fastfood", "sorf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_file_and_pickle_round_trip(tmp_path, projection, dtype):
    X = gaussian_data(10, 4, 2).astype(dtype)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=48, projection=projection, random_state=1).fit(X)
    save_model(rf, tmp_path / "rf.npz")
    back = load_model(tmp_path / "rf.npz")
    assert back.projection == back.projection_ == projection
    np.testing.assert_array_equal(back.transform(X), rf.transform(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rf)).transform(X), rf.transform(X))


def test_old_model_file_and_pickle_load_as_gaussian(tmp_path):
    X = gaussian_data(40, 4, 2)
    model = ntkfast.NTKRidge(depth=2, n_components=48, random_state=1).fit(X, X[:, 0])
    save_model(model, tmp_path / "m.npz")
    rewrite_as_older(tmp_path / "m.npz", tmp_path / "old.npz", "projection", "gaussian")
    back = load_model(tmp_path / "old.npz")
    assert back.projection == "gaussian"
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=48, random_state=1).fit(X)
    state = rf.__getstate__()
    for name in ("projection", "projection_", "projection_diagonals_", "projection_permutations_"):
        del state[name]
    old = ntkfast.NTKRandomFeatures.__new__(ntkfast.NTKRandomFeatures)
    old.__setstate__(state)
    assert old.projection == old.projection_ == "gaussian"
    np.testing.assert_array_equal(old.transform(X), rf.transform(X))


def test_ridge_and_cli_pass_projection_on(tmp_path, capsys):
    X = gaussian_data(80, 3, 5)
    y = X[:, 0] - X[:, 1] ** 2
    model = ntkfast.NTKRidge(depth=2, n_components=64, projection="sorf", random_state=0).fit(X, y)
    assert model.features_.projection_ == "sorf"
    np.testing.assert_allclose(model.predict(X), model.features_.transform(X) @ model.coef_ + model.intercept_,
                               rtol=1e-10, atol=1e-10)
    from ntkfast.cli import main
    np.save(tmp_path / "x.npy", X)
    code = main(["transform", "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "f.npy"),
                 "--depth", "2", "--n-components", "64", "--projection", "fastfood",
                 "--random-state", "4", "-q"])
    assert code == 0, capsys.readouterr().err
    ref = ntkfast.NTKRandomFeatures(depth=2, n_components=64, projection="fastfood",
                                    random_state=4).fit(X).transform(X)
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), ref)
    code = main(["transform", "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "g.npy"),
                 "--projection", "hadamard", "-q"])
    assert code == 2 and "--projection" in capsys.readouterr().err


def test_dask_transform_matches_in_memory():
    da = pytest.importorskip("dask.array")
    X = gaussian_data(90, 4, 1)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=64, projection="sorf", random_state=0).fit(X)
    out = rf.transform(da.from_array(X, chunks=(25, 4))).compute()
    np.testing.assert_array_equal(out, rf.transform(X))
