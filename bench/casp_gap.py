"""Closing the gap between NTKRidge and ExactNTKRidge on the protein (CASP) data (issue 15, item 7).

    python bench/casp_gap.py [--data ../shared/data/CASP.csv] [--widths 2048 4096 8192 16384]
        [--constructions gaussian/countsketch sorf/countsketch ...] [--seeds 0 1]
        [--split-seeds 0] [--diagnose gaussian/countsketch/8192 ...]
    python bench/casp_gap.py --quick          # smoke run: 600/300 rows, small widths

Data: :func:`_workloads.load_casp` (one random split of ``--n-train`` / ``--n-test`` rows
drawn with ``--split-seeds``, ``X`` and ``y`` standardised with the training rows); test MSE
in the original units of ``RMSD`` (the standardised MSE times the training variance of y).

Models, all at ``--depth`` (2):

* ``ExactNTKRidge``, its ``alpha`` chosen the way ``NTKRidge`` chooses: the same held-out
  rows (``holdout_mask`` of the seed an ``NTKRidge(random_state=s)`` draws, ``s`` the first
  of ``--seeds``), every alpha of ``--alphas`` solved on the other rows and scored on them,
  the best refitted on all rows (by ``ExactNTKRidge`` itself).  The time is the whole of it
  (kernels, one Cholesky per alpha, the refit, not the prediction).
* ``NTKRidge(depth, n_components=w, alpha=--alphas, random_state=s, projection=p, sketch=k)``
  for every construction ``p/k`` of ``--constructions``, width of ``--widths`` and ``s`` of
  ``--seeds``: test MSE, chosen alpha, ``fit`` time (the library's own hold-out choice).
  ``ntksketch/layers`` and ``ntksketch/direct``: ``NTKSketch(method=...)`` features with the
  same ridge, hold-out rows and alphas, solved here (NTKSketch is a transformer only).
  ``nystroem/uniform``: ``NTKRidge(depth, n_components=w, alpha=--alphas, random_state=s,
  features="nystroem")``: ``w`` landmark rows of the training set and the exact kernel
  (:class:`ntkfast.NTKNystroem`), the library's own hold-out choice.

``--diagnose p/k/w`` (diagnostic only): for those ``NTKRidge`` fits of the first seed, and
for the exact model, the features of the fitted model (``features_``: the same draw) give
the dual systems for every alpha of ``--fine-alphas``: the held-out choice on that finer
grid, and the alpha that is best **on the test set** (an oracle, which no model may use:
it only measures how much of the gap the choice of the penalty explains).  The refit at the
model's own ``alpha_`` is checked against ``predict`` (printed difference).

Prints markdown (command, date, load at start and end, tables); progress on stderr.  Times
depend on the machine's load, which the header, the end line and each row report.
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.linalg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import _workloads as W  # noqa: E402
import ntkfast  # noqa: E402
from ntkfast._engine.ridge_stats import holdout_mask  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "CASP.csv")
ALPHAS = np.logspace(-2, 2, 5).tolist()          # bench/penalty_path.py's five values
FINE_ALPHAS = np.logspace(-2, 2, 9).tolist()      # half decades over the same range
CONSTRUCTIONS = ["gaussian/countsketch", "gaussian/srht", "sorf/countsketch", "sorf/srht",
                 "fastfood/countsketch"]


def load1():
    return f"{os.getloadavg()[0]:.1f}"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def y_variance(path, n_train, seed):
    """The training variance of ``y`` of :func:`_workloads.load_casp`'s split (its units)."""
    _, y = W.read_casp(path)
    idx = np.random.default_rng(seed).permutation(len(y))
    return float(y[idx[:n_train]].var())


def holdout_of(seed, n, fraction=0.1):
    """The rows ``NTKRidge(random_state=seed, validation_fraction=fraction)`` holds out."""
    holdout_seed = int(np.random.default_rng(seed).integers(0, 2**63 - 1, size=2)[1])
    return holdout_seed, holdout_mask(holdout_seed, 0, n, fraction)


def solve(K, y, alpha):
    """``(K + alpha I)^-1 (y - ybar)`` (:func:`solve_primal` with the centred targets)."""
    return solve_primal(K, y - y.mean(), alpha)


def path_mse(K_fit, K_eval, y_fit, y_eval, alphas):
    """MSE on the ``eval`` rows of the dual solution on the ``fit`` rows, for each alpha."""
    return np.array([np.mean((K_eval @ solve(K_fit, y_fit, a) + y_fit.mean() - y_eval) ** 2)
                     for a in alphas])


