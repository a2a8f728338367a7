"""NTKSketch (SPEC section 8) against plain numpy, never against itself.

Three kinds of test, as for the other feature maps:

* exact: the compiled transform equals ``reference.ntk_sketch_reference`` (full complex
  FFTs, a recursive PolySketch tree, explicit CountSketches) for given fitted attributes;
* statistical: over many seeds PolySketch is unbiased for the explicit tensor products, and
  the depth-1 Gram matrix is unbiased for the NTK of the fitted polynomials
  (``reference.poly_ntk_kernel``), checked entry by entry with a z-test at 5 standard errors
  of the mean (any seed passes but for a 1e-5 chance; the same test tells the exact NTK
  apart);
* against the exact NTK (``ntkfast.ntk_kernel``): a relative Frobenius error below the
  polynomials' own error plus a sketch term, justified in ``test_error_against_exact_ntk``.
"""
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

import ntkfast
import reference as ref
from ntkfast.io import load_model, save_model


def _data(n=20, d=5, seed=0, dtype=np.float64):
    X = np.random.default_rng(seed).standard_normal((n, d))
    X[3] = 0.0  # a zero row: zero features
    return X.astype(dtype)


# ----------------------------------------------------------------------- polynomials

# Largest errors on [-1, 1] of the fits measured when the default degree was chosen (README,
# "NTK Sketch"), rounded up: kappa0 has an infinite derivative at +-1 and converges slowly.
FIT_BOUNDS = {4: (2e-3, 0.075), 8: (5e-4, 0.045), 16: (2e-4, 0.03)}


@pytest.mark.parametrize("degree", sorted(FIT_BOUNDS))
def test_polynomials_fit_the_arccos_functions(degree):
    est = ntkfast.NTKSketch(degree=degree, n_components=8, random_state=0).fit(_data())
    c, b = est.relu_coefs_, est.step_coefs_
    assert c.shape == b.shape == (degree + 1,) and c.dtype == b.dtype == np.float64
    assert (c >= 0).all() and (b >= 0).all()  # positive-definite dot-product kernels
    t = np.linspace(-1, 1, 10001)
    P1 = np.polynomial.Polynomial(c)(t)
    P0 = np.polynomial.Polynomial(b)(t)
    bound1, bound0 = FIT_BOUNDS[degree]
    assert np.abs(P1 - ref.kappa1(t)).max() < bound1
    assert np.abs(P0 - ref.kappa0(t)).max() < bound0
    # t = 1 (every row with itself, the kernel's diagonal) is fitted closely.
    assert abs(P1[-1] - 1) < 1e-4 and abs(P0[-1] - 1) < 1e-3
    # A least-squares fit: error on the grid well below a poor one, the Taylor series cut at q.
    taylor1 = np.polynomial.Polynomial([1 / np.pi, 0.5, 1 / (2 * np.pi)] + [0] * (degree - 2))(t)
    assert np.sqrt(np.mean((P1 - ref.kappa1(t)) ** 2)) < np.sqrt(np.mean((taylor1 - ref.kappa1(t)) ** 2))


# ----------------------------------------------------------------------- exact

