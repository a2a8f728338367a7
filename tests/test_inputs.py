"""Input validation and memory-layout handling."""
import numpy as np
import pytest

import ntkfast
from conftest import gaussian_data

BAD = (ValueError, TypeError)


def _good(n=6, d=4, seed=0):
    return gaussian_data(n, d, seed)


def _bad_X_values():
    X = _good()
    nan = X.copy()
    nan[1, 2] = np.nan
    inf = X.copy()
    inf[0, 0] = np.inf
    ninf = X.copy()
    ninf[3, 1] = -np.inf
    return {
        "1d": X[0],
        "3d": X[None],
        "nan": nan,
        "inf": inf,
        "-inf": ninf,
        "0rows": np.zeros((0, 4)),
        "0cols": np.zeros((5, 0)),
        "complex": X.astype(np.complex128),
        "object": X.astype(object),
    }


BAD_X = _bad_X_values()


def _kernel_calls():
    return {
        "ntk": lambda X, Y=None: ntkfast.ntk_kernel(X, Y, depth=2),
        "nngp": lambda X, Y=None: ntkfast.nngp_kernel(X, Y, depth=2),
        "arccos": lambda X, Y=None: ntkfast.arccos_kernel(X, Y, order=1),
    }


def _estimators():
    return {
        "ntk_rf": lambda: ntkfast.NTKRandomFeatures(depth=2, n_components=32, sketch_components=8, random_state=0),
        "nngp_rf": lambda: ntkfast.NTKRandomFeatures(depth=2, n_components=32, kernel="nngp", random_state=0),
        "arccos_rf": lambda: ntkfast.ArcCosineFeatures(order=1, n_components=32, random_state=0),
        "nystroem": lambda: ntkfast.NTKNystroem(depth=2, n_components=5, random_state=0),
    }


@pytest.mark.parametrize("case", sorted(BAD_X))
@pytest.mark.parametrize("func", sorted(_kernel_calls()))
def test_kernels_reject_bad_X(func, case):
    f = _kernel_calls()[func]
    with pytest.raises(BAD, match="X"):
        f(BAD_X[case])


@pytest.mark.parametrize("case", sorted(BAD_X))
@pytest.mark.parametrize("func", sorted(_kernel_calls()))
def test_kernels_reject_bad_Y(func, case):
    f = _kernel_calls()[func]
    Y = BAD_X[case]
    if case == "0cols":
        Y = np.zeros((5, 0))
    with pytest.raises(BAD, match="Y"):
        f(_good(), Y)


@pytest.mark.parametrize("func", sorted(_kernel_calls()))
def test_kernels_reject_feature_mismatch(func):
    with pytest.raises(BAD, match="(?i)feature|column|X|Y"):
        _kernel_calls()[func](_good(d=4), _good(d=5))


@pytest.mark.parametrize("depth", [0, -1])
@pytest.mark.parametrize("f", [ntkfast.ntk_kernel, ntkfast.nngp_kernel])
def test_kernels_reject_bad_depth(f, depth):
    with pytest.raises(BAD, match="depth"):
        f(_good(), depth=depth)


@pytest.mark.parametrize("depth", [1.5, "2", None])
def test_kernels_reject_non_integer_depth(depth):
    with pytest.raises(BAD, match="depth"):
        ntkfast.ntk_kernel(_good(), depth=depth)


@pytest.mark.parametrize("bias", [-0.1, -1.0, np.nan, np.inf])
@pytest.mark.parametrize("f", [ntkfast.ntk_kernel, ntkfast.nngp_kernel])
def test_kernels_reject_bad_bias(f, bias):
    with pytest.raises(BAD, match="bias"):
        f(_good(), depth=1, bias=bias)


@pytest.mark.parametrize("order", [-1, 2, 0.5, "1"])
def test_arccos_kernel_rejects_bad_order(order):
    with pytest.raises(BAD, match="order"):
        ntkfast.arccos_kernel(_good(), order=order)


@pytest.mark.parametrize("case", sorted(BAD_X))
@pytest.mark.parametrize("name", sorted(_estimators()))
def test_estimators_reject_bad_X_in_fit(name, case):
    with pytest.raises(BAD, match="X"):
        _estimators()[name]().fit(BAD_X[case])