def kernel_diagnostic(K, K_test, y, y_test, val, fine):
    """Held-out choice on the ``fine`` grid and the test-set (oracle) choice, from the train
    kernel ``K`` (n, n) and the test-train kernel ``K_test``."""
    tr = ~val
    cv = path_mse(K[np.ix_(tr, tr)], K[np.ix_(val, tr)], y[tr], y[val], fine)
    test = path_mse(K, K_test, y, y_test, fine)
    i_cv, i_or = int(np.argmin(cv)), int(np.argmin(test))
    return {"cv_alpha": fine[i_cv], "cv_test": test[i_cv], "or_alpha": fine[i_or],
            "or_test": test[i_or], "test_path": test}


def exact_model(X, y, Xt, yt, depth, alphas, val, fine, diagnose):
    t0 = time.perf_counter()
    tr = ~val
    K_tr = ntkfast.ntk_kernel(X[tr], depth=depth)
    K_val = ntkfast.ntk_kernel(X[val], X[tr], depth=depth)
    cv = path_mse(K_tr, K_val, y[tr], y[val], alphas)
    alpha = alphas[int(np.argmin(cv))]
    model = ntkfast.ExactNTKRidge(depth=depth, alpha=alpha).fit(X, y)
    seconds = time.perf_counter() - t0
    row = {"alpha": alpha, "mse": float(np.mean((model.predict(Xt) - yt) ** 2)), "time": seconds,
           "cv": cv}
    if diagnose:
        del K_tr, K_val
        K = ntkfast.ntk_kernel(X, depth=depth)
        row["diag"] = kernel_diagnostic(K, ntkfast.ntk_kernel(Xt, X, depth=depth), y, yt, val,
                                        fine)
    return row


def features_diagnostic(model, X, y, Xt, yt, val, fine):
    """The dual systems of ``model``'s own feature draw (centred as ``fit_intercept`` does)."""
    P = model.features_.transform(X)
    Pt = model.features_.transform(Xt)
    mu = P.mean(axis=0)
    P -= mu
    Pt -= mu
    K = P @ P.T
    K_test = Pt @ P.T
    del P, Pt
    # The refit at the model's own alpha reproduces predict (to rounding).
    check = np.max(np.abs(K_test @ solve(K, y, model.alpha_) + y.mean() - model.predict(Xt)))
    # The held-out stage centres with its own training rows' mean: K's rows and columns
    # re-centred on ~val (K is the Gram of the features centred on all rows).
    # features centred on those rows: with Q = P - mu and q the mean of Q over them,
    # (Q_i - q).(Q_j - q) = K_ij - r_i - r_j + q.q, where r_i = Q_i.q = mean_j K_ij.
    tr = ~val
    Ktt = K[np.ix_(tr, tr)]
    Kvt = K[np.ix_(val, tr)]
    r_t, r_v, qq = Ktt.mean(axis=1), Kvt.mean(axis=1), Ktt.mean()
    Ktt += qq - r_t[:, None] - r_t[None, :]
    Kvt += qq - r_v[:, None] - r_t[None, :]
    cv = path_mse(Ktt, Kvt, y[tr], y[val], fine)
    test = path_mse(K, K_test, y, yt, fine)
    i_cv, i_or = int(np.argmin(cv)), int(np.argmin(test))
    return {"cv_alpha": fine[i_cv], "cv_test": test[i_cv], "or_alpha": fine[i_or],
            "or_test": test[i_or], "test_path": test, "check": check, "cv_path": cv}


def transformer_model(est, X, y, Xt, yt, alphas, val):
    """The features of the transformer ``est`` (``NTKSketch``, which has no ridge model of
    its own) with the ridge of ``NTKRidge`` (an intercept: features centred on the rows they
    are fitted on), its alpha chosen on the same held-out rows ``val``, refitted on all rows:
    dual solves (the systems ``features_diagnostic`` checks against ``NTKRidge``), or with
    fewer features than rows the ``m x m`` primal systems, as ``NTKRidge`` does (the same
    solutions).  ``est`` is fitted on all training rows."""
    t0 = time.perf_counter()
    est.fit(X)
    F, Ft = est.transform(X), est.transform(Xt)
    tr = ~val
    mu_tr = F[tr].mean(axis=0)
    P = F[tr] - mu_tr
    if F.shape[1] < F.shape[0]:
        C, b = P.T @ P, P.T @ (y[tr] - y[tr].mean())
        cv = np.array([np.mean(((F[val] - mu_tr) @ solve_primal(C, b, a) + y[tr].mean() - y[val]) ** 2)
                       for a in alphas])
        alpha = alphas[int(np.argmin(cv))]
        mu = F.mean(axis=0)
        P = F - mu
        pred = (Ft - mu) @ solve_primal(P.T @ P, P.T @ (y - y.mean()), alpha) + y.mean()
        return alpha, float(np.mean((pred - yt) ** 2)), time.perf_counter() - t0
    cv = path_mse(P @ P.T, (F[val] - mu_tr) @ P.T, y[tr], y[val], alphas)
    alpha = alphas[int(np.argmin(cv))]
    mu = F.mean(axis=0)
    P, Pt = F - mu, Ft - mu
    pred = (Pt @ P.T) @ solve(P @ P.T, y, alpha) + y.mean()
    return alpha, float(np.mean((pred - yt) ** 2)), time.perf_counter() - t0


