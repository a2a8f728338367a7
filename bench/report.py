"""Run the benchmark grid of issue 4 and write ``results.md`` and ``time_vs_n.png``.

    PYTHONPATH=$PWD python bench/report.py            # default grid: 19 min on 2 loaded cores
    PYTHONPATH=$PWD python bench/report.py --quick    # smoke run, under a minute, into a temporary folder
    PYTHONPATH=$PWD python bench/report.py --only sketch,ntk   # some sections only
    PYTHONPATH=$PWD python bench/report.py --large    # also n = 20,000 and 40,000 exact
                                                      # (12.8 GB for the 40,000 kernel)

Every ratio is ntkfast against its reference timed in the same process, interleaved
(ntkfast, reference, ntkfast, ...); the tables give the minimum and median over the repeats
and the ratio of the minima, with the target of issue 4 beside it.  Plain timing
(``time.perf_counter``), no pytest needed; the pytest-benchmark grid is ``bench/bench_*.py``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _workloads as W  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import ntkfast  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(t):
    return f"{t:.3g}" if t < 10 else f"{t:.1f}"


class Report:
    def __init__(self):
        self.lines = []

    def add(self, *lines):
        self.lines.extend(lines)
        for line in lines:
            print(line, flush=True)

    def table(self, header, rows):
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header))
        for r in rows:
            self.add("| " + " | ".join(str(c) for c in r) + " |")
        self.add("")


def grid(args):
    q = args.quick
    return {
        "quick": q,
        "repeat": 2 if q else args.repeat,
        "arccos": [(5_000 if q else 100_000, 64, 1024 if q else 4096)],
        "sketch": [(1_000 if q else 20_000, 128 if q else 512, 1024 if q else 4096)],
        "ntk_n": (args.ntk_n if args.ntk_n else
                  [250, 500, 1000] if q else [2500, 5000, 10000] + ([20000, 40000] if args.large else [])),
        "ntk_m": 512 if q else 8192,
        "scale_n": [2500, 5000, 10000] if q else [25_000, 50_000, 100_000, 200_000],
        "scale_d": [32, 128, 512] if q else [32, 64, 128, 256, 512, 1024],
        "scale_d_n": 2500 if q else 25_000,
        "scale_m": 512 if q else 2048,
        "memory_n": 20_000 if q else 1_000_000,
        "threads_n": 2000 if q else 20_000,
        "latency_calls": 10 if q else 200,
        "threads_exact_n": 500 if q else 4000,
    }


# ------------------------------------------------------------------------------------------

def bench_arccos(rep, g):
    rep.add("## 1. Arc-cosine features vs the matrix product alone", "",
            "`ArcCosineFeatures(order=1).transform(X, out=out)` against `np.matmul(X, W, out=)` "
            "(same dtype, same threads, preallocated outputs); numpy's own "
            "`np.maximum(X @ W, 0)` (in place) for scale.  Target: ratio "
            + W.TARGETS["arccos_vs_matmul"] + ".", "")
    rows = []
    for n, d, m in g["arccos"]:
        for dtype in (np.float32, np.float64):
            feats, mm, relu = W.arccos_pair(n, d, m, dtype)
            a, b = W.time_pair(feats, mm, g["repeat"])
            c = W.time_call(relu, g["repeat"])
            rows.append([n, d, m, np.dtype(dtype).name, fmt(a.min()), fmt(np.median(a)), fmt(b.min()),
                         fmt(c.min()), f"**{a.min() / b.min():.2f}**", f"{c.min() / b.min():.2f}",
                         W.TARGETS["arccos_vs_matmul"]])
            del feats, mm, relu
    rep.table(["n", "d", "m", "dtype", "ntkfast min (s)", "median", "X @ W min (s)",
               "np.maximum(X @ W, 0) (s)", "ratio ntkfast", "ratio numpy relu", "target"], rows)


def bench_sketch(rep, g):
    rep.add("## 2. TensorSketch vs scikit-learn and vs the FFT", "",
            "`ntkfast.tensor_sketch(U, U, ...)` against scikit-learn's fitted "
            "`PolynomialCountSketch(degree=2).transform(U)` (which computes in float64 "
            "whatever the input) and against two `scipy.fft.rfft` + one `irfft` of (n, D) "
            "arrays of the same dtype and workers (timed interleaved with ntkfast; scikit-learn "
            "once).", "")
    rows = []
    for n, d, D in g["sketch"]:
        for dtype in (np.float32, np.float64):
            ours, skl, fft = W.sketch_pair(n, d, D, dtype)
            a, c = W.time_pair(ours, fft, g["repeat"])
            # scikit-learn takes tens of seconds at the full size: one call (no warm-up
            # needed, its hashes are drawn in fit), right after ntkfast's.
            b = W.time_call(skl, 1, warmup=0)
            target = W.TARGETS["sketch_vs_sklearn_" + np.dtype(dtype).name]
            rows.append([n, d, D, np.dtype(dtype).name, fmt(a.min()), fmt(b.min()), fmt(c.min()),
                         f"**{b.min() / a.min():.2f}**", target,
                         f"**{a.min() / c.min():.2f}**", W.TARGETS["sketch_vs_fft"]])
    rep.table(["n", "d", "D", "dtype", "ntkfast (s)", "sklearn (s)", "2 rfft + irfft (s)",
               "speed-up vs sklearn", "target", "ratio vs FFT", "target"], rows)


def bench_ntk(rep, g, args):
    m, depth = g["ntk_m"], 2
    lam = args.alpha
    rep.add("## 3. NTK random features + ridge vs exact NTK + dense solve", "",
            f"`NTKRidge(depth={depth}, n_components={m}, alpha={lam}, fit_intercept=False).fit` "
            "(transform and `Phi^T Phi` accumulated in batches, Cholesky solve) against "
            f"`ntk_kernel(X, depth={depth})` + a Cholesky solve of `(K + {lam} I) a = y` in place "
            "(`ExactNTKRidge`'s factorisation: one BLAS thread above 20,000 rows, where scipy's "
            "threaded OpenBLAS Cholesky crashes); one timed fit each (they are long).  The "
            "float32 fit is the same `NTKRidge` on float32 `X` (float32 features, statistics in "
            "float64).  `Phi^T Phi alone` is one float64 BLAS `syrk` of an n x "
            f"{m} matrix: every feature ridge forms it, so exact / that time bounds the speed-up "
            "of any implementation of the features.  Data: "
            + ("CASP (`--casp`), standardised." if args.casp else
               "a random one-hidden-layer ReLU teacher (width 256) on Gaussian inputs, d = 64, "
               "noise sd 0.1.") + " Test MSE on 2,000 held-out rows.  The sklearn column is "
            "`PolynomialCountSketch(degree=2, n_components=4096)` fit_transform alone (no "
            "ridge), for the plot.  Target: speed-up " + W.TARGETS["ntk_speedup_40k"] + ".", "")
    rows, curve = [], []
    from sklearn.kernel_approximation import PolynomialCountSketch

    for n in g["ntk_n"]:
        if args.casp:
            X, y, Xt, yt = W.load_casp(args.casp, n, 2000)
        else:
            X, y = W.teacher_regression(n, 64, seed=0)
            Xt, yt = W.teacher_regression(2000, 64, seed=99)
        t0 = time.perf_counter()
        model = W.features_ridge(X, y, lam, depth, m)
        t_feat = time.perf_counter() - t0
        mse_feat = float(np.mean((model.predict(Xt) - yt) ** 2))
        del model
        # The same fit on float32 features (accumulated in float64, see NTKRidge).
        t0 = time.perf_counter()
        model = W.features_ridge(X, y, lam, depth, m, dtype=np.float32)
        t_feat32 = time.perf_counter() - t0
        mse_feat32 = float(np.mean((model.predict(Xt.astype(np.float32)) - yt) ** 2))
        del model
        # The floor of any feature ridge: Phi^T Phi alone, one BLAS syrk of an n x m float64
        # matrix (the statistic NTKRidge accumulates); exact / this bounds the speed-up.
        t_syrk = W.time_call(W.syrk_floor(n, m), 1, warmup=0).min()
        rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=m, random_state=0).fit(X[:1])
        t_tr = W.time_call(lambda: rf.transform(X), 1, warmup=0).min()
        t_skl = W.time_call(lambda: PolynomialCountSketch(n_components=4096, random_state=0)
                            .fit_transform(X), 1, warmup=0).min()
        t0 = time.perf_counter()
        K = ntkfast.ntk_kernel(X, depth=depth)
        t_kernel = time.perf_counter() - t0
        del K
        t0 = time.perf_counter()
        coef = W.exact_krr(X, y, lam, depth)
        t_exact = time.perf_counter() - t0
        mse_exact = float(np.mean((W.exact_predict(X, coef, Xt, depth) - yt) ** 2))
        del coef
        rows.append([n, fmt(t_exact), fmt(t_kernel), fmt(t_feat), fmt(t_tr), f"**{t_exact / t_feat:.2f}**",
                     fmt(t_feat32), f"{t_exact / t_feat32:.2f}", fmt(t_syrk), f"{t_exact / t_syrk:.1f}",
                     f"{mse_exact:.4f}", f"{mse_feat:.4f}", f"{mse_feat32:.4f}", f"{float(np.var(yt)):.4f}"])
        curve.append({"n": n, "exact": t_exact, "kernel": t_kernel, "features_ridge": t_feat,
                      "transform": t_tr, "sklearn_sketch": t_skl})
    rep.table(["n", "exact: kernel + solve (s)", "of which kernel (s)", "features + ridge (s)",
               "of which transform alone (s)", "speed-up", "float32 features + ridge (s)",
               "speed-up float32", "Phi^T Phi alone (s)", "ceiling: exact / Phi^T Phi",
               "test MSE exact", "test MSE features", "test MSE float32 features", "var(y_test)"], rows)
    cross = [c["n"] for c in curve if c["features_ridge"] < c["exact"]]
    rep.add("Crossover (smallest n of the grid where features + ridge is faster): "
            + (f"n = {cross[0]:,}" if cross else "not reached on this grid") + ".", "")
    # A count of multiply-adds says where the crossover must lie, whatever the implementation:
    # exact = n^2 d / 2 (symmetric Gram) + n^3 / 6 (Cholesky); features = transform
    # (2 d m1 + 2 (depth-1) m1^2 per row: ReLU and step products) + n m^2 / 2 (syrk) + m^3 / 6.
    m1 = m - ntkfast.default_sketch_components(m)
    rep.add("Operation count (multiply-adds): exact `n^2 d/2 + n^3/6`; features "
            f"`n (2 d m1 + 2 (depth-1) m1^2) + n m^2/2 + m^3/6` with m1 = {m1}: "
            + ", ".join(f"n={n:,}: {_flops_ratio(n, 64, m, m1, depth):.2f}x"
                        for n in (5000, 10000, 20000, 40000))
            + " (exact / features): the speed-up an implementation running both at the same "
            "flop rate would reach (it ignores the exact kernel's elementwise work and the FFTs).", "")
    return curve


def _flops_ratio(n, d, m, m1, depth):
    exact = n * n * d / 2 + n ** 3 / 6
    feats = n * (2 * d * m1 + 2 * (depth - 1) * m1 * m1) + n * m * m / 2 + m ** 3 / 6
    return exact / feats


def bench_scaling(rep, g):
    rep.add("## 4. Linear scaling", "",
            f"`NTKRandomFeatures(depth=1, n_components={g['scale_m']})` transform, float32; "
            "slope of log(time) against log(n) (d = 64) and against log(d) "
            f"(n = {g['scale_d_n']:,}), least squares.  Targets: slope in n "
            f"{W.TARGETS['slope_n']}, in d {W.TARGETS['slope_d']}.", "")
    res = {}
    for axis, values in (("n", g["scale_n"]), ("d", g["scale_d"])):
        times = []
        for v in values:
            n, d = (v, 64) if axis == "n" else (g["scale_d_n"], v)
            X = W.gaussian(n, d, np.float32)
            rf = ntkfast.NTKRandomFeatures(depth=1, n_components=g["scale_m"], random_state=0).fit(X[:1])
            out = np.ones((n, g["scale_m"]), dtype=np.float32)
            times.append(W.time_call(lambda: rf.transform(X, out=out), max(g["repeat"], 5)).min())
        slope = np.polyfit(np.log(values), np.log(times), 1)[0]
        res[axis] = (values, times, slope)
    rows = [[axis, ", ".join(f"{v:,}" for v in vals), ", ".join(fmt(t) for t in ts), f"**{s:.2f}**",
             W.TARGETS["slope_" + axis]] for axis, (vals, ts, s) in res.items()]
    rep.table(["axis", "values", "min time (s)", "fitted slope", "target"], rows)


def bench_memory(rep, g, args):
    n, m = g["memory_n"], 1024
    rep.add("## 5. Memory", "",
            f"Peak RSS (`resource.getrusage`, fresh interpreter) of "
            f"`NTKRandomFeatures(depth=1, n_components={m}).transform(X, out=out)` with "
            f"float32 X of shape ({n:,}, 64).  Peak = VmHWM of /proc/self/status, reset "
            "just before the transform; `ru_maxrss` also shown (a child process can inherit "
            "its parent's RSS in it on Linux).  Excess = peak - out - (RSS before the "
            "transform, which holds X and the libraries; out untouched).  Target: excess "
            + W.TARGETS["memory_excess_mib"] + ".", "")
    rows = []
    for mode in ("empty", "memmap"):
        r = W.memory_run(n, 64, m, mode, tmpdir=args.out)
        rows.append([mode, f"{r['out_mib']:.0f}", f"{r['x_mib']:.0f}", f"{r['rss_before_mib']:.0f}",
                     f"{r['hwm_after_mib']:.0f}", f"{r['peak_after_mib']:.0f}", f"**{r['excess_mib']:.0f}**",
                     W.TARGETS["memory_excess_mib"]])
    rep.table(["out", "out (MiB)", "X (MiB)", "RSS before (MiB)", "peak VmHWM (MiB)",
               "ru_maxrss (MiB)", "excess (MiB)",
               "target"], rows)


def bench_threads(rep, g):
    repeat = max(g["repeat"], 2 if g["quick"] else 15)
    rep.add("## 6. Threads", "",
            "Speed-up from 1 to 2 threads (`n_threads` and `threadpool_limits` together), "
            f"timed interleaved, {repeat} runs each: the ratio of the minima and the ratio of "
            "the medians.  Target " + W.TARGETS["threads"] + ".  On this "
            "shared VM single-thread times vary by 20-40% from run to run (other tenants, "
            "clock): the minima are the runs least disturbed.", "")
    rows = []
    n = g["threads_n"]
    X = W.gaussian(n, 64, np.float32)
    ests = {t: ntkfast.NTKRandomFeatures(depth=1, n_components=4096, random_state=0,
                                         n_threads=t).fit(X[:1]) for t in (1, 2)}
    out = np.ones((n, 4096), dtype=np.float32)

    def feat(t):
        def f():
            with threadpool_limits(t):
                ests[t].transform(X, out=out)
        return f

    ne = g["threads_exact_n"]
    Xe = W.gaussian(ne, 64, np.float64)

    def kern(t):
        def f():
            with threadpool_limits(t):
                ntkfast.ntk_kernel(Xe, depth=2, n_threads=t)
        return f

    for label, make in ((f"NTKRandomFeatures(depth=1, 4096) transform, n={n:,}, float32", feat),
                        (f"ntk_kernel(depth=2), n={ne:,}, float64", kern)):
        a, b = W.time_pair(make(1), make(2), repeat)
        rows.append([label, fmt(a.min()), fmt(b.min()), f"**{a.min() / b.min():.2f}**",
                     fmt(np.median(a)), fmt(np.median(b)), f"{np.median(a) / np.median(b):.2f}",
                     W.TARGETS["threads"]])
    rep.table(["workload", "1 thread min (s)", "2 threads min (s)", "speed-up (minima)",
               "1 thread median (s)", "2 threads median (s)", "speed-up (medians)", "target"], rows)


LATENCY_CHILD = r"""
import json, sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
import ntkfast
X = np.random.default_rng(0).standard_normal((64, 16))
rf = ntkfast.NTKRandomFeatures(depth=1, n_components=256, random_state=0).fit(X)
iu = np.arange(16) % 256; s = np.ones(16)
def one(f):
    ts = []
    for _ in range(int(sys.argv[2])):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), float(np.percentile(ts, 90))