@pytest.mark.parametrize("case", sorted(BAD_X))
@pytest.mark.parametrize("name", sorted(_estimators()))
def test_estimators_reject_bad_X_in_transform(name, case):
    est = _estimators()[name]().fit(_good())
    with pytest.raises(BAD, match="X"):
        est.transform(BAD_X[case])


@pytest.mark.parametrize("name", sorted(_estimators()))
def test_transform_feature_count_mismatch(name):
    est = _estimators()[name]().fit(_good(d=4))
    with pytest.raises(ValueError, match="(?i)feature|X"):
        est.transform(_good(d=5))


@pytest.mark.parametrize("name", sorted(_estimators()))
def test_transform_bad_out(name):
    est = _estimators()[name]().fit(_good())
    X = _good()
    with pytest.raises(BAD, match="out"):
        est.transform(X, out=np.empty((6, 31)))
    with pytest.raises(BAD, match="out"):
        est.transform(X, out=np.empty((6, 32), dtype=np.float32))  # X is float64
    with pytest.raises(BAD, match="out"):
        est.transform(X, out=np.empty((6, 64))[:, ::2])  # non-contiguous


@pytest.mark.parametrize("batch_size", [0, -3])
def test_transform_bad_batch_size(batch_size):
    est = _estimators()["ntk_rf"]().fit(_good())
    with pytest.raises(BAD, match="batch_size"):
        est.transform(_good(), batch_size=batch_size)


def _fit(make):
    make().fit(_good())


@pytest.mark.parametrize("depth", [0, -1, 1.5])
@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_ntk_features_bad_depth(depth, kernel):
    with pytest.raises(BAD, match="depth"):
        _fit(lambda: ntkfast.NTKRandomFeatures(depth=depth, n_components=32, kernel=kernel))


@pytest.mark.parametrize("n_components", [1, 0, -5, 2.5])
@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_ntk_features_bad_n_components(n_components, kernel):
    with pytest.raises(BAD, match="n_components"):
        _fit(lambda: ntkfast.NTKRandomFeatures(n_components=n_components, kernel=kernel))


@pytest.mark.parametrize("n_components", [0, -5, 2.5])
def test_arccos_features_bad_n_components(n_components):
    with pytest.raises(BAD, match="n_components"):
        _fit(lambda: ntkfast.ArcCosineFeatures(n_components=n_components))


@pytest.mark.parametrize("sketch_components", [0, -1, 32, 40])
def test_ntk_features_bad_sketch_components(sketch_components):
    # the sketch must take at least one and leave at least one of the 32 components
    with pytest.raises(BAD, match="sketch_components"):
        _fit(lambda: ntkfast.NTKRandomFeatures(n_components=32, sketch_components=sketch_components))


def test_ntk_features_bad_kernel():
    with pytest.raises(BAD, match="kernel"):
        _fit(lambda: ntkfast.NTKRandomFeatures(n_components=32, kernel="rbf"))


@pytest.mark.parametrize("order", [-1, 2, 0.5])
def test_arccos_features_bad_order(order):
    with pytest.raises(BAD, match="order"):
        _fit(lambda: ntkfast.ArcCosineFeatures(order=order))


@pytest.mark.parametrize("n_threads", [0, -2, 1.5])
def test_bad_n_threads(n_threads):
    with pytest.raises(BAD, match="n_threads"):
        _fit(lambda: ntkfast.NTKRandomFeatures(n_components=32, n_threads=n_threads))
    with pytest.raises(BAD, match="n_threads"):
        _fit(lambda: ntkfast.ArcCosineFeatures(n_components=32, n_threads=n_threads))


@pytest.mark.parametrize("random_state", ["seed", 1.5, -1])
def test_bad_random_state(random_state):
    with pytest.raises(BAD):
        _fit(lambda: ntkfast.ArcCosineFeatures(n_components=32, random_state=random_state))


# ---------------------------------------------------------------------------
# sketch primitives
# ---------------------------------------------------------------------------
def _cs_args():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 5))
    return X, np.array([0, 3, 1, 3, 2]), np.array([1.0, -1.0, 1.0, 1.0, -1.0]), 4


