"""Does leverage-score sampling help the arc-cosine random features?  (issue 15, item 4)

For order 0 (step) and order 1 (ReLU) features, with and without leverage sampling, prints
the relative Frobenius error ||Phi Phi^T - K||_F / ||K||_F against the exact arc-cosine
kernel (ntkfast.arccos_kernel), mean and standard deviation over seeds, and the change
that leverage makes (mean error with leverage / mean error without - 1; negative: better)
and that difference in standard errors (|z| > 2: beyond the noise of the seeds).
Data: Gaussian rows scaled to unit norm, and rows of CASP.csv (the protein data, target
column dropped) standardised.  Used to choose ArcCosineFeatures' default leverage="auto".

    python bench/leverage_arccos.py [--casp /work/shared/data/CASP.csv] [--n 500] [--seeds 10]
"""
import argparse
import datetime
import os
import platform
import shlex
import sys

import numpy as np

import ntkfast


def datasets(args):
    rng = np.random.default_rng(0)
    G = rng.standard_normal((args.n, args.d))
    yield f"Gaussian, unit-norm rows, d={args.d}", G / np.linalg.norm(G, axis=1, keepdims=True)
    if args.casp and os.path.exists(args.casp):
        data = np.loadtxt(args.casp, delimiter=",", skiprows=1)
        X = data[rng.choice(len(data), args.n, replace=False), 1:]
        yield f"CASP, standardised, d={X.shape[1]}", (X - X.mean(0)) / X.std(0)


def rel_error(X, K, order, m, leverage, seed):
    P = ntkfast.ArcCosineFeatures(order=order, n_components=m, leverage=leverage,
                                  random_state=seed).fit_transform(X)
    return np.linalg.norm(P @ P.T - K) / np.linalg.norm(K)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--casp", default="/work/shared/data/CASP.csv",
                   help="CASP.csv (skipped if missing)")
    p.add_argument("--n", type=int, default=500, help="rows (the error is over n x n entries)")
    p.add_argument("--d", type=int, default=16, help="columns of the Gaussian data")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    args = p.parse_args()
    print(f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`  ")
    print(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average (1, 5, 15 min) "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} at start; ntkfast {ntkfast.__version__}, "
          f"numpy {np.__version__}  ")
    print(f"Relative Frobenius error of Phi Phi^T against the exact arc-cosine kernel, "
          f"n = {args.n} rows, mean ± sd over {args.seeds} seeds (seeds 0-{args.seeds - 1} for both columns).")
    print()
    print("| data | order | m | plain | leverage | leverage vs plain | difference / s.e. |")
    print("|---|---|---|---|---|---|---|")
    for name, X in datasets(args):
        for order in (0, 1):
            K = ntkfast.arccos_kernel(X, order=order)
            for m in args.widths:
                e = {lev: np.array([rel_error(X, K, order, m, lev, s) for s in range(args.seeds)])
                     for lev in (False, True)}
                change = e[True].mean() / e[False].mean() - 1
                # standard error of the difference of two independent means
                se = np.sqrt((e[True].var(ddof=1) + e[False].var(ddof=1)) / args.seeds)
                z = (e[True].mean() - e[False].mean()) / se
                print(f"| {name} | {order} | {m} | {e[False].mean():.4f} ± {e[False].std(ddof=1):.4f} | "
                      f"{e[True].mean():.4f} ± {e[True].std(ddof=1):.4f} | {100 * change:+.1f}% | "
                      f"{z:+.1f} |", flush=True)
    print()
    print(f"Load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
