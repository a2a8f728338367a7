"""Thread safety of fitted objects, and fitted estimators through pickle/deepcopy/clone."""
import copy
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_info

import ntkfast

N_THREADS = 8


def _data(n=300, d=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.5, 2, (n, 1))).astype(dtype)


def _run_together(fn, n=N_THREADS):
    """Call fn(i) from n threads released at the same moment; results in order of i."""
    barrier = threading.Barrier(n)

    def task(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(task, range(n)))


TRANSFORMERS = {
    "ntk": lambda: ntkfast.NTKRandomFeatures(depth=2, n_components=256, random_state=0),
    "nngp": lambda: ntkfast.NTKRandomFeatures(depth=3, n_components=128, kernel="nngp", random_state=0),
    "arccos1": lambda: ntkfast.ArcCosineFeatures(order=1, n_components=128, leverage=True, random_state=0),
    "arccos0": lambda: ntkfast.ArcCosineFeatures(order=0, n_components=128, random_state=0),
    "nystroem": lambda: ntkfast.NTKNystroem(depth=2, n_components=64, random_state=0),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_one_transformer_from_eight_threads(name, dtype):
    X = _data(dtype=dtype)
    rf = TRANSFORMERS[name]().fit(X)
    # Each thread: its own rows (different offsets and batch sizes), plus all of X.
    chunks = np.array_split(np.arange(X.shape[0]), N_THREADS)
    sequential = [(rf.transform(X[c], batch_size=7 + i), rf.transform(X)) for i, c in enumerate(chunks)]
    together = _run_together(lambda i: (rf.transform(X[chunks[i]], batch_size=7 + i), rf.transform(X)))
    for (a, b), (c, d) in zip(sequential, together):
        np.testing.assert_array_equal(c, a)
        np.testing.assert_array_equal(d, b)


def test_threads_writing_into_one_out_array():
    X = _data(n=400)
    rf = TRANSFORMERS["ntk"]().fit(X)
    out = np.empty((X.shape[0], 256))
    rows = np.array_split(np.arange(X.shape[0]), N_THREADS)
    _run_together(lambda i: rf.transform(X[rows[i]], out=out[rows[i][0]:rows[i][-1] + 1]))
    # A row's features depend on its values only, not on where a call's rows start.
    np.testing.assert_array_equal(out, rf.transform(X))


def test_kernels_and_sketches_from_eight_threads():
    X = _data(n=120)
    idx = np.random.default_rng(1).integers(0, 17, X.shape[1])
    sgn = np.where(np.random.default_rng(2).random(X.shape[1]) < 0.5, -1.0, 1.0)

    def work(i):
        return (ntkfast.ntk_kernel(X, depth=1 + i % 3), ntkfast.arccos_kernel(X, X[::2], order=i % 2),
                ntkfast.tensor_sketch(X, X, idx, sgn, idx[::-1], sgn, 17))

    sequential = [work(i) for i in range(N_THREADS)]
    for got, want in zip(_run_together(work), sequential):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def _blas_threads():
    return sorted((i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")


def test_concurrent_transforms_restore_blas_threads():
    # transform uses no BLAS and must leave its thread limits alone (it used to limit BLAS
    # to one thread while it ran, and from concurrent threads the limits were once restored
    # out of order, leaving BLAS single-threaded for good).
    X = _data(n=2000)
    rf = TRANSFORMERS["ntk"]().fit(X)
    before = _blas_threads()
    for _ in range(3):
        _run_together(lambda i: rf.transform(X))
    assert _blas_threads() == before


# --------------------------------------------------------------------------------------------
# pickle, deepcopy, clone
# --------------------------------------------------------------------------------------------

def _y(X):
    return np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


ESTIMATORS = {
    **TRANSFORMERS,
    "NTKRidge": lambda: ntkfast.NTKRidge(depth=2, n_components=128, alpha=[0.1, 1.0], random_state=0),
    "NTKRidgeClassifier": lambda: ntkfast.NTKRidgeClassifier(n_components=128, random_state=0),
    "ExactNTKRidge": lambda: ntkfast.ExactNTKRidge(depth=2, bias=0.1, alpha=0.5),
}


def _fit(name, X):
    return _refit(name, ESTIMATORS[name](), X)


def _output(est, X):
    return est.transform(X) if hasattr(est, "transform") else (
        est.decision_function(X) if hasattr(est, "decision_function") else est.predict(X))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_pickle_deepcopy_clone(name):
    X = _data(n=80)
    est = _fit(name, X)
    ref = _output(est, X)
    for other in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        assert type(other) is type(est)
        np.testing.assert_array_equal(_output(other, X), ref)
        if name == "NTKRidgeClassifier":
            np.testing.assert_array_equal(other.predict(X), est.predict(X))
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        _output(fresh, X)
    # Refitting the clone (same random_state) reproduces the fitted estimator.
    np.testing.assert_array_equal(_output(_refit(name, fresh, X), X), ref)


def _refit(name, est, X):
    if name == "NTKRidgeClassifier":
        return est.fit(X, np.array(["a", "b", "c"])[np.arange(X.shape[0]) % 3])
    return est.fit(X, _y(X)) if "Ridge" in name else est.fit(X)


def test_unpickled_transformer_from_threads():
    X = _data()
    rf = pickle.loads(pickle.dumps(TRANSFORMERS["ntk"]().fit(X)))
    want = rf.transform(X)
    for got in _run_together(lambda i: rf.transform(X)):
        np.testing.assert_array_equal(got, want)


def test_concurrent_large_float32_products_bit_identical():
    # Large float32 products from concurrent transforms: when the layers went through BLAS,
    # a thread limit undone by one thread while another was still inside let sgemm run
    # threaded (which rounds rows differently) in 1-4 of 40 concurrent transforms.
    X = _data(n=1500, d=6, dtype=np.float32)
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=1024, kernel="nngp", random_state=0).fit(X)
    chunks = np.array_split(np.arange(X.shape[0]), N_THREADS)
    sequential = [rf.transform(X[c], batch_size=70 + i) for i, c in enumerate(chunks)]
    for _ in range(3):
        together = _run_together(lambda i: rf.transform(X[chunks[i]], batch_size=70 + i))
        for a, b in zip(sequential, together):
            np.testing.assert_array_equal(b, a)