print(json.dumps({"transform": one(lambda: rf.transform(X)),
                  "ntk_kernel": one(lambda: ntkfast.ntk_kernel(X, depth=1)),
                  "tensor_sketch": one(lambda: ntkfast.tensor_sketch(X, X, iu, s, iu, s, 256))}))
"""


def bench_latency(rep, g):
    rep.add("## 7. Small-call latency and OpenMP waiting", "",
            f"Median (90th percentile) time of {g['latency_calls']} tiny calls (64 rows, d = 16, 256 features) "
            "in fresh interpreters with different libgomp settings.  With more runnable "
            "threads than cores, a spinning (active) OpenMP worker burns the time slice the "
            "other threads need; passive waiting hands it back.", "")
    root = os.path.dirname(os.path.dirname(os.path.abspath(ntkfast.__file__)))
    rows = []
    for label, env in (("default", {}), ("OMP_WAIT_POLICY=passive", {"OMP_WAIT_POLICY": "passive"}),
                       ("OMP_WAIT_POLICY=active", {"OMP_WAIT_POLICY": "active"}),
                       ("GOMP_SPINCOUNT=0", {"GOMP_SPINCOUNT": "0"}),
                       ("OMP_NUM_THREADS=1", {"OMP_NUM_THREADS": "1"}))[: 2 if g["quick"] else None]:
        e = dict(os.environ)
        for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS"):
            e.pop(k, None)
        e.update(env)
        r = json.loads(subprocess.run([sys.executable, "-c", LATENCY_CHILD, root, str(g["latency_calls"])], env=e,
                                      capture_output=True, text=True, check=True).stdout)
        rows.append([label] + [f"{1e3 * r[k][0]:.2f} ({1e3 * r[k][1]:.2f})"
                               for k in ("transform", "ntk_kernel", "tensor_sketch")])
    rep.table(["libgomp setting", "transform (ms)", "ntk_kernel (ms)", "tensor_sketch (ms)"], rows)


def plot(curve, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [c["n"] for c in curve]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for key, label, style in (("exact", "exact NTK: kernel + Cholesky solve", "o-"),
                              ("features_ridge", "ntkfast NTKRidge (features + ridge)", "s-"),
                              ("transform", "ntkfast NTKRandomFeatures transform", "s--"),
                              ("sklearn_sketch", "scikit-learn PolynomialCountSketch(4096)", "^:")):
        ax.loglog(n, [c[key] for c in curve], style, label=label)
    ax.set_xlabel("n (rows, d = 64)")
    ax.set_ylabel("time (s)")
    ax.set_title("time against n (depth 2; features: n_components as in results.md)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny grid, a smoke run (< 1 min)")
    p.add_argument("--large", action="store_true",
                   default=os.environ.get("NTKFAST_BENCH_LARGE", "") not in ("", "0"),
                   help="add n = 20,000 and 40,000 to the exact-vs-features comparison "
                        "(also NTKFAST_BENCH_LARGE=1); the 40,000 kernel needs 12.8 GB")
    p.add_argument("--ntk-n", default=None, type=lambda v: [int(x) for x in v.split(",")],
                   help="comma-separated n of comparison 3 (overrides the grid and --large)")
    p.add_argument("--casp", default=None, help="path to CASP.csv for comparison 3")
    p.add_argument("--alpha", type=float, default=10.0, help="ridge penalty of comparison 3")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=None,
                   help="folder for results.md and time_vs_n.png (default: bench/ for a full run; "
                        "a --quick run never overwrites the committed results: it writes to a "
                        "temporary folder unless --out is given)")
    p.add_argument("--only", default=None,
                   help="comma-separated sections to run: arccos,sketch,ntk,scaling,memory,threads,latency")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="ntkfast-report-") if args.quick else HERE
        print(f"writing to {args.out}", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    g = grid(args)
    only = set(args.only.split(",")) if args.only else None
    rep = Report()
    t_start = time.perf_counter()
    info = W.machine_info()
    rep.add("# ntkfast benchmarks", "",
            "Command: `PYTHONPATH=$PWD python bench/report.py"
            + (" --quick" if args.quick else "") + (" --large" if args.large else "")
            + (f" --only {args.only}" if args.only else "")
            + (" --ntk-n " + ",".join(map(str, args.ntk_n)) if args.ntk_n else "") + "`", "")
    rep.table(["machine", ""], [[k, v] for k, v in info.items()])
    curve = None
    sections = [("arccos", lambda: bench_arccos(rep, g)), ("sketch", lambda: bench_sketch(rep, g)),
                ("ntk", lambda: bench_ntk(rep, g, args)), ("scaling", lambda: bench_scaling(rep, g)),
                ("memory", lambda: bench_memory(rep, g, args)), ("threads", lambda: bench_threads(rep, g)),
                ("latency", lambda: bench_latency(rep, g))]
    for name, fn in sections:
        if only is None or name in only:
            t0 = time.perf_counter()
            r = fn()
            rep.add(f"_(section run time {time.perf_counter() - t0:.0f} s)_", "")
            if name == "ntk":
                curve = r
    rep.add(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"total run time {time.perf_counter() - t_start:.0f} s.", "")
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(rep.lines) + "\n")
    if curve:
        plot(curve, os.path.join(args.out, "time_vs_n.png"))


if __name__ == "__main__":
    main()
