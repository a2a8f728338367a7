"""What a list of penalties costs: NTKRidge with 1, 5 and 10 alphas against ExactNTKRidge.

    python bench/penalty_path.py [--data ../shared/data/CASP.csv] [--n 2000 6000]
        [--n-components 8192] [--exact-max-n 20000] [--out bench/penalty_path.md]
    python bench/penalty_path.py --quick          # smoke run, small sizes, writes nothing
    python bench/penalty_path.py --linalg 1024 2048 4096   # eigh / Cholesky time ratio

On the protein (CASP) data (target ``RMSD``, features ``F1..F9``), rows shuffled once
(seed 0): the last ``--test-rows`` rows are the test set, the first ``n`` the training set;
``X`` and ``y`` are standardised with sklearn's ``StandardScaler`` fitted on the training
rows, and the test MSE is in standardised units of ``y``.  For every ``n``, the wall time of
``NTKRidge(depth=2, n_components=...).fit`` with 1 alpha (1.0), 5 alphas
(``logspace(-2, 2, 5)``) and 10 alphas (``logspace(-3, 3, 10)``), and of
``ExactNTKRidge(depth=2, alpha=1.0).fit``, all in the same run, as times and ratios; the
route column says how NTKRidge solved (the ``n x n`` dual below ``n_components`` rows, the
``m x m`` statistics from there up).  Where
both models were timed at two or more ``n``, the exponents ``t ~ n^p`` fitted over the
measured ``n`` and the ``n`` where five alphas would cost as much as the exact model
(an extrapolation, labelled as such).

``--linalg m ...``: the time of one eigendecomposition (``eigh``, driver "evd") of an
``m x m`` Gram matrix against one Cholesky factorisation (best of 3), the ratio that
``ntkfast._engine.ridge_stats.choose_method`` encodes.
"""
import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import _workloads as W  # noqa: E402
import ntkfast  # noqa: E402

ALPHAS = {1: [1.0], 5: np.logspace(-2, 2, 5).tolist(), 10: np.logspace(-3, 3, 10).tolist()}
DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "CASP.csv")


def timed_fit(model, X, y, Xt, yt):
    t0 = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - t0
    return seconds, float(np.mean((model.predict(Xt) - yt) ** 2))


def run_sizes(args):
    from sklearn.preprocessing import StandardScaler

    X, y = W.read_casp(args.data)
    order = np.random.default_rng(0).permutation(X.shape[0])
    test, pool = order[-args.test_rows:], order[:-args.test_rows]
    rows, seen = [], {}
    for n in args.n:
        if n > pool.size:
            print(f"n={n}: only {pool.size} training rows available, skipped", file=sys.stderr)
            continue
        tr = pool[:n]
        sx, sy = StandardScaler().fit(X[tr]), StandardScaler().fit(y[tr, None])
        Xn, yn = sx.transform(X[tr]), sy.transform(y[tr, None])[:, 0]
        Xt, yt = sx.transform(X[test]), sy.transform(y[test, None])[:, 0]
        row = {"n": n}
        for k in args.alpha_counts:
            model = ntkfast.NTKRidge(depth=2, n_components=args.n_components, alpha=ALPHAS[k],
                                     random_state=0, verbose=args.verbose)
            row[f"t{k}"], row[f"mse{k}"] = timed_fit(model, Xn, yn, Xt, yt)
            row[f"alpha{k}"] = model.alpha_
            print(f"n={n} NTKRidge {k} alpha(s): {row[f't{k}']:.1f} s, test MSE {row[f'mse{k}']:.4f}",
                  file=sys.stderr, flush=True)
        if n <= args.exact_max_n:
            model = ntkfast.ExactNTKRidge(depth=2, alpha=1.0, verbose=args.verbose)
            row["texact"], row["mseexact"] = timed_fit(model, Xn, yn, Xt, yt)
            print(f"n={n} ExactNTKRidge: {row['texact']:.1f} s, test MSE {row['mseexact']:.4f}",
                  file=sys.stderr, flush=True)
        rows.append(row)
        seen[n] = row
    return rows


