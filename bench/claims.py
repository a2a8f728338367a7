"""Which of the README's speed figures hold outside bench/report.py's own settings (issue 14, item 4).

An outside measurement with the report's sizes but its own way of calling found TensorSketch
3.5x faster than scikit-learn in float64 (report: 8.3x), ``ArcCosineFeatures`` at 1.28x the
bare ``X @ W`` (report: 0.85x) and ``ntk_kernel`` 4.6x faster than a plain numpy recursion.
This script measures the three comparisons under the variants that differ between the two
ways (preallocated ``out=`` or fresh outputs, warm-up or first call, threads, dtype, W's
layout, sizes), each as a ratio whose two sides are timed interleaved (A, B, A, B, ...) in the
same run.  Each table gives the minimum and the median of the paired ratios, and the 1-minute
load average when the row was measured.  Nothing here asserts a timing.

    PYTHONPATH=$PWD python bench/claims.py                 # about 8 minutes on 2 cores
    PYTHONPATH=$PWD python bench/claims.py --quick         # tiny sizes, seconds (smoke test)
"""
import argparse
import os
import time

import _workloads as W
import numpy as np
from threadpoolctl import threadpool_limits

import ntkfast


def load1():
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def fmt(t):
    return f"{t:.3g}"


def ratios(a, b):
    """(ratio of the minima, median of the paired ratios) of a / b."""
    return a.min() / b.min(), float(np.median(a / b))


def row(label, a, b, speedup):
    """A table row: times of both sides (min, median) and the ratio; ``speedup`` reports b / a."""
    if speedup:
        r_min, r_med = ratios(b, a)
    else:
        r_min, r_med = ratios(a, b)
    return (f"| {label} | {fmt(a.min())} | {fmt(np.median(a))} | {fmt(b.min())} | "
            f"{fmt(np.median(b))} | **{r_min:.2f}** | {r_med:.2f} | {load1()} |")


HEADER = ("| variant | ntkfast min (s) | median | {ref} min (s) | median | {what} (minima) | "
          "{what} (median of pairs) | load (1 min) |\n|---|---|---|---|---|---|---|---|")


# --------------------------------------------------------------------------------------------
# 1. ArcCosineFeatures(order=1) vs X @ W
# --------------------------------------------------------------------------------------------

def arccos(n, d, m, dtype, repeat):
    X = W.gaussian(n, d, dtype, 0)
    est = ntkfast.ArcCosineFeatures(order=1, n_components=m, random_state=0).fit(X[:1])
    est1 = ntkfast.ArcCosineFeatures(order=1, n_components=m, random_state=0, n_threads=1).fit(X[:1])
    Wv = est.weights_.T                       # (d, m) view of the (m, d) weights
    WT = np.ascontiguousarray(Wv)             # (d, m) C-contiguous, what the report uses
    out = np.ones((n, m), dtype=dtype)
    out_ref = np.ones((n, m), dtype=dtype)

    def f_out():
        est.transform(X, out=out)

    def f_fresh():
        est.transform(X)                      # a fresh (n, m) result, discarded

    def f1_out():
        est1.transform(X, out=out)

    def mm_out():
        np.matmul(X, WT, out=out_ref)

    def mm_fresh():
        X @ WT

    def mm_view_fresh():
        X @ Wv

    def mm1_out():
        with threadpool_limits(1):
            np.matmul(X, WT, out=out_ref)

    variants = [
        ("report: `transform(X, out=)` vs `matmul(X, W, out=)`", f_out, mm_out),
        ("both fresh: `transform(X)` vs `X @ W`", f_fresh, mm_fresh),
        ("fresh vs preallocated: `transform(X)` vs `matmul(X, W, out=)`", f_fresh, mm_out),
        ("`transform(X, out=)` vs fresh `X @ W`", f_out, mm_fresh),
        ("both fresh, W as the transposed view `est.weights_.T`", f_fresh, mm_view_fresh),
        ("1 thread each, both `out=`", f1_out, mm1_out),
    ]
    from ntkfast._engine.batches import batch_rows
    from ntkfast._engine.validation import first_bad_row

    rows = batch_rows(est.__ntkfast_feature_map__().elements_per_row)

    def check_only():
        # the transform's result check alone: one serial np.sum per batch of the output
        for i0 in range(0, n, rows):
            first_bad_row(out[i0:i0 + rows])

    variants.append((f"its output check alone (`np.sum` of each {rows:,}-row batch, 1 thread) "
                     "vs `matmul(X, W, out=)`", check_only, mm_out))
    lines = []
    for label, f, g in variants:
        a, b = W.time_pair(f, g, repeat)
        lines.append(row(label, a, b, speedup=False))
    # first call of each (cold: the estimator's compiled map and workspaces made on the fly)
    est_c = ntkfast.ArcCosineFeatures(order=1, n_components=m, random_state=0).fit(X[:1])
    t0 = time.perf_counter()
    est_c.transform(X)
    ta = time.perf_counter() - t0
    t0 = time.perf_counter()
    X @ WT
    tb = time.perf_counter() - t0
    lines.append(f"| first call after fit, both fresh (one call each) | {fmt(ta)} | | {fmt(tb)} | | "
                 f"**{ta / tb:.2f}** | | {load1()} |")
    return lines


