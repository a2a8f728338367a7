"""Thread speed-up of NTKRandomFeatures.transform stage by stage (README, "Threads, features").

    PYTHONPATH=$PWD python bench/thread_stages.py [--n 20000] [--runs 9]

Times depth-1, 4,096-component float32 transforms on 1 and 2 threads, interleaved, with each
stage of the layer timed inside the transform: the fused ReLU features + CountSketches
(``ntk_layer_inputs``), the two forward FFTs, the spectrum product and the inverse FFT.
Prints the minimum per stage and thread count and the ratios of the minima.
"""
import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ntkfast  # noqa: E402
from ntkfast._engine import feature_maps  # noqa: E402

STAGES = ["layer_inputs", "rfft", "multiply", "irfft", "other", "total"]


class _TimedSketch:
    """ntkfast._sketch with ntk_layer_inputs timed; everything else passed through."""

    def __init__(self, module, timed):
        self._module, self.ntk_layer_inputs = module, timed

    def __getattr__(self, name):
        return getattr(self._module, name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--runs", type=int, default=9)
    args = p.parse_args(argv)

    spent = collections.defaultdict(float)

    def timed(name, fn):
        def call(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t0
        return call

    feature_maps._sketch = _TimedSketch(feature_maps._sketch,
                                        timed("layer_inputs", feature_maps._sketch.ntk_layer_inputs))
    feature_maps.rfft_rows = timed("rfft", feature_maps.rfft_rows)
    feature_maps.irfft_rows = timed("irfft", feature_maps.irfft_rows)
    feature_maps.multiply_spectra = timed("multiply", feature_maps.multiply_spectra)

    X = np.random.default_rng(0).standard_normal((args.n, 64)).astype(np.float32)
    out = np.ones((args.n, 4096), dtype=np.float32)
    ests = {t: ntkfast.NTKRandomFeatures(depth=1, n_components=4096, random_state=0,
                                         n_threads=t).fit(X[:1]) for t in (1, 2)}
    runs = {1: [], 2: []}
    for _ in range(args.runs):
        for t in (1, 2):
            spent.clear()
            t0 = time.perf_counter()
            ests[t].transform(X, out=out)
            row = dict(spent, total=time.perf_counter() - t0)
            row["other"] = row["total"] - sum(spent.values())
            runs[t].append(row)
    best = {t: {s: min(r[s] for r in runs[t]) for s in STAGES} for t in (1, 2)}
    print(f"n = {args.n:,}, minima of {args.runs} interleaved runs (ms)")
    print("| stage | 1 thread | 2 threads | speed-up |")
    print("|---|---|---|---|")
    for s in STAGES:
        print(f"| {s} | {1e3 * best[1][s]:.4g} | {1e3 * best[2][s]:.4g} | {best[1][s] / best[2][s]:.2f} |")


if __name__ == "__main__":
    main()