@pytest.mark.parametrize("depth, degree, n_components, poly_components",
                         [(1, 2, 10, None), (2, 3, 12, 6), (2, 5, 16, 10), (3, 8, 20, None), (1, 8, 64, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_reference(depth, degree, n_components, poly_components, dtype):
    X = _data(dtype=dtype)
    est = ntkfast.NTKSketch(depth=depth, degree=degree, n_components=n_components,
                            poly_components=poly_components, random_state=depth + degree).fit(X)
    got = est.transform(X)
    assert got.dtype == dtype and got.shape == (20, n_components)
    expected = ref.ntk_sketch_reference(X.astype(np.float64), est)
    scale = np.abs(expected).max()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert_allclose(got, expected, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("depth, degree, n_components", [(1, 3, 10), (3, 8, 24), (5, 5, 16)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_matches_reference(depth, degree, n_components, dtype):
    X = _data(dtype=dtype)
    est = ntkfast.NTKSketch(depth=depth, degree=degree, n_components=n_components, method="direct",
                            random_state=depth).fit(X)
    assert (est.n_relu_, est.n_sketch_) == (n_components, 0) and est.step_coefs_.shape == (0,)
    assert len(est.leaf_signs_) == len(est.relu_hash_) == 1 and est.step_hash_ == []
    got = est.transform(X)
    assert got.dtype == dtype and got.shape == (20, n_components)
    expected = ref.ntk_sketch_reference(X.astype(np.float64), est)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert_allclose(got, expected, rtol=0, atol=tol * np.abs(expected).max())


# Largest errors on [-1, 1] of the direct map's polynomial against Theta_L on unit rows
# (measured when writing this test: 0.036, 0.197, 0.504, 0.137, rounded up; the largest
# errors are near t = -1, and Theta_L(1) = L + 1), and its value at t = 1.
DIRECT_BOUNDS = {(1, 8): 0.05, (3, 8): 0.25, (5, 8): 0.6, (3, 16): 0.18}


@pytest.mark.parametrize("depth, degree", sorted(DIRECT_BOUNDS))
def test_direct_polynomial_fits_the_ntk(depth, degree):
    est = ntkfast.NTKSketch(depth=depth, degree=degree, method="direct", n_components=8,
                            random_state=0).fit(_data())
    a = est.relu_coefs_
    assert a.shape == (degree + 1,) and (a >= 0).all()
    t = np.linspace(-1, 1, 10001)
    P = np.polynomial.Polynomial(a)(t)
    f = ref.ntk_on_unit_rows(t, depth)
    assert np.abs(P - f).max() < DIRECT_BOUNDS[depth, degree]
    assert abs(P[-1] - (depth + 1)) < 1e-3 * (depth + 1)


def test_widths():
    est = ntkfast.NTKSketch(n_components=101, degree=5, random_state=0).fit(_data())
    # ms: half, rounded down to even; m1 the rest; s: m1 rounded up to even.
    assert (est.n_sketch_, est.n_relu_, est.n_poly_) == (50, 51, 52)
    assert est.get_feature_names_out().tolist() == [f"ntksketch{i}" for i in range(101)]
    # p = 8 leaves for degree 5: 4 nodes at level 1, 2 + 1 above.
    assert est.leaf_signs_[0].shape == (4, 2, 5) and est.node_freqs_[0].shape == (3, 2, 26)


def test_zero_rows_and_homogeneity():
    X = _data()
    est = ntkfast.NTKSketch(depth=3, degree=6, n_components=40, random_state=1).fit(X)
    P = est.transform(X)
    assert np.isfinite(P).all() and not P[3].any() and P[np.arange(20) != 3].any(axis=1).all()
    assert_allclose(est.transform(2.5 * X), 2.5 * P, rtol=1e-12, atol=1e-12 * np.abs(P).max())
    assert not est.transform(np.zeros((4, 5))).any()


@pytest.mark.parametrize("method", ["layers", "direct"])
def test_deterministic_across_threads_and_batches(method):
    X = _data(n=500, d=9, seed=3)
    for dtype in (np.float64, np.float32):
        Xt = X.astype(dtype)
        est = ntkfast.NTKSketch(depth=2, degree=7, n_components=300, random_state=11, n_threads=2,
                                method=method).fit(Xt)
        full = est.transform(Xt)
        for batch_size in (1, 7, 193):
            assert_array_equal(est.transform(Xt, batch_size=batch_size), full)
        est.set_params(n_threads=1)
        assert_array_equal(est.transform(Xt), full)
        est.set_params(n_threads=None)
        with threadpool_limits(1):
            assert_array_equal(est.transform(Xt), full)
        again = ntkfast.NTKSketch(depth=2, degree=7, n_components=300, random_state=11, method=method).fit(Xt)
        assert_array_equal(again.transform(Xt), full)
        assert_array_equal(est.transform(Xt[::-1])[::-1], full)  # a row's features are its own


def test_dtypes():
    X = _data()
    e32 = ntkfast.NTKSketch(depth=2, n_components=64, random_state=0).fit(X.astype(np.float32))
    e64 = ntkfast.NTKSketch(depth=2, n_components=64, random_state=0).fit(X)
    assert e32.dtype_ == np.float32 and e64.dtype_ == np.float64
    P32, P64 = e32.transform(X.astype(np.float32)), e64.transform(X)
    assert P32.dtype == np.float32
    assert_allclose(P32, P64, rtol=0, atol=1e-5 * np.abs(P64).max())
    assert e32.transform(X).dtype == np.float64  # float64 X through a float32 fit: float64
    Xi = np.round(10 * X).astype(np.int64)
    assert_array_equal(e64.transform(Xi), e64.transform(Xi.astype(np.float64)))


def test_input_errors():
    X = _data()
    est = ntkfast.NTKSketch(n_components=16, random_state=0).fit(X)
    bad = X.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        est.transform(bad)
    bad[4, 2] = np.inf
    with pytest.raises(ValueError, match="row 4"):
        ntkfast.NTKSketch(n_components=16).fit(bad)
    with pytest.raises(ValueError, match=r"expected 5 features \(as seen in fit\), got 4"):
        est.transform(X[:, :4])
    with pytest.raises(ValueError, match="2-D"):
        est.transform(X[0])
    with pytest.raises(ValueError, match="at least 1 feature"):
        ntkfast.NTKSketch(n_components=16).fit(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="at least 1 sample"):
        ntkfast.NTKSketch(n_components=16).fit(np.zeros((0, 3)))


@pytest.mark.parametrize("params, match", [
    (dict(degree=1), r"^degree: expected an integer >= 2"),
    (dict(degree=65), r"^degree: expected an integer"),
    (dict(n_components=2), r"^n_components: expected an integer >= 3, got 2$"),
    (dict(n_components=10, sketch_components=3), r"^sketch_components: expected an even integer"),
    (dict(n_components=10, sketch_components=10), r"^sketch_components: expected an integer"),
    (dict(poly_components=7), r"^poly_components: expected an even integer"),
    (dict(depth=0), r"^depth"),
    (dict(method="tree"), r"^method: expected 'layers' or 'direct', got 'tree'$"),
])
def test_parameter_errors(params, match):
    est = ntkfast.NTKSketch(**params)
    with pytest.raises(ValueError, match=match):
        est.fit(_data())
    assert not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("params", [dict(depth=2, degree=5), dict(depth=3, degree=2, method="direct")])
def test_model_file_and_pickle(tmp_path, params):
    X = _data()
    est = ntkfast.NTKSketch(n_components=30, random_state=2, **params).fit(X.astype(np.float32))
    path = tmp_path / "sketch.npz"
    save_model(est, path)
    loaded = load_model(path)
    assert type(loaded) is ntkfast.NTKSketch and loaded.get_params() == est.get_params()
    assert_array_equal(loaded.transform(X.astype(np.float32)), est.transform(X.astype(np.float32)))
    assert_array_equal(loaded.relu_coefs_, est.relu_coefs_)
    back = pickle.loads(pickle.dumps(est))
    assert_array_equal(back.transform(X), est.transform(X))


def test_inconsistent_attributes_are_refused():
    est = ntkfast.NTKSketch(depth=2, degree=4, n_components=16, random_state=0).fit(_data())
    freqs = est.leaf_freqs_[1].copy()
    freqs[0, 1, 0] = est.n_relu_  # out of [0, m1)
    est.leaf_freqs_ = [est.leaf_freqs_[0], freqs]
    with pytest.raises(ValueError, match=r"leaf_freqs_\[1\]"):
        est.transform(_data())
    est = ntkfast.NTKSketch(degree=4, n_components=16, random_state=0).fit(_data())
    est.step_coefs_ = -est.step_coefs_
    with pytest.raises(ValueError, match="step_coefs_"):
        est.transform(_data())


# ----------------------------------------------------------------------- statistical

def _z_max(samples, target):
    """Largest |mean - target| / (standard error of the mean) over the entries."""
    samples = np.asarray(samples)
    sem = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    return np.max(np.abs(samples.mean(axis=0) - target) / np.maximum(sem, 1e-300))


@pytest.mark.parametrize("degree", [3, 4])
def test_polysketch_is_unbiased_for_tensor_powers(degree):
    """E <Q^j(x), Q^j(y)> = <x (x) ... (x) x, y (x) ... (x) y> (j factors, formed explicitly),
    for every power of the tree, including those with padding leaves e1."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 3)) / np.sqrt(3)
    X[2] = -0.8 * X[0] + 0.2 * X[1]
    powers = [np.ones((3, 1))]
    for _ in range(degree):
        powers.append(np.stack([np.kron(p, x) for p, x in zip(powers[-1], X)]))
    S, s = 300, 16
    samples = {j: [] for j in range(1, degree + 1)}
    for seed in range(S):
        est = ntkfast.NTKSketch(degree=degree, n_components=8, poly_components=s, random_state=seed).fit(X)
        fmap = est.__ntkfast_feature_map__()
        assert fmap.degrees == list(range(1, degree + 1))  # every power is computed
        z = np.zeros((3, 1 + degree * s))
        fmap.polysketch(X, fmap.compiled(np.float64)[0], {"rows": 3}, 1, z)
        for j in samples:
            Q = z[:, 1 + (j - 1) * s:1 + j * s]
            samples[j].append(Q @ Q.T)
    for j, got in samples.items():
        exact = powers[j] @ powers[j].T
        assert _z_max(got, exact) < 5, j
        # and the estimates vary: the test could fail
        assert np.std(np.asarray(got)[:, 0, 1]) > 1e-3


def test_gram_is_unbiased_for_the_polynomial_ntk():
    """Depth 1: E <psi(x), psi(y)> = ||x|| ||y|| (P1(rho) + rho P0(rho)) exactly (the
    PolySketch, the CountSketches and the TensorSRHT are unbiased and independent).  With
    degree 2 the polynomials are poor near rho = -1 (rows paired with their near-opposites),
    so the same z-test refuses the exact NTK: the test tells the two kernels apart."""
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((4, 3))
    X = np.vstack([X0, -X0 + 0.1 * rng.standard_normal((4, 3))])
    grams = []
    for seed in range(400):
        est = ntkfast.NTKSketch(depth=1, degree=2, n_components=64, random_state=seed, n_threads=1).fit(X)
        P = est.transform(X)
        grams.append(P @ P.T)
    K_poly = ref.poly_ntk_kernel(X, est.relu_coefs_, est.step_coefs_, depth=1)
    assert _z_max(grams, K_poly) < 5
    assert _z_max(grams, ref.exact_kernels(X, depth=1)[0].astype(np.float64)) > 5
    # The error of the mean falls with the number of seeds (1/sqrt(S) on average): the mean
    # of 400 is closer than the typical single estimate by far.
    err = lambda G: np.linalg.norm(G - K_poly)  # noqa: E731
    assert err(np.mean(grams, axis=0)) < 0.25 * np.median([err(G) for G in grams])


def test_direct_gram_is_unbiased_for_its_polynomial():
    """method="direct" at depth 3: E <phi(x), phi(y)> = ||x|| ||y|| P(rho) exactly at any depth
    (one PolySketch and one CountSketch); degree 3 is far from Theta_3 near rho = -1, and the
    same z-test refuses the exact NTK."""
    rng = np.random.default_rng(1)
    X0 = rng.standard_normal((4, 3))
    X = np.vstack([X0, -X0 + 0.1 * rng.standard_normal((4, 3))])
    grams = []
    for seed in range(400):
        est = ntkfast.NTKSketch(depth=3, degree=3, method="direct", n_components=32, random_state=seed,
                                n_threads=1).fit(X)
        P = est.transform(X)
        grams.append(P @ P.T)
    norms = np.linalg.norm(X, axis=1)
    U = X / norms[:, None]
    K_poly = np.polynomial.Polynomial(est.relu_coefs_)(U @ U.T) * np.outer(norms, norms)
    assert _z_max(grams, K_poly) < 5
    assert _z_max(grams, ref.exact_kernels(X, depth=3)[0].astype(np.float64)) > 5


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_direct_error_against_exact_ntk(depth):
    """As test_error_against_exact_ntk, for method="direct": one sketch stage whatever the
    depth, so the bound has no sqrt(L): e_poly + 3 r sqrt(2 / m), 3 rather than 2 for the
    PolySketch's own variance on top of the CountSketch's (err / bound measured over 20 other
    seeds: at most 0.57, 0.42 and 0.37 at depths 1, 3, 5)."""
    X = np.random.default_rng(depth).standard_normal((60, 6))
    K = ntkfast.ntk_kernel(X, depth=depth)
    est = ntkfast.NTKSketch(depth=depth, method="direct", n_components=2048, random_state=depth).fit(X)
    P = est.transform(X)
    err = np.linalg.norm(P @ P.T - K) / np.linalg.norm(K)
    norms = np.linalg.norm(X, axis=1)
    K_poly = np.polynomial.Polynomial(est.relu_coefs_)((X / norms[:, None]) @ (X / norms[:, None]).T)
    K_poly *= np.outer(norms, norms)
    e_poly = np.linalg.norm(K_poly - K) / np.linalg.norm(K)
    assert e_poly < 0.03
    r = np.trace(K) / np.linalg.norm(K)
    assert err < e_poly + 3 * r * np.sqrt(2.0 / est.n_relu_), err


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_error_against_exact_ntk(depth):
    """Relative Frobenius error against ntk_kernel below  e_poly + 2 sqrt(L) r sqrt(2 / m1).

    e_poly = ||K_poly - K|| / ||K||: the polynomials' own error (K_poly the exact composition
    of the fitted polynomials, computed here).  The sketch term: an unbiased sketch of inner
    products to width m has entry variance <= (K_ii K_jj + K_ij^2) / m <= 2 K_ii K_jj / m, so
    E ||K_hat - K||_F^2 <= 2 tr(K)^2 / m and the relative RMS error is r sqrt(2 / m) with
    r = tr(K) / ||K||_F; the L layers add their variances (sqrt(L)); 2 is the margin for the
    tail of one draw (measured over 20 other seeds while writing this test: err / bound at
    most 0.38, 0.45 and 0.49 at depths 1, 2, 3, with the default degree 4).  The error of a wrong map is far above: at
    depth 1 the bound is 0.27 here, against 0.07-0.12 observed.
    """
    X = np.random.default_rng(depth).standard_normal((60, 6))
    K = ntkfast.ntk_kernel(X, depth=depth)
    est = ntkfast.NTKSketch(depth=depth, n_components=2048, random_state=depth).fit(X)
    P = est.transform(X)
    err = np.linalg.norm(P @ P.T - K) / np.linalg.norm(K)
    K_poly = ref.poly_ntk_kernel(X, est.relu_coefs_, est.step_coefs_, depth)
    e_poly = np.linalg.norm(K_poly - K) / np.linalg.norm(K)
    assert e_poly < 0.03  # the default degree-4 polynomials: 1-2% at depths 1-3
    r = np.trace(K) / np.linalg.norm(K)
    bound = e_poly + 2 * np.sqrt(depth) * r * np.sqrt(2.0 / est.n_relu_)
    assert err < bound, (err, bound)
