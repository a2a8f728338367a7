"""NTK random features + ridge against the exact NTK + a dense solve (issue 4, comparison 3).

The default grid stops at n = 10,000; ``NTKFAST_BENCH_LARGE=1`` adds 20,000 and 40,000 (the
40,000 x 40,000 float64 kernel alone is 12.8 GB and takes minutes).  The test MSE of each
side is stored in the benchmark's ``extra_info`` (``--benchmark-json``).
See ``bench/conftest.py`` for how to run.
"""
import numpy as np
import pytest
from conftest import LARGE, mark

import _workloads as W

SIZES = [2_500, 5_000, 10_000] + ([20_000, 40_000] if LARGE else [])
ALPHA, DEPTH, M = 10.0, 2, 8192


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("side", ["ntkfast", "exact"])
def test_features_vs_exact(benchmark, side, n):
    X, y = W.teacher_regression(n, 64, seed=0)
    Xt, yt = W.teacher_regression(2000, 64, seed=99)
    result = {}
    if side == "ntkfast":
        def run():
            result["model"] = W.features_ridge(X, y, ALPHA, DEPTH, M)
    else:
        def run():
            result["coef"] = W.exact_krr(X, y, ALPHA, DEPTH)
    mark(benchmark, f"ntk ridge n={n} d=64 depth={DEPTH}", "ntkfast" if side == "ntkfast" else "reference",
         W.TARGETS["ntk_speedup_40k"] if side == "exact" else None)
    benchmark.pedantic(run, rounds=1)
    pred = (result["model"].predict(Xt) if side == "ntkfast"
            else W.exact_predict(X, result["coef"], Xt, DEPTH))
    benchmark.extra_info["test_mse"] = float(np.mean((pred - yt) ** 2))
    benchmark.extra_info["var_y_test"] = float(np.var(yt))


@pytest.mark.parametrize("threads", [1, 2])
def test_exact_kernel_threads(benchmark, threads):
    from threadpoolctl import threadpool_limits

    import ntkfast

    X = W.gaussian(4000, 64)
    mark(benchmark, "ntk_kernel n=4000 depth=2 threads", "reference" if threads == 1 else "ntkfast",
         W.TARGETS["threads"] if threads == 1 else None)
    with threadpool_limits(threads):
        benchmark.pedantic(ntkfast.ntk_kernel, args=(X,), kwargs={"depth": 2, "n_threads": threads},
                           rounds=3, warmup_rounds=1)