# --------------------------------------------------------------------------------------------
# 2. tensor_sketch vs scikit-learn's PolynomialCountSketch(degree=2)
# --------------------------------------------------------------------------------------------

def sklearn_stages(pcs, U):
    """Times of the two stages of ``PolynomialCountSketch.transform`` as scikit-learn writes
    them: the column-by-column count sketch (a strided scatter into an (n, 2, D) float64
    array) and the complex FFT, product and inverse FFT (scipy.fft, one worker)."""
    from scipy.fft import fft, ifft

    X = np.asarray(U, dtype=np.float64)
    t0 = time.perf_counter()
    cs = np.zeros((X.shape[0], pcs.degree, pcs.n_components))
    for j in range(X.shape[1]):
        for k in range(pcs.degree):
            cs[:, k, pcs.indexHash_[k, j]] += pcs.bitHash_[k, j] * X[:, j]
    t1 = time.perf_counter()
    f = fft(cs, axis=2, overwrite_x=True)
    p = np.prod(f, axis=1)
    np.real(ifft(p, overwrite_x=True))
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def sketch(n, d, D, dtype, repeat, stages):
    ours, skl, fft = W.sketch_pair(n, d, D, dtype)
    ours1, _, _ = W.sketch_pair(n, d, D, dtype, n_threads=1)
    lines = []
    # The report's way: ntkfast warmed up, scikit-learn once without warm-up.
    a = W.time_call(ours, repeat)
    b = W.time_call(skl, 1, warmup=0)
    lines.append(row("report: ntkfast best of warm calls, sklearn its first call", a, b, True))
    a, b = W.time_pair(ours, skl, repeat, warmup=0)
    lines.append(row("both warm, interleaved", a, b, True))
    a, b = W.time_pair(ours1, skl, repeat, warmup=0)
    lines.append(row("ntkfast 1 thread (sklearn's FFT uses 1 worker)", a, b, True))
    extra = []
    if stages:
        U = W.gaussian(n, d, dtype, 0)
        from sklearn.kernel_approximation import PolynomialCountSketch
        pcs = PolynomialCountSketch(degree=2, n_components=D, random_state=0).fit(U[:1])
        s1, s2 = sklearn_stages(pcs, U)
        f = W.time_call(fft, 1)
        extra.append((n, d, D, np.dtype(dtype).name, s1, s2, f.min()))
    return lines, extra


# --------------------------------------------------------------------------------------------
# 3. ntk_kernel vs a plain numpy recursion (SPEC section 2)
# --------------------------------------------------------------------------------------------

def numpy_ntk(X, depth):
    """The exact NTK (SPEC section 2, no bias) with whole-matrix numpy operations: the Gram
    matrix, then per layer rho, arccos, kappa0 and kappa1 on the (n, n) matrix."""
    G = X @ X.T
    nrm = np.sqrt(np.maximum(np.einsum("ij,ij->i", X, X), 0))
    nn = np.outer(nrm, nrm)
    inv = np.divide(1, nn, out=np.zeros_like(nn), where=nn > 0)
    S, T = G, G.copy()
    for _ in range(depth):
        rho = np.clip(S * inv, -1, 1)
        a = np.arccos(rho)
        k0 = 1 - a / np.pi
        S = nn * (np.sqrt(1 - rho * rho) + rho * (np.pi - a)) / np.pi
        T *= k0
        T += S
    return T


def ntk(n, d, depth, dtype, repeat, threads=None):
    X = W.gaussian(n, d, dtype, 0)
    X /= np.sqrt(d)                           # in place: X keeps its dtype
    res = {}

    def ours():
        res["a"] = ntkfast.ntk_kernel(X, depth=depth, n_threads=threads)

    def ref():
        if threads is None:
            res["b"] = numpy_ntk(X, depth)
        else:
            with threadpool_limits(threads):
                res["b"] = numpy_ntk(X, depth)

    a, b = W.time_pair(ours, ref, repeat)
    Ka, Kb = res.pop("a"), res.pop("b")
    err = float(np.abs(Ka - Kb).max() / np.abs(Kb).max())
    del Ka, Kb
    return a, b, err


