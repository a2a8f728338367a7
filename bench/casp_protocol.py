"""The authors' UCI regression protocol (their run_uci_regression.py) on the protein (CASP) data set.

    python bench/casp_protocol.py [--data ../shared/data/CASP.csv] [--exact-rows 10000]
    python bench/casp_protocol.py --authors      # + the authors' own pipeline, step by step

Per fold of a 4-fold ``KFold`` (no shuffle):

1. standardise ``X`` and ``y`` with the training fold's mean and standard deviation, and drop
   the columns that are constant on the training fold;
2. choose ``lam = exp(i) * n`` for ``i = -18..3`` by fitting on 1,000 random training rows
   (``n = 1000``) and validating on 10,000 other training rows (MSE);
3. refit on the whole training fold (or, for the exact kernel, on ``--exact-rows`` random rows
   of it) with ``lam = exp(i_best) * n_fit`` and report the test MSE in the original units
   of ``y``.

``NTKRidge``'s ``alpha`` is this ``lam`` (it solves ``(Phi^T Phi + alpha I) w = Phi^T y``
on centred features and targets); ``ExactNTKRidge``'s ``alpha`` likewise
(``(K + alpha I) a = y - ybar``).  The selection step solves the same problems for all 22
values at once from one eigendecomposition of the 1,000 x 1,000 (centred) Gram matrix,
which gives the same solutions as 22 separate fits.  The features used for the selection
are drawn with the same parameters and seed as the final model's (the same distribution;
not necessarily the same draw).

``--authors`` adds :func:`authors_pipeline`, their code's steps as written (no intercept,
float32 features, one feature draw for selection and refit, constant columns dropped on the
whole data, ``lam = e^i n`` for the selection and ``best_lam * n`` at the refit), beside the
protocol above, so that the cost of each difference shows.

The target is the first column (``RMSD``); the other columns are the features.
Prints a markdown table: mean +/- std over folds of the test MSE, the chosen ``i`` per
fold, and the time per fold (selection, final fit, test prediction).
"""
import argparse
import os
import sys
import time

import numpy as np
from sklearn.model_selection import KFold

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import _workloads as W  # noqa: E402
import ntkfast  # noqa: E402

EXPONENTS = np.arange(-18, 4)


def standardise(X_tr, y_tr, *others):
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    keep = std > 0
    mean, std = mean[keep], std[keep]
    y_mean, y_std = y_tr.mean(), y_tr.std()
    f = lambda X: (X[:, keep] - mean) / std  # noqa: E731
    return f(X_tr), (y_tr - y_mean) / y_std, [f(X) for X in others], y_mean, y_std


def select_exponent(K_fit, K_val, y_fit, y_val):
    """Index i minimising the validation MSE of (K_fit + exp(i) n I) a = y_fit - ybar.

    ``K_fit`` (n, n) and ``K_val`` (n_val, n) are the (possibly centred) kernels.
    """
    n = K_fit.shape[0]
    ybar = y_fit.mean()
    s, V = np.linalg.eigh(K_fit)
    Q = V.T @ (y_fit - ybar)
    KV = K_val @ V
    mse = []
    for i in EXPONENTS:
        lam = np.exp(i) * n
        pred = KV @ (Q / (np.maximum(s, 0) + lam)) + ybar
        mse.append(np.mean((pred - y_val) ** 2))
    return int(EXPONENTS[int(np.argmin(mse))])


def run_fold(name, make_model, X_tr, y_tr, X_te, y_te, rng, fit_rows, selection_kernel):
    """One fold: selection on 1,000 + 10,000 training rows, final fit, test MSE (orig. units)."""
    X_tr, y_trs, (X_te,), y_mean, y_std = standardise(X_tr, y_tr, X_te)
    t0 = time.perf_counter()
    perm = rng.permutation(X_tr.shape[0])
    sel, val = perm[:1000], perm[1000:11000]
    K_fit, K_val = selection_kernel(X_tr[sel], X_tr[val])
    i_best = select_exponent(K_fit, K_val, y_trs[sel], y_trs[val])
    t_sel = time.perf_counter() - t0
    rows = np.arange(X_tr.shape[0]) if fit_rows is None else np.sort(perm[:fit_rows])
    model = make_model(np.exp(i_best) * len(rows))
    t0 = time.perf_counter()
    model.fit(X_tr[rows], y_trs[rows])
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = model.predict(X_te) * y_std + y_mean
    t_pred = time.perf_counter() - t0
    mse = float(np.mean((pred - y_te) ** 2))
    print(f"  {name}: i = {i_best}, test MSE {mse:.3f}, selection {t_sel:.1f} s, fit {t_fit:.1f} s "
          f"on {len(rows)} rows, predict {t_pred:.1f} s", file=sys.stderr, flush=True)
    return mse, i_best, t_sel, t_fit, t_pred, len(rows)