@pytest.mark.parametrize("indices,what", [
    (np.array([0, 3, 1, 4, 2]), "out of range (== n_buckets)"),
    (np.array([0, -1, 1, 3, 2]), "negative"),
    (np.array([0, 3, 1, 3]), "too short"),
    (np.array([0, 3, 1, 3, 2, 0]), "too long"),
    (np.array([0.0, 3.0, 1.0, 3.0, 2.0]), "float"),
    (np.array([0.5, 3.0, 1.0, 3.0, 2.0]), "fractional"),
    (np.array([[0, 3, 1, 3, 2]]), "2-D"),
])
def test_count_sketch_bad_indices(indices, what):
    X, _, signs, D = _cs_args()
    with pytest.raises(BAD, match="indices"):
        ntkfast.count_sketch(X, indices, signs, D)


@pytest.mark.parametrize("signs", [
    np.array([1.0, -1.0, 1.0, 1.0, 0.0]),
    np.array([1.0, -1.0, 2.0, 1.0, -1.0]),
    np.array([1.0, -1.0, 1.0, 1.0, np.nan]),
    np.array([1, -1, 1, 1]),
    np.array([1.0, -1.0, 0.5, 1.0, -1.0]),
])
def test_count_sketch_bad_signs(signs):
    X, indices, _, D = _cs_args()
    with pytest.raises(BAD, match="signs"):
        ntkfast.count_sketch(X, indices, signs, D)


@pytest.mark.parametrize("D", [0, -1, 2.5])
def test_count_sketch_bad_n_buckets(D):
    X, indices, signs, _ = _cs_args()
    with pytest.raises(BAD, match="n_buckets"):
        ntkfast.count_sketch(X, indices, signs, D)


@pytest.mark.parametrize("case", ["1d", "3d", "nan", "inf", "complex", "object", "0rows"])
def test_count_sketch_bad_X(case):
    _, indices, signs, D = _cs_args()
    X = {"1d": np.ones(5), "3d": np.ones((1, 3, 5)), "nan": np.full((3, 5), np.nan), "inf": np.full((3, 5), np.inf),
         "int": np.ones((3, 5), dtype=int), "complex": np.ones((3, 5), dtype=complex),
         "object": np.ones((3, 5), dtype=object), "0rows": np.ones((0, 5))}[case]
    with pytest.raises(BAD, match="X"):
        ntkfast.count_sketch(X, indices, signs, D)


def test_tensor_sketch_bad_inputs():
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    iu, su = np.array([0, 1, 2, 3]), np.array([1, -1, 1, -1])
    iv, sv = np.array([3, 0]), np.array([-1, 1])
    ntkfast.tensor_sketch(U, V, iu, su, iv, sv, 4)  # valid
    with pytest.raises(BAD, match="indices_u"):
        ntkfast.tensor_sketch(U, V, np.array([0, 1, 2, 4]), su, iv, sv, 4)
    with pytest.raises(BAD, match="indices_v"):
        ntkfast.tensor_sketch(U, V, iu, su, np.array([3]), sv, 4)
    with pytest.raises(BAD, match="signs_u"):
        ntkfast.tensor_sketch(U, V, iu, np.array([1, -1, 3, -1]), iv, sv, 4)
    with pytest.raises(BAD, match="signs_v"):
        ntkfast.tensor_sketch(U, V, iu, su, iv, np.array([0, 1]), 4)
    with pytest.raises(BAD, match="U|V|rows"):
        ntkfast.tensor_sketch(U, V[:2], iu, su, iv, sv, 4)
    with pytest.raises(BAD, match="n_buckets"):
        ntkfast.tensor_sketch(U, V, iu, su, iv, sv, 0)
    with pytest.raises(BAD, match="U"):
        ntkfast.tensor_sketch(U.astype(complex), V, iu, su, iv, sv, 4)


def test_tensor_sketch_product_bad_inputs():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    ia, sa = np.array([0, 1, 2, 3]), np.array([1, -1, 1, -1])
    ib, sb = np.array([3, 0]), np.array([-1, 1])
    ntkfast.tensor_sketch_product([A, B], [ia, ib], [sa, sb], 4)  # valid
    with pytest.raises(BAD):
        ntkfast.tensor_sketch_product([], [], [], 4)
    with pytest.raises(BAD, match="indices"):
        ntkfast.tensor_sketch_product([A, B], [ia], [sa, sb], 4)
    with pytest.raises(BAD, match="signs"):
        ntkfast.tensor_sketch_product([A, B], [ia, ib], [sa], 4)
    with pytest.raises(BAD, match="indices"):
        ntkfast.tensor_sketch_product([A, B], [ia, np.array([3, 4])], [sa, sb], 4)
    with pytest.raises(BAD, match="signs"):
        ntkfast.tensor_sketch_product([A, B], [ia, ib], [sa, np.array([1, 0])], 4)
    with pytest.raises(BAD, match="factors|rows"):
        ntkfast.tensor_sketch_product([A, B[:2]], [ia, ib], [sa, sb], 4)