# --------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test, seconds)")
    p.add_argument("--only", default="arccos,sketch,ntk", help="sections, comma-separated")
    p.add_argument("--repeat", type=int, default=3, help="interleaved timed pairs per row")
    p.add_argument("--arccos", default="100000x64x4096,20000x64x4096",
                   help="n x d x m sizes of section 1")
    p.add_argument("--sketch", default="20000x512x4096,20000x64x4096",
                   help="n x d x D sizes of section 2 (float32 only for the first)")
    p.add_argument("--ntk-n", default="1000,3000,10000", help="rows of section 3 (depth 2)")
    p.add_argument("--ntk-d", type=int, default=64)
    p.add_argument("--ntk-depths", default="1,2,3", help="depths of section 3 at --ntk-depth-n")
    p.add_argument("--ntk-depth-n", type=int, default=3000)
    args = p.parse_args(argv)
    if args.quick:
        args.arccos, args.sketch, args.ntk_n = "2000x16x256", "500x32x256,500x16x256", "200,400"
        args.ntk_d, args.ntk_depth_n, args.ntk_depths = 16, 300, "1,2"
    sizes = lambda s: [tuple(int(v) for v in t.split("x")) for t in s.split(",") if t]  # noqa: E731
    only = set(args.only.split(","))
    start = time.perf_counter()
    W.print_run_header(f"{args.repeat} interleaved pairs per row after one warm-up pair "
                       "unless stated")
    print()

    if "arccos" in only:
        print("## 1. `ArcCosineFeatures(order=1)` time / bare `X @ W`\n")
        print("Ratio < 1: ntkfast faster.  `out=`: into a preallocated, already touched array; "
              "fresh: a new result each call (its pages are faulted in during the call).  "
              "W is the estimator's weights as a C-contiguous (d, m) array unless stated.  "
              "Default threads: ntkfast's OpenMP and numpy's OpenBLAS, 2 each.\n")
        for n, d, m in sizes(args.arccos):
            for dtype in (np.float32, np.float64):
                print(f"**n = {n:,}, d = {d}, m = {m:,}, {np.dtype(dtype).name}** "
                      f"(output {n * m * np.dtype(dtype).itemsize / 2**30:.2f} GiB)\n")
                print(HEADER.format(ref="X @ W", what="ratio"))
                for line in arccos(n, d, m, dtype, args.repeat):
                    print(line, flush=True)
                print()

    if "sketch" in only:
        print("## 2. `tensor_sketch(U, U)` vs scikit-learn's `PolynomialCountSketch(degree=2)`\n")
        print("Speed-up > 1: ntkfast faster.  scikit-learn fitted beforehand; it computes in "
              "float64 whatever the input, with a single-worker complex FFT.  ntkfast: 2 OpenMP "
              "threads unless stated.\n")
        stage_rows = []
        for i, (n, d, D) in enumerate(sizes(args.sketch)):
            for dtype in ((np.float64, np.float32) if i == 0 else (np.float64,)):
                print(f"**n = {n:,}, d = {d}, D = {D:,}, {np.dtype(dtype).name}**\n")
                print(HEADER.format(ref="sklearn", what="speed-up"))
                lines, extra = sketch(n, d, D, dtype, args.repeat, stages=dtype == np.float64)
                for line in lines:
                    print(line, flush=True)
                stage_rows += extra
                print()
        print("scikit-learn's transform split into its two stages (one call each, float64), "
              "and two `rfft` + one `irfft` of (n, D) arrays with ntkfast's workers:\n")
        print("| n | d | D | dtype | count sketch loop (s) | fft, product, ifft (s) | "
              "2 rfft + irfft (s) | load (1 min) |\n|---|---|---|---|---|---|---|---|")
        for n, d, D, dt, s1, s2, f in stage_rows:
            print(f"| {n} | {d} | {D} | {dt} | {fmt(s1)} | {fmt(s2)} | {fmt(f)} | {load1()} |")
        print()

    if "ntk" in only:
        print("## 3. `ntk_kernel(X)` vs a plain numpy recursion\n")
        print(f"Speed-up > 1: ntkfast faster.  X: n x {args.ntk_d} Gaussian / sqrt(d).  numpy: "
              "`X @ X.T`, then per layer rho, `arccos`, kappa0, kappa1 on the whole (n, n) "
              "matrix (`numpy_ntk` here); its Gram matrix uses OpenBLAS's 2 threads, its "
              "elementwise passes one.  max rel. diff: of the two results.\n")
        print("| n | depth | dtype | threads | ntkfast min (s) | median | numpy min (s) | median | "
              "speed-up (minima) | speed-up (median of pairs) | max rel. diff | load (1 min) |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|")
        cases = [(n, 2, dt, None) for n in sizes(args.ntk_n) for dt in (np.float64, np.float32)]
        cases = [(n[0], dp, dt, th) for n, dp, dt, th in cases]
        cases += [(args.ntk_depth_n, int(dp), np.float64, None) for dp in args.ntk_depths.split(",")
                  if int(dp) != 2]
        cases += [(args.ntk_depth_n, 2, np.float64, 1)]
        for n, depth, dtype, th in cases:
            a, b, err = ntk(n, args.ntk_d, depth, dtype, args.repeat, th)
            r_min, r_med = ratios(b, a)
            print(f"| {n:,} | {depth} | {np.dtype(dtype).name} | {th or 'default (2)'} | "
                  f"{fmt(a.min())} | {fmt(np.median(a))} | {fmt(b.min())} | {fmt(np.median(b))} | "
                  f"**{r_min:.2f}** | {r_med:.2f} | {err:.1e} | {load1()} |", flush=True)
        print()

    print(f"Run time {time.perf_counter() - start:.0f} s.  ", end="")
    W.print_run_end()


if __name__ == "__main__":
    main()
