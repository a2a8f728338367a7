"""NTKSketch against NTKRandomFeatures at equal output width, depths 1-5 (issue 15, item 6).

For NTKSketch (SPEC section 8's layers, and method="direct", the authors' one polynomial of
the whole NTK; default degrees and widths) and NTKRandomFeatures (its default split) with
the same n_components, this prints the relative Frobenius error
||Phi Phi^T - K||_F / ||K||_F against the exact NTK (ntk_kernel; mean ± sd over seeds, n rows)
and the transform time of --n-time rows (best of --repeat runs, one fit, --threads OpenMP/FFT
threads), on unit-norm Gaussian rows and on the protein data (CASP.csv: columns F1..F9
standardised; skipped if the file is missing).  A second table, at the depths of
--degree-depths, measures NTKSketch's degree q for both methods: the error of the polynomials
alone (the exact composition of the fitted P1, P0, or the one polynomial, against the NTK, no
sketch), the error of the features and the transform time; it is the measurement behind the
default degrees.

    python bench/ntk_sketch.py [--casp /work/shared/data/CASP.csv] [--n-components 2048]
"""
import argparse
import datetime
import os
import platform
import shlex
import sys
import time

import numpy as np

import ntkfast
from ntkfast._engine.polynomials import arccos_polynomials, ntk_polynomial


def datasets(args):
    rng = np.random.default_rng(0)
    G = rng.standard_normal((args.n_time, args.d))
    yield f"Gaussian d={args.d}", G / np.linalg.norm(G, axis=1, keepdims=True)
    if args.casp and os.path.exists(args.casp):
        data = np.loadtxt(args.casp, delimiter=",", skiprows=1)
        X = data[rng.choice(len(data), args.n_time, replace=False), 1:]  # F1..F9 (RMSD is column 0)
        yield f"CASP d={X.shape[1]}", (X - X.mean(0)) / X.std(0)
    else:
        print(f"(CASP data not found at {args.casp!r}: skipped)\n")


def polynomial_ntk(X, depth, degree, method):
    """The NTK recursion on unit rows with kappa1, kappa0 -> the fitted P1, P0 (or the one
    polynomial of the direct method), times norms."""
    norms = np.linalg.norm(X, axis=1)
    U = X / np.where(norms > 0, norms, 1)[:, None]
    sigma = U @ U.T
    if method == "direct":
        return np.polynomial.Polynomial(ntk_polynomial(depth, degree))(sigma) * np.outer(norms, norms)
    c, b = arccos_polynomials(degree)
    theta = sigma.copy()
    for _ in range(depth):
        sigma, dot = np.polynomial.Polynomial(c)(sigma), np.polynomial.Polynomial(b)(sigma)
        theta = theta * dot + sigma
    return theta * np.outer(norms, norms)


def measure(make, X, Xall, K, args):
    """(mean error, sd, best transform time) of the transformer make(seed)."""
    errs = []
    for seed in range(args.seeds):
        est = make(seed).fit(X)
        P = est.transform(X)
        errs.append(np.linalg.norm(P @ P.T - K) / np.linalg.norm(K))
    out = np.empty((Xall.shape[0], args.n_components))
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        est.transform(Xall, out=out)
        times.append(time.perf_counter() - t0)
    return np.mean(errs), np.std(errs, ddof=1), min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--casp", default="/work/shared/data/CASP.csv", help="CASP.csv (skipped if missing)")
    p.add_argument("--n", type=int, default=300, help="rows for the kernel error")
    p.add_argument("--n-time", type=int, default=2000, help="rows for the transform time")
    p.add_argument("--d", type=int, default=16, help="columns of the Gaussian data")
    p.add_argument("--n-components", type=int, default=2048)
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--degrees", type=int, nargs="+", default=[2, 3, 4, 6, 8],
                   help="degrees of the layered method in the second table")
    p.add_argument("--direct-degrees", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--degree-depths", type=int, nargs="+", default=[1, 3])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    nc = args.n_components
    sk = ntkfast.NTKSketch(n_components=nc).fit(np.zeros((1, 2)))
    dsk = ntkfast.NTKSketch(n_components=nc, method="direct").fit(np.zeros((1, 2)))
    print(f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`  ")
    print(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), {args.threads} thread(s), "
          f"load average (1, 5, 15 min) {', '.join(f'{v:.2f}' for v in os.getloadavg())} at start; "
          f"ntkfast {ntkfast.__version__}  ")
    print(f"n_components = {nc}: NTKRandomFeatures with its default split (m1 = m0 = "
          f"{nc - ntkfast.default_sketch_components(nc)}, ms = {ntkfast.default_sketch_components(nc)}, "
          f"TensorSketch), NTKSketch with its defaults (degree {len(sk.relu_coefs_) - 1}, m1 = {sk.n_relu_}, "
          f"ms = {sk.n_sketch_}, PolySketch width s = {sk.n_poly_}) and NTKSketch(method=\"direct\") "
          f"(degree {len(dsk.relu_coefs_) - 1}, s = {dsk.n_poly_}); error over n = {args.n} rows, "
          f"mean ± sd over {args.seeds} seeds; time: transform of {args.n_time} rows, best of {args.repeat}.")
    print()
    print("| data | depth | NTKRandomFeatures error | NTKSketch error | NTKSketch direct error "
          "| NTKRandomFeatures (s) | NTKSketch (s) | NTKSketch direct (s) |")
    print("|---|---|---|---|---|---|---|---|")
    data = list(datasets(args))
    for name, Xall in data:
        X = Xall[:args.n]
        for depth in args.depths:
            K = ntkfast.ntk_kernel(X, depth=depth)
            e1, s1, t1 = measure(lambda seed: ntkfast.NTKRandomFeatures(
                depth=depth, n_components=nc, random_state=seed, n_threads=args.threads), X, Xall, K, args)
            e2, s2, t2 = measure(lambda seed: ntkfast.NTKSketch(
                depth=depth, n_components=nc, random_state=seed, n_threads=args.threads), X, Xall, K, args)
            e3, s3, t3 = measure(lambda seed: ntkfast.NTKSketch(
                depth=depth, n_components=nc, method="direct", random_state=seed, n_threads=args.threads),
                X, Xall, K, args)
            print(f"| {name} | {depth} | {e1:.4f} ± {s1:.4f} | {e2:.4f} ± {s2:.4f} | {e3:.4f} ± {s3:.4f} "
                  f"| {t1:.3f} | {t2:.3f} | {t3:.3f} |", flush=True)
    print()
    print(f"NTKSketch by degree (n_components = {nc}, default widths), same data, seeds and timing:")
    print()
    print("| data | depth | method | degree | polynomials alone: error | NTKSketch error | NTKSketch (s) |")
    print("|---|---|---|---|---|---|---|")
    for name, Xall in data:
        X = Xall[:args.n]
        for depth in args.degree_depths:
            K = ntkfast.ntk_kernel(X, depth=depth)
            for method, degrees in (("layers", args.degrees), ("direct", args.direct_degrees)):
                for q in degrees:
                    e_poly = np.linalg.norm(polynomial_ntk(X, depth, q, method) - K) / np.linalg.norm(K)
                    e, s, t = measure(lambda seed: ntkfast.NTKSketch(
                        depth=depth, n_components=nc, degree=q, method=method, random_state=seed,
                        n_threads=args.threads), X, Xall, K, args)
                    print(f"| {name} | {depth} | {method} | {q} | {e_poly:.4f} | {e:.4f} ± {s:.4f} "
                          f"| {t:.3f} |", flush=True)
    print()
    print(f"Load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
