"""TensorSketch against scikit-learn's PolynomialCountSketch and against the FFTs it needs
(issue 4, comparison 2).  See ``bench/conftest.py`` for how to run.
"""
import numpy as np
import pytest
from conftest import mark
from threadpoolctl import threadpool_limits

import _workloads as W


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n,d,D", [(20_000, 512, 4096), (20_000, 64, 1024)])
@pytest.mark.parametrize("side", ["ntkfast", "sklearn", "fft"])
def test_tensor_sketch(benchmark, side, n, d, D, dtype, threads):
    ours, sklearn, fft = W.sketch_pair(n, d, D, dtype, n_threads=threads)
    fn = {"ntkfast": ours, "sklearn": sklearn, "fft": fft}[side]
    name = np.dtype(dtype).name
    target = {"sklearn": W.TARGETS["sketch_vs_sklearn_" + name], "fft": W.TARGETS["sketch_vs_fft"]}
    mark(benchmark, f"tensor_sketch n={n} d={d} D={D} {name} threads={threads}",
         "ntkfast" if side == "ntkfast" else "reference", target.get(side))
    with threadpool_limits(threads):
        benchmark.pedantic(fn, rounds=3, warmup_rounds=1)