def authors_pipeline(X_orig, y_orig, depth, feat_dim, cs_dim, seed, sketch, lam_powers=(2, 1)):
    """The authors' run_uci_regression.py (method "ntkfeat"), step by step, on ntkfast's features.

    1. drop the columns that are constant on the *whole* data set;
    2. per fold of KFold(4) (no shuffle): ``X`` and ``y`` centred with the training fold's
       mean and divided by its standard deviation;
    3. one feature map (``m1 = m0 = feat_dim - cs_dim``, ``ms = cs_dim``, leverage for the
       ReLU features) applied to all rows in float32 (their ``FloatTensor``), then float64;
    4. ``lam = e^i * n_fold`` for ``i = -18..3``, fitted on 1,000 random training rows and
       scored on the next 10,000 (no intercept; the dual, as theirs for fewer rows than
       features; a tie goes to the larger lam, their ``<=``);
    5. refit on the whole training fold with ``best_lam * n_fold`` (``e^i * n_fold^2``, their
       code; power 1 gives ``e^i * n_fold``), no intercept, the primal; test MSE in the
       original units of ``y``.

    Returns ``{power: per-fold (mse, i_best, seconds)}`` for each of ``lam_powers`` (the same
    features and selection; only the refit's lam differs).  The difference left is the sketch: theirs is
    TensorSRHT; ``sketch`` is passed to NTKRandomFeatures when it has that parameter.
    """
    keep = np.std(X_orig, axis=0) != 0.0
    X_orig = X_orig[:, keep]
    rng = np.random.default_rng(seed)
    out = {p: [] for p in lam_powers}
    for tr, te in KFold(n_splits=4).split(np.arange(X_orig.shape[0])):
        t0 = time.perf_counter()
        X_std, y_std = np.std(X_orig[tr], axis=0), np.std(y_orig[tr])
        X = (X_orig - X_orig[tr].mean(axis=0)) / X_std
        y = (y_orig - y_orig[tr].mean()) / y_std
        params = dict(depth=depth, n_components=feat_dim, sketch_components=cs_dim, leverage=True,
                      random_state=int(rng.integers(2**31)))
        if sketch is not None:
            params["sketch"] = sketch
        rf = ntkfast.NTKRandomFeatures(**params).fit(X[:1].astype(np.float32))
        Z = rf.transform(X.astype(np.float32)).astype(np.float64)
        Ztr, ytr = Z[tr], y[tr]
        perm = rng.permutation(len(tr))
        fit, val = perm[:1000], perm[1000:11000]
        A, b = Ztr[fit], ytr[fit]
        s, V = np.linalg.eigh(A @ A.T)  # the dual of the 1,000 rows, for all lam at once
        Q, AV = V.T @ b, Ztr[val] @ (A.T @ V)
        best_i, best_mse = None, np.inf
        for i in EXPONENTS:
            lam = np.exp(i) * len(tr)
            mse = np.mean((AV @ (Q / (np.maximum(s, 0) + lam)) - ytr[val]) ** 2)
            if mse <= best_mse:
                best_i, best_mse = int(i), mse
        G, c = Ztr.T @ Ztr, Ztr.T @ ytr
        seconds = time.perf_counter() - t0
        for power in lam_powers:
            t1 = time.perf_counter()
            lam = np.exp(best_i) * float(len(tr)) ** power
            w = np.linalg.solve(G + lam * np.eye(G.shape[0]), c)
            mse = float(np.mean(((Z[te] @ w) * y_std - (y_orig[te] - y_orig[tr].mean())) ** 2))
            out[power].append((mse, best_i, seconds + time.perf_counter() - t1))
            print(f"  authors' pipeline depth {depth}, lam e^i n^{power}: i = {best_i}, "
                  f"test MSE {mse:.3f}, {out[power][-1][2]:.1f} s", file=sys.stderr, flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data", "CASP.csv"))
    p.add_argument("--n-components", type=int, default=8192)
    p.add_argument("--sketch-components", type=int, default=5000)
    p.add_argument("--depths", type=int, nargs="*", default=[1, 2])
    p.add_argument("--exact-rows", type=int, default=10000,
                   help="random training rows per fold for ExactNTKRidge (0 = the whole fold; "
                        "it needs n^2 * 8 bytes and O(n^3) time)")
    p.add_argument("--exact-depths", type=int, nargs="*", default=[1, 2])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--authors", action="store_true",
                   help="also run the authors' pipeline step by step (authors_pipeline) with "
                        "their defaults (--authors-cs-dim 2, 8192 features), as written (lam "
                        "e^i n^2 at the refit) and with lam e^i n")
    p.add_argument("--authors-cs-dim", type=int, default=2,
                   help="their --cs_dim (the sketch width; their default 2)")
    p.add_argument("--only-authors", action="store_true", help="run only the authors' pipeline")
    args = p.parse_args(argv)
    authors_depths = list(args.depths)
    if args.only_authors:
        args.authors, args.depths, args.exact_depths = True, [], []

    X, y = W.read_casp(args.data)
    print(f"{args.data}: {X.shape[0]} rows, {X.shape[1]} features, target RMSD", file=sys.stderr)
    folds = list(KFold(n_splits=4, shuffle=False).split(X))
    results = []

    for depth in args.depths:
        name = f"NTKRidge depth {depth}, {args.n_components} features (ms {args.sketch_components}, leverage)"
        params = dict(depth=depth, n_components=args.n_components,
                      sketch_components=args.sketch_components, leverage=True,
                      random_state=args.seed)

        def features_kernel(A, B, params=params):
            rf = ntkfast.NTKRandomFeatures(**params).fit(A)
            Pa, Pb = rf.transform(A), rf.transform(B)
            mu = Pa.mean(axis=0)  # NTKRidge centres the features (fit_intercept=True)
            Pa -= mu
            Pb -= mu
            return Pa @ Pa.T, Pb @ Pa.T

        def make(lam, params=params):
            return ntkfast.NTKRidge(alpha=lam, **params)

        rng = np.random.default_rng(args.seed)
        rows = [run_fold(name, make, X[tr], y[tr], X[te], y[te], rng, None, features_kernel)
                for tr, te in folds]
        results.append((name, rows))

    for depth in args.exact_depths:
        n_rows = None if args.exact_rows == 0 else args.exact_rows
        name = f"ExactNTKRidge depth {depth}" + ("" if n_rows is None else f", {n_rows} training rows per fold")

        def exact_kernel(A, B, depth=depth):
            return ntkfast.ntk_kernel(A, depth=depth), ntkfast.ntk_kernel(B, A, depth=depth)

        def make(lam, depth=depth):
            return ntkfast.ExactNTKRidge(depth=depth, alpha=lam)

        rng = np.random.default_rng(args.seed)
        rows = [run_fold(name, make, X[tr], y[tr], X[te], y[te], rng, n_rows, exact_kernel)
                for tr, te in folds]
        results.append((name, rows))

    authors = []
    if args.authors:
        has_sketch = "sketch" in ntkfast.NTKRandomFeatures().get_params()
        for depth in authors_depths:
            by_power = authors_pipeline(X, y, depth, args.n_components, args.authors_cs_dim, args.seed,
                                        "srht" if has_sketch else None)
            for power, rows in by_power.items():
                name = (f"authors' pipeline, depth {depth}, {args.n_components} features (ms "
                        f"{args.authors_cs_dim}, {'TensorSRHT' if has_sketch else 'TensorSketch'}), "
                        f"refit lam = e^i n^{power}{' (as their code)' if power == 2 else ''}")
                authors.append((name, rows))

    print("| model | test MSE (mean +/- std over 4 folds) | chosen i per fold | rows fitted | "
          "selection (s/fold) | fit (s/fold) | predict (s/fold) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, rows in results:
        r = np.array([row[:5] for row in rows], dtype=float)
        print(f"| {name} | {r[:, 0].mean():.3f} +/- {r[:, 0].std():.3f} | "
              f"{', '.join(str(int(i)) for i in r[:, 1])} | {rows[0][5]} | {r[:, 2].mean():.1f} | "
              f"{r[:, 3].mean():.1f} | {r[:, 4].mean():.1f} |")
    for name, rows in authors:
        r = np.array(rows, dtype=float)
        print(f"| {name} | {r[:, 0].mean():.3f} +/- {r[:, 0].std():.3f} | "
              f"{', '.join(str(int(i)) for i in r[:, 1])} | all of the fold | - | "
              f"{r[:, 2].mean():.1f} (whole pipeline) | - |")


if __name__ == "__main__":
    main()