# ---------------------------------------------------------------------------
# accepted inputs: float16, memory layouts
# ---------------------------------------------------------------------------
def test_float16_accepted():
    X = _good().astype(np.float16)
    X64 = X.astype(np.float64)
    for f in _kernel_calls().values():
        K = f(X)
        assert K.dtype in (np.float32, np.float64)
        np.testing.assert_allclose(K, f(X64), rtol=1e-4, atol=1e-4 * np.abs(f(X64)).max())
    for make in _estimators().values():
        est = make().fit(X)
        Z = est.transform(X)
        assert Z.dtype in (np.float32, np.float64)
        Z64 = est.transform(X64)
        np.testing.assert_allclose(Z, Z64, rtol=1e-4, atol=1e-4 * np.abs(Z64).max())
    idx, sg = np.array([0, 1, 1, 0]), np.array([1, -1, 1, 1])
    C = ntkfast.count_sketch(X, idx, sg, 2)
    np.testing.assert_allclose(C, ntkfast.count_sketch(X64, idx, sg, 2), rtol=1e-6)


def _layouts(X):
    big = np.zeros((X.shape[0] * 2, X.shape[1] * 3), dtype=X.dtype)
    big[::2, ::3] = X
    return {"F": np.asfortranarray(X), "strided": big[::2, ::3], "reversed": X[::-1][::-1]}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_kernels(dtype):
    X = gaussian_data(15, 6, 1).astype(dtype)
    Y = gaussian_data(9, 6, 2).astype(dtype)
    for f in _kernel_calls().values():
        ref = f(X, Y)
        ref_s = f(X)
        for name, Xl in _layouts(X).items():
            for Yl in _layouts(Y).values():
                np.testing.assert_allclose(f(Xl, Yl), ref, rtol=1e-12 if dtype == np.float64 else 1e-5,
                                           atol=1e-12 * np.abs(ref).max(), err_msg=name)
            np.testing.assert_allclose(f(Xl), ref_s, rtol=1e-12 if dtype == np.float64 else 1e-5,
                                       atol=1e-12 * np.abs(ref_s).max(), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_features(dtype):
    X = gaussian_data(15, 6, 1).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for make in _estimators().values():
        est = make().fit(X)
        ref = est.transform(np.ascontiguousarray(X))
        for name, Xl in _layouts(X).items():
            np.testing.assert_allclose(est.transform(Xl), ref, rtol=tol, atol=tol * np.abs(ref).max(), err_msg=name)
            np.testing.assert_allclose(make().fit(Xl).transform(X), ref, rtol=tol, atol=tol * np.abs(ref).max(),
                                       err_msg=name)


def test_layouts_sketches():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(7, 10))
    idx, sg = rng.integers(0, 6, 10), rng.choice([-1, 1], 10)
    ref = ntkfast.count_sketch(X, idx, sg, 6)
    for Xl in _layouts(X).values():
        np.testing.assert_allclose(ntkfast.count_sketch(Xl, idx, sg, 6), ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(ntkfast.count_sketch(X, np.repeat(idx, 2)[::2], sg[::-1][::-1].astype(float), 6), ref,
                               rtol=1e-13, atol=1e-13)
    V = rng.normal(size=(7, 3))
    iv, sv = rng.integers(0, 6, 3), rng.choice([-1, 1], 3)
    ts = ntkfast.tensor_sketch(X, V, idx, sg, iv, sv, 6)
    for Xl in _layouts(X).values():
        for Vl in _layouts(V).values():
            np.testing.assert_allclose(ntkfast.tensor_sketch(Xl, Vl, idx, sg, iv, sv, 6), ts,
                                       rtol=1e-12, atol=1e-12 * np.abs(ts).max())
