"""Random features against the matrix product they are built on (issue 4, comparison 1),
and a grid of NTKRandomFeatures transforms over n, d, n_components, depth, dtype, threads
(comparisons 4 and 6).  See ``bench/conftest.py`` for how to run.
"""
import numpy as np
import pytest
from conftest import LARGE, mark
from threadpoolctl import threadpool_limits

import _workloads as W
import ntkfast

DTYPES = [np.float32, np.float64]
ARC_N = 100_000 if LARGE else 20_000


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("side", ["ntkfast", "matmul", "numpy_relu"])
def test_arccos_vs_matmul(benchmark, side, dtype, threads):
    feats, matmul, relu = W.arccos_pair(ARC_N, 64, 4096, dtype, n_threads=threads)
    fn = {"ntkfast": feats, "matmul": matmul, "numpy_relu": relu}[side]
    mark(benchmark, f"arccos n={ARC_N} d=64 m=4096 {np.dtype(dtype).name} threads={threads}",
         "ntkfast" if side == "ntkfast" else "reference",
         W.TARGETS["arccos_vs_matmul"] if side == "matmul" else "(numpy's relu, for scale)")
    with threadpool_limits(threads):
        benchmark.pedantic(fn, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("n_components", [1024, 4096])
@pytest.mark.parametrize("d", [32, 256])
@pytest.mark.parametrize("n", [10_000, 40_000] if LARGE else [10_000])
def test_ntk_transform_grid(benchmark, n, d, n_components, depth, dtype, threads):
    X = W.gaussian(n, d, dtype)
    rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=n_components, random_state=0,
                                   n_threads=threads).fit(X[:1])
    out = np.ones((n, n_components), dtype=dtype)
    # Threads: one group per configuration, 1 thread as the reference of 2 threads.
    group = f"ntk transform n={n} d={d} m={n_components} depth={depth} {np.dtype(dtype).name}"
    mark(benchmark, group, "reference" if threads == 1 else "ntkfast",
         W.TARGETS["threads"] if threads == 1 else None, threads=threads)
    with threadpool_limits(threads):
        benchmark.pedantic(rf.transform, args=(X,), kwargs={"out": out}, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("n", [25_000, 50_000, 100_000, 200_000])
def test_linear_scaling_n(benchmark, n):
    """Fit the log-log slope from the saved benchmark JSON, or use bench/report.py."""
    X = W.gaussian(n, 64, np.float32)
    rf = ntkfast.NTKRandomFeatures(depth=1, n_components=2048, random_state=0).fit(X[:1])
    out = np.ones((n, 2048), dtype=np.float32)
    benchmark.group = "scaling in n (d=64, m=2048, float32)"
    benchmark.extra_info["n"] = n
    benchmark.pedantic(rf.transform, args=(X,), kwargs={"out": out}, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("d", [32, 64, 128, 256, 512, 1024])
def test_linear_scaling_d(benchmark, d):
    n = 25_000
    X = W.gaussian(n, d, np.float32)
    rf = ntkfast.NTKRandomFeatures(depth=1, n_components=2048, random_state=0).fit(X[:1])
    out = np.ones((n, 2048), dtype=np.float32)
    benchmark.group = "scaling in d (n=25,000, m=2048, float32)"
    benchmark.extra_info["d"] = d
    benchmark.pedantic(rf.transform, args=(X,), kwargs={"out": out}, rounds=3, warmup_rounds=1)


def test_memory_out(benchmark):
    """Peak RSS of a transform into a preallocated out (fresh interpreter), in extra_info."""
    n = 1_000_000 if LARGE else 200_000
    result = {}

    def run():
        result.update(W.memory_run(n, 64, 1024, "empty"))

    benchmark.group = "memory"
    benchmark.pedantic(run, rounds=1)
    benchmark.extra_info.update(result)
    benchmark.extra_info["target"] = W.TARGETS["memory_excess_mib"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("side", ["ntkfast", "kernel_then_matmul"])
def test_nystroem_transform(benchmark, side, dtype):
    """NTKNystroem.transform (the kernel against the landmarks and the product with N fused
    in one batch loop) against the same computation composed by hand: the library's exact
    kernel ``ntk_kernel(X, C)`` then numpy's (BLAS) product with ``N``."""
    n, m = (100_000 if LARGE else 20_000), 2048
    X = W.gaussian(n, 64, dtype)
    est = ntkfast.NTKNystroem(depth=2, n_components=m, random_state=0).fit(X)
    C, N = est.components_, est.normalization_.astype(dtype)
    out = np.empty((n, m), dtype=dtype)
    if side == "ntkfast":
        def fn():
            return est.transform(X, out=out)
    else:
        def fn():
            return np.matmul(ntkfast.ntk_kernel(X, C, depth=2), N, out=out)
    mark(benchmark, f"nystroem transform n={n} d=64 m={m} depth=2 {np.dtype(dtype).name}",
         "ntkfast" if side == "ntkfast" else "reference")
    benchmark.pedantic(fn, rounds=3, warmup_rounds=1)