def table(rows, args):
    ks = args.alpha_counts
    head = ["n", "route"] + [f"{k} alpha{'s' if k > 1 else ''} (s)" for k in ks] + \
        [f"{k}/1 alpha" for k in ks if k != 1] + ["Exact 1 alpha (s)", "5 alphas / Exact"] + \
        [f"test MSE {k}a (alpha_)" for k in ks] + ["test MSE Exact"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        # ntkfast._engine.ridge_dual.use_dual: the n x n dual for fewer rows than features
        route = "dual" if r["n"] < args.n_components else "primal"
        cells = [f"{r['n']:,}", route] + [f"{r[f't{k}']:.1f}" for k in ks]
        cells += [f"{r[f't{k}'] / r['t1']:.2f}" if 1 in ks else "" for k in ks if k != 1]
        ex = r.get("texact")
        cells += [f"{ex:.1f}" if ex else "not run",
                  f"{r['t5'] / ex:.2f}" if ex and 5 in ks else ""]
        cells += [f"{r[f'mse{k}']:.4f} ({r[f'alpha{k}']:g})" for k in ks]
        cells += [f"{r['mseexact']:.4f}" if ex else ""]
        lines.append("| " + " | ".join(cells) + " |")
    out = "\n".join(lines)
    both = [r for r in rows if "texact" in r and "t5" in r]
    if len(both) >= 2:
        ln = np.log([r["n"] for r in both])
        p5, c5 = np.polyfit(ln, np.log([r["t5"] for r in both]), 1)
        pe, ce = np.polyfit(ln, np.log([r["texact"] for r in both]), 1)
        out += (f"\n\nFitted over n = {', '.join(str(r['n']) for r in both)}: NTKRidge (5 alphas) "
                f"t ~ n^{p5:.2f}, ExactNTKRidge t ~ n^{pe:.2f}.")
        if pe > p5:
            n_cross = np.exp((c5 - ce) / (pe - p5))
            out += (f" Extrapolated (not measured) crossover, where 5 alphas cost as much as the "
                    f"exact model: n ~ {n_cross:,.0f}.")
    return out


def run_linalg(sizes):
    import scipy.linalg

    rng = np.random.default_rng(0)
    lines = ["| m | Cholesky (s) | eigh evd (s) | eigh / Cholesky |", "|---|---|---|---|"]
    for m in sizes:
        P = rng.standard_normal((m + 500, m))
        C = np.asfortranarray(P.T @ P)
        del P

        def best(f, repeats):
            ts = []
            for _ in range(repeats):
                A = C.copy(order="F")
                t0 = time.perf_counter()
                f(A)
                ts.append(time.perf_counter() - t0)
            return min(ts)

        tc = best(lambda A: scipy.linalg.cho_factor(A, overwrite_a=True, check_finite=False), 3)
        te = best(lambda A: scipy.linalg.eigh(A, overwrite_a=True, check_finite=False, driver="evd"),
                  2 if m <= 2048 else 1)
        lines.append(f"| {m} | {tc:.4f} | {te:.3f} | {te / tc:.1f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 6000, 10000, 20000, 30000])
    ap.add_argument("--n-components", type=int, default=8192)
    ap.add_argument("--alpha-counts", type=int, nargs="+", default=[1, 5, 10], choices=sorted(ALPHAS))
    ap.add_argument("--exact-max-n", type=int, default=20000,
                    help="largest n for ExactNTKRidge (its time grows like n^3)")
    ap.add_argument("--test-rows", type=int, default=5000)
    ap.add_argument("--out", help="also write the markdown table to this file")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run (n=300, 600; 256 features); writes a file only with --out")
    ap.add_argument("--linalg", type=int, nargs="*", metavar="M",
                    help="instead: time eigh against Cholesky for these matrix sizes")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    stamp = (f"{datetime.datetime.now().isoformat(timespec='minutes')}, {platform.node()}, "
             f"{W.machine_load()} at start")
    command = "python " + " ".join([os.path.relpath(__file__, os.getcwd())] + sys.argv[1:])
    if args.linalg is not None:
        out = run_linalg(args.linalg or [512, 1024, 2048])
    else:
        if args.quick:
            args.n, args.n_components, args.test_rows = [300, 600], 256, 500
        if not os.path.exists(args.data):
            print(f"penalty_path: {args.data} not found; the protein (CASP) data is needed "
                  f"(columns RMSD, F1..F9), skipping", file=sys.stderr)
            return 0
        rows = run_sizes(args)
        out = table(rows, args)
    out = f"{out}\n\n`{command}` ({stamp}; {W.machine_load()} at end)\n"
    print(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
