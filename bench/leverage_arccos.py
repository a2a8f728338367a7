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

import _workloads as W
import numpy as np

import ntkfast

LABELS = {"Gaussian": "Gaussian, unit-norm rows", "CASP": "CASP, standardised"}


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
    W.print_run_header()
    print(f"Relative Frobenius error of Phi Phi^T against the exact arc-cosine kernel, "
          f"n = {args.n} rows, mean ± sd over {args.seeds} seeds (seeds 0-{args.seeds - 1} for both columns).")
    print()
    print("| data | order | m | plain | leverage | leverage vs plain | difference / s.e. |")
    print("|---|---|---|---|---|---|---|")
    for kind, X in W.unit_gaussian_and_casp(args.n, args.d, args.casp):
        name = f"{LABELS[kind]}, d={X.shape[1]}"
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
    W.print_run_end()


if __name__ == "__main__":
    main()
