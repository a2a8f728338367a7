"""ntkfast on dask arrays: threaded scheduler and a real two-process LocalCluster.

The references: the in-memory transform of the same rows (the dask path must reproduce it
bit for bit), and, for the ridge fit, the in-memory fit and a dense numpy solve of the
ridge normal equations on the in-memory features.
"""
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import ntkfast  # noqa: E402
from ntkfast._engine.dask_adapter import is_dask_array  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHUNKS = (37, 100, 63)  # uneven, and not multiples of the kernels' row block


def _data(n=200, d=7, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def _estimators():
    return [
        ntkfast.NTKRandomFeatures(depth=2, n_components=300, random_state=0),
        ntkfast.NTKRandomFeatures(depth=1, n_components=64, kernel="nngp", random_state=1),
        ntkfast.ArcCosineFeatures(order=1, n_components=96, leverage=True, random_state=2),
        ntkfast.NTKSketch(depth=2, n_components=200, degree=5, random_state=3),
        ntkfast.NTKSketch(depth=4, n_components=100, method="direct", random_state=4),
        ntkfast.NTKNystroem(depth=2, n_components=60, random_state=5),
    ]


def _ridge_reference(features, X, y, alpha):
    """Dense numpy ridge with unpenalised intercept on the in-memory features."""
    P = features.transform(X).astype(np.float64)
    Pc, yc = P - P.mean(axis=0), y - y.mean(axis=0)
    w = np.linalg.solve(Pc.T @ Pc + alpha * np.eye(P.shape[1]), Pc.T @ yc)
    return w, y.mean(axis=0) - P.mean(axis=0) @ w


def test_import_does_not_import_dask():
    code = "import ntkfast, sys; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


def test_is_dask_array():
    X = _data()
    assert is_dask_array(da.from_array(X))
    assert not is_dask_array(X) and not is_dask_array(X.tolist())


# --------------------------------------------------------------------------------------------
# Threaded scheduler
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("est", _estimators(),
                         ids=["ntk", "nngp", "arccos", "ntksketch", "ntksketch-direct", "nystroem"])
def test_transform_bit_identical_threads(est, dtype):
    X = _data(dtype=dtype)
    Xd = da.from_array(X, chunks=(CHUNKS, (3, 4)))  # split columns are merged
    est.fit(Xd)  # fit reads only shape and dtype
    assert est.n_features_in_ == 7 and est.dtype_ == dtype
    Y = est.transform(Xd)
    assert is_dask_array(Y) and Y.chunks[0] == CHUNKS and len(Y.chunks[1]) == 1
    got = Y.compute(scheduler="threads")
    assert got.dtype == dtype
    assert_array_equal(got, est.transform(X))
    # Batches smaller than a block, inside each block, still give the same bits.
    assert_array_equal(est.transform(Xd, batch_size=16).compute(scheduler="threads"), got)


def test_fit_transform_is_lazy():
    X = _data(dtype=np.float32)
    est = ntkfast.NTKRandomFeatures(n_components=128, random_state=0)
    Y = est.fit_transform(da.from_array(X, chunks=50))
    assert is_dask_array(Y)
    assert_array_equal(Y.compute(scheduler="sync"), est.transform(X))


def test_estimator_is_one_key_in_the_graph():
    est = ntkfast.NTKRandomFeatures(depth=1, n_components=4000, random_state=0).fit(_data(d=50))
    est_size = len(pickle.dumps(est))
    assert est_size > 500_000
    sizes = []
    for n_blocks in (4, 40):
        Xd = da.zeros((400, 50), chunks=(400 // n_blocks, 50))
        Y = est.transform(Xd)
        graph = dict(Y.__dask_graph__())
        est_keys = [k for k in graph if isinstance(k, str) and k.startswith("NTKMap-")]
        assert len(est_keys) == 1
        block_keys = [k for k in graph if isinstance(k, tuple) and k[0] == Y.name]
        assert len(block_keys) == n_blocks
        for k in block_keys:
            assert est_keys[0] in dask.core.get_dependencies(graph, k)
        sizes.append(len(pickle.dumps(graph)))
    # 36 more blocks add far less than one more copy of the estimator.
    assert sizes[1] - sizes[0] < est_size / 4


def test_transform_errors():
    X = _data()
    est = ntkfast.NTKRandomFeatures(n_components=32, random_state=0).fit(X)
    Xd = da.from_array(X, chunks=(CHUNKS, 7))
    with pytest.raises(ValueError, match="out: expected None"):
        est.transform(Xd, out=np.empty((200, 32)))
    with pytest.raises(ValueError, match="X: expected 7 features"):
        est.transform(Xd[:, :5])
    with pytest.raises(TypeError, match="X: expected an array of real numbers"):
        est.transform(Xd.astype(np.complex128))
    with pytest.raises(ValueError, match="known chunk sizes"):
        est.transform(Xd[Xd[:, 0] > 0])
    bad = X.copy()
    bad[150, 3] = np.nan
    with pytest.raises(ValueError, match="first in row 150"):
        est.transform(da.from_array(bad, chunks=(CHUNKS, 7))).compute(scheduler="threads")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [0.5, [0.05, 0.5, 5.0]], ids=["one-alpha", "alpha-path"])
def test_ridge_threads(alpha, dtype):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1200, 5)).astype(dtype)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(1200)
    params = dict(depth=2, n_components=200, alpha=alpha, random_state=4)
    ref = ntkfast.NTKRidge(**params).fit(X, y)
    Xd = da.from_array(X, chunks=((300, 411, 1, 488), 5))
    with dask.config.set(scheduler="threads"):
        model = ntkfast.NTKRidge(**params).fit(Xd, da.from_array(y, chunks=250))
        pred = model.predict(Xd)
        assert is_dask_array(pred) and pred.shape == (1200,)
        pred = pred.compute()
    assert model.alpha_ == ref.alpha_
    if model.cv_mse_ is not None:
        assert_allclose(model.cv_mse_, ref.cv_mse_, rtol=1e-10)
    scale = np.abs(ref.coef_).max()
    assert_allclose(model.coef_, ref.coef_, rtol=0, atol=1e-10 * scale)
    assert_allclose(model.intercept_, ref.intercept_, rtol=1e-10, atol=1e-10 * abs(ref.intercept_))
    assert_allclose(pred, ref.predict(X), rtol=1e-10, atol=1e-10 * np.abs(y).max())
    w, b = _ridge_reference(model.features_, X, y, model.alpha_)
    assert_allclose(model.coef_, w, rtol=0, atol=1e-6 * np.abs(w).max())
    assert_allclose(model.intercept_, b, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# A real cluster: two worker processes on loopback
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_bit_identical_cluster(client, dtype):
    X = _data(dtype=dtype)
    est = ntkfast.NTKRandomFeatures(depth=2, n_components=300, random_state=5).fit(X)
    Y = est.transform(da.from_array(X, chunks=(CHUNKS, 7)))
    # The compiled feature map was scattered to both workers; the graph only names its key.
    assert len(pickle.dumps(dict(Y.__dask_graph__()))) < len(pickle.dumps(est)) / 2
    # One snapshot: keys scattered by earlier tests may be released between two calls.
    who_has = client.who_has()
    est_keys = [k for k in who_has if str(k).startswith("NTKMap-")]
    assert est_keys and all(len(who_has[k]) == 2 for k in est_keys)
    assert_array_equal(Y.compute(), est.transform(X))


def test_ntk_sketch_cluster(client):
    """NTKSketch's map (plan of the PolySketch trees, validated signs and frequencies) goes to
    two worker processes and computes the same bits there."""
    X = _data(dtype=np.float32)
    est = ntkfast.NTKSketch(depth=2, n_components=120, degree=6, random_state=4).fit(X)
    Y = est.transform(da.from_array(X, chunks=(CHUNKS, 7)))
    assert_array_equal(Y.compute(), est.transform(X))


def test_ridge_cluster(client):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((1500, 4))
    Y = np.c_[np.cos(X[:, 0]), X[:, 1] * X[:, 3]]
    params = dict(depth=1, n_components=160, alpha=[0.1, 1.0], random_state=7)
    ref = ntkfast.NTKRidge(**params).fit(X, Y)
    Xd = da.from_array(X, chunks=(CHUNKS * 7 + (100,), 4))
    model = ntkfast.NTKRidge(**params).fit(Xd, Y)
    assert model.alpha_ == ref.alpha_
    assert_allclose(model.coef_, ref.coef_, rtol=0, atol=1e-10 * np.abs(ref.coef_).max())
    assert_allclose(model.intercept_, ref.intercept_, rtol=1e-10)
    assert_allclose(model.predict(Xd).compute(), ref.predict(X), rtol=1e-10, atol=1e-12)


def _slow_copy(block):
    time.sleep(0.15)
    return block.copy()


def test_worker_killed_mid_computation(client):
    X = _data(n=600, dtype=np.float32, seed=8)
    est = ntkfast.NTKRandomFeatures(depth=2, n_components=256, random_state=9).fit(X)
    slow = da.from_array(X, chunks=(30, 7)).map_blocks(_slow_copy, dtype=X.dtype)  # 20 slow tasks
    future = client.compute(est.transform(slow))
    deadline = time.monotonic() + 30
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # a few blocks done, others running
    assert not future.done()
    pids = client.run(os.getpid)
    victim_address, victim_pid = sorted(pids.items())[0]
    os.kill(victim_pid, signal.SIGKILL)
    result = future.result(timeout=60)
    assert_array_equal(result, est.transform(X))
    # The nanny brought the killed worker back.
    client.wait_for_workers(2, timeout=30)
    assert victim_pid not in client.run(os.getpid).values()
