"""TensorSketch (CountSketch + FFT) against TensorSRHT at equal output size (issue 15, item 1).

For NTKRandomFeatures(sketch="countsketch") and NTKRandomFeatures(sketch="srht") with the
same n_components and the same split (m1 ReLU features, ms sketch features, ms even), this
prints the relative Frobenius error ||Phi Phi^T - K||_F / ||K||_F against the exact NTK
(mean ± sd over seeds, n rows) and the transform time of --n-time rows (best of --repeat
runs, one fit, --threads OpenMP/FFT threads), depths 1-3, on unit-norm Gaussian rows and
on the protein data (CASP.csv: features F1..F9 standardised; skipped if the file is
missing).  A second table compares the two sketches alone: the relative error of
<S(u, v), S(u', v')> for <u (x) u', v (x) v'> over random unit vectors (one draw per pair),
at equal width D.

    python bench/srht_vs_tensorsketch.py [--casp /work/shared/data/CASP.csv] [--n-components 2048]
"""
import argparse
import time

import _workloads as W
import numpy as np

import ntkfast
from ntkfast.features import _largest_fast_length


def primitive_table(args):
    """Degree-2 sketches alone: error of the inner product estimate at equal width."""
    rng = np.random.default_rng(1)
    print("| k_u x k_v | D | TensorSketch rel. error | TensorSRHT rel. error |")
    print("|---|---|---|---|")
    for ku, kv in ((16, 16), (256, 1024)):
        for D in (64, 512):
            errs = {"ts": [], "srht": []}
            for _ in range(args.pairs):
                U = rng.standard_normal((2, ku))
                V = rng.standard_normal((2, kv))
                U /= np.linalg.norm(U, axis=1, keepdims=True)
                V /= np.linalg.norm(V, axis=1, keepdims=True)
                target = (U[0] @ U[1]) * (V[0] @ V[1])
                norm = 1.0  # |u||u'||v||v'|: the scale of the error (target may be ~0)
                T = ntkfast.tensor_sketch(U, V, rng.integers(0, D, ku), rng.choice([-1, 1], ku),
                                          rng.integers(0, D, kv), rng.choice([-1, 1], kv), D)
                S = ntkfast.tensor_srht(U, V, rng.integers(0, ku, D // 2), rng.choice([-1, 1], ku),
                                        rng.integers(0, kv, D // 2), rng.choice([-1, 1], kv), D)
                errs["ts"].append((T[0] @ T[1] - target) ** 2 / norm)
                errs["srht"].append((S[0] @ S[1] - target) ** 2 / norm)
            print(f"| {ku} x {kv} | {D} | {np.sqrt(np.mean(errs['ts'])):.4f} "
                  f"| {np.sqrt(np.mean(errs['srht'])):.4f} |", flush=True)
    print()
    print(f"(root mean square error over {args.pairs} random unit-vector pairs, one draw of each "
          f"sketch per pair; the error is relative to |u||u'||v||v'| = 1)")
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--casp", default="/work/shared/data/CASP.csv", help="CASP.csv (skipped if missing)")
    p.add_argument("--n", type=int, default=300, help="rows for the kernel error")
    p.add_argument("--n-time", type=int, default=2000, help="rows for the transform time")
    p.add_argument("--d", type=int, default=16, help="columns of the Gaussian data")
    p.add_argument("--n-components", type=int, default=2048)
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pairs", type=int, default=200, help="vector pairs of the sketch-only table")
    args = p.parse_args()
    nc = args.n_components
    # The default split, rounded down to an even 5-smooth width: TensorSketch's FFT length
    # is ms (the default is 5-smooth; an odd one minus 1 may have a large prime factor).
    ms = ntkfast.default_sketch_components(nc)
    while ms % 2 or _largest_fast_length(ms) != ms:
        ms -= 1
    m1 = nc - ms
    W.print_run_header(f"{args.threads} thread(s)")
    print(f"n_components = {nc} (m1 = m0 = {m1}, ms = {ms}, both sketches), error over n = {args.n} "
          f"rows, mean ± sd over {args.seeds} seeds; time: transform of {args.n_time} rows, best of "
          f"{args.repeat}.")
    print()
    print("| data | depth | TensorSketch error | TensorSRHT error | SRHT / TS error "
          "| TensorSketch (s) | TensorSRHT (s) | SRHT / TS time |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, Xall in W.unit_gaussian_and_casp(args.n_time, args.d, args.casp):
        name = f"{kind} d={Xall.shape[1]}"
        X = Xall[:args.n]
        for depth in args.depths:
            K = ntkfast.ntk_kernel(X, depth=depth)
            res = {}
            for sketch in ("countsketch", "srht"):
                errs = []
                for seed in range(args.seeds):
                    rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=nc, sketch_components=ms,
                                                   sketch=sketch, random_state=seed,
                                                   n_threads=args.threads).fit(X)
                    P = rf.transform(X)
                    errs.append(np.linalg.norm(P @ P.T - K) / np.linalg.norm(K))
                out = np.empty((Xall.shape[0], nc))
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    rf.transform(Xall, out=out)
                    times.append(time.perf_counter() - t0)
                res[sketch] = (np.mean(errs), np.std(errs, ddof=1), min(times))
            (e1, s1, t1), (e2, s2, t2) = res["countsketch"], res["srht"]
            print(f"| {name} | {depth} | {e1:.4f} ± {s1:.4f} | {e2:.4f} ± {s2:.4f} | {e2 / e1:.2f} "
                  f"| {t1:.3f} | {t2:.3f} | {t2 / t1:.2f}x |", flush=True)
    print()
    primitive_table(args)
    W.print_run_end()


if __name__ == "__main__":
    main()