def solve_primal(C, b, alpha):
    """``(C + alpha I)^-1 b`` by a Cholesky factorisation of a copy of ``C``."""
    A = C.copy()
    A.flat[:: A.shape[0] + 1] += alpha
    return scipy.linalg.cho_solve(scipy.linalg.cho_factor(A, lower=True, overwrite_a=True,
                                                          check_finite=False), b, check_finite=False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--n-test", type=int, default=3000)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--split-seeds", type=int, nargs="+", default=[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--widths", type=int, nargs="+", default=[2048, 4096, 8192, 16384])
    p.add_argument("--constructions", nargs="+", default=CONSTRUCTIONS,
                   help="projection/sketch pairs, e.g. sorf/srht")
    p.add_argument("--skip", nargs="*", default=[],
                   help="projection/sketch/width triples not to run (time)")
    p.add_argument("--alphas", type=float, nargs="+", default=ALPHAS)
    p.add_argument("--fine-alphas", type=float, nargs="+", default=FINE_ALPHAS)
    p.add_argument("--diagnose", nargs="*", default=["gaussian/countsketch/8192"],
                   help="projection/sketch/width triples given the penalty diagnostic")
    p.add_argument("--no-exact-diagnostic", action="store_true")
    p.add_argument("--quick", action="store_true", help="600/300 rows, widths 256 512")
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.widths = 600, 300, [256, 512]
        args.constructions = args.constructions[:2]
        args.diagnose = [f"{args.constructions[0]}/256"]
        args.fine_alphas = np.logspace(-2, 2, 5).tolist()
    if not os.path.exists(args.data):
        sys.exit(f"--data: expected the CASP csv, got {args.data!r} (missing)")
    alphas, fine = list(args.alphas), list(args.fine_alphas)
    sys.stdout.reconfigure(line_buffering=True)   # a killed run keeps what it printed
    W.print_run_header(f"depth {args.depth}", f"{args.n_train} training / {args.n_test} test rows")
    print(f"\nTest MSE in the original units of RMSD; alpha chosen from {', '.join(f'{a:g}' for a in alphas)} "
          f"on 10% held-out training rows, refitted on all.  'oracle' rows choose alpha on the "
          f"TEST set (a diagnostic, not a model).\n")
    all_rows = []
    for split in args.split_seeds:
        X, y, Xt, yt = W.load_casp(args.data, args.n_train, args.n_test, split)
        var = y_variance(args.data, args.n_train, split)
        hseed, val = holdout_of(args.seeds[0], len(X))
        log(f"split {split}: var(y) {var:.3f}, {val.sum()} held-out rows")
        diag_rows = []
        ex = exact_model(X, y, Xt, yt, args.depth, alphas, val, fine,
                         not args.no_exact_diagnostic)
        ex_mse = ex["mse"] * var
        log(f"  exact: alpha {ex['alpha']:g}, test MSE {ex_mse:.3f}, {ex['time']:.1f} s, load {load1()}")
        rows = [("ExactNTKRidge", "", "", ex["alpha"], ex_mse, ex["time"], load1())]
        if "diag" in ex:
            diag_rows.append(("ExactNTKRidge", ex["alpha"], ex_mse, ex["diag"], None))
        for cons in args.constructions:
            proj, sk = cons.split("/")
            for w in args.widths:
                if f"{cons}/{w}" in args.skip:
                    continue
                for s in args.seeds:
                    if proj == "ntksketch":  # a transformer (method sk: "layers" or "direct"), this script's ridge
                        est = ntkfast.NTKSketch(depth=args.depth, n_components=w, method=sk, random_state=s)
                        a, mse, seconds = transformer_model(est, X, y, Xt, yt, alphas, val)
                        rows.append((cons, w, s, a, mse * var, seconds, load1()))
                        log(f"  {cons} {w} seed {s}: alpha {a:g}, test MSE {mse * var:.3f}, "
                            f"{seconds:.1f} s, load {load1()}")
                        continue
                    if proj == "nystroem":  # sk: "uniform" (landmarks: uniformly drawn training rows)
                        model = ntkfast.NTKRidge(depth=args.depth, n_components=w, alpha=alphas,
                                                 random_state=s, features="nystroem")
                    else:
                        model = ntkfast.NTKRidge(depth=args.depth, n_components=w, alpha=alphas,
                                                 random_state=s, projection=proj, sketch=sk)
                    t0 = time.perf_counter()
                    model.fit(X, y)
                    seconds = time.perf_counter() - t0
                    mse = float(np.mean((model.predict(Xt) - yt) ** 2)) * var
                    rows.append((cons, w, s, model.alpha_, mse, seconds, load1()))
                    log(f"  {cons} {w} seed {s}: alpha {model.alpha_:g}, test MSE {mse:.3f}, "
                        f"{seconds:.1f} s, load {load1()}")
                    if s == args.seeds[0] and f"{cons}/{w}" in args.diagnose:
                        assert model._holdout_seed == hseed, "hold-out seed differs from NTKRidge's"
                        d = features_diagnostic(model, X, y, Xt, yt, val, fine)
                        diag_rows.append((f"NTKRidge {cons} {w}", model.alpha_, mse, d, d["check"]))
                        same = [fine.index(a) for a in alphas if a in fine]
                        if len(same) == len(alphas):  # the hold-out stage reproduces cv_mse_
                            log(f"    cv_mse_ check: {np.max(np.abs(d['cv_path'][same] - model.cv_mse_)):.1e}")
                        log(f"    diagnostic: oracle alpha {d['or_alpha']:g} -> {d['or_test'] * var:.3f}")
        print(f"### Split seed {split} (exact model: test MSE {ex_mse:.3f})\n")
        print("| model | n_components | seed | alpha_ | test MSE | / exact | fit (s) | load (1 min) |")
        print("|---|---|---|---|---|---|---|---|")
        for name, w, s, a, mse, sec, ld in rows:
            w_s = f"{w:,}" if w != "" else ""
            print(f"| {name} | {w_s} | {s} | {a:g} | {mse:.2f} | {mse / ex_mse:.3f} | {sec:.1f} | {ld} |")
        # Mean over seeds, one line per construction and width.
        if len(args.seeds) > 1:
            print("\nMean over seeds " + ", ".join(map(str, args.seeds)) + ":\n")
            print("| model | n_components | test MSE (mean, min-max) | / exact | fit (s, mean) |")
            print("|---|---|---|---|---|")
            keys = sorted({(r[0], r[1]) for r in rows[1:]}, key=lambda k: (CONSTRUCTIONS.index(k[0])
                                                                           if k[0] in CONSTRUCTIONS else 99, k[1]))
            for name, w in keys:
                sel = [r for r in rows[1:] if (r[0], r[1]) == (name, w)]
                m = np.array([r[4] for r in sel])
                print(f"| {name} | {w:,} | {m.mean():.2f} ({m.min():.2f}-{m.max():.2f}) | "
                      f"{m.mean() / ex_mse:.3f} | {np.mean([r[5] for r in sel]):.1f} |")
        if diag_rows:
            print(f"\nPenalty diagnostic (seed {args.seeds[0]}): held-out choice from the 5 alphas "
                  f"(the model's), from {len(fine)} alphas ({fine[0]:g}..{fine[-1]:g}, log-spaced), "
                  f"and the ORACLE: the alpha best on the test set (not a model).\n")
            print("| model | held-out, 5 alphas | held-out, fine grid | oracle (test set) | refit check |")
            print("|---|---|---|---|---|")
            for name, a5, m5, d, chk in diag_rows:
                print(f"| {name} | {m5:.2f} (alpha {a5:g}) | {d['cv_test'] * var:.2f} "
                      f"(alpha {d['cv_alpha']:.3g}) | {d['or_test'] * var:.2f} (alpha {d['or_alpha']:.3g}) | "
                      f"{'' if chk is None else f'{chk:.1e}'} |")
            print("\nTest MSE along the fine grid (refit on all training rows at each alpha):\n")
            print("| alpha | " + " | ".join(r[0] for r in diag_rows) + " |")
            print("|---|" + "---|" * len(diag_rows))
            for i, a in enumerate(fine):
                print(f"| {a:.3g} | " + " | ".join(f"{r[3]['test_path'][i] * var:.2f}" for r in diag_rows) + " |")
        print()
        all_rows.append(rows)
    W.print_run_end()
    return all_rows


if __name__ == "__main__":
    main()
