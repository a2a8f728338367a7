"""Ridge regression in the dual, for fewer rows than features (``n < m``).

With ``n`` rows and ``m`` features, the primal route (:mod:`.ridge_stats`) accumulates the
``m x m`` statistics (``n m^2`` multiply-adds) and factors an ``m x m`` matrix per penalty
(``m^3 / 3``).  When ``n < m`` the same solution comes from the ``n x n`` dual (the
push-through identity ``(P^T P + a I)^-1 P^T = P^T (P P^T + a I)^-1``): the kernel matrix
``K = P P^T`` costs ``n^2 m`` and each penalty an ``n^3 / 3`` Cholesky factorisation, and
the ``n x m`` feature matrix it needs is smaller than the ``m x m`` Gram it replaces.  So a
list of penalties costs little more than one: the features and ``K`` are computed once.

Every quantity is that of :func:`.ridge_stats.select_and_solve` on the same rows (the same
hold-out, :func:`.ridge_stats.holdout_mask`; the same centring; the same refit on all rows),
up to float64 rounding; ``tests/test_ridge_dual.py`` checks both against dense numpy solves.

Centring: the rows are centred on the training rows' mean ``mu`` before ``K`` is formed
(no cancellation in ``K``).  The refit on all rows needs the rows centred on the mean of all
rows, ``mu + delta``; with ``u = P delta`` that kernel is ``K - u 1^T - 1 u^T + |delta|^2``,
and the weights are ``P^T a - delta (1^T a)``.
"""
import numpy as np
from scipy.linalg.blas import dsyrk

from .batches import feature_batches
from .progress import progress_bar
from .ridge_stats import _mixed_solve, _solve_in_place, holdout_mask, largest_eigenvalue
from .validation import check_allocation

__all__ = ["use_dual", "dual_select_and_solve"]

_OVERFLOW_HINT = ("; scale the columns of X and the targets (e.g. sklearn.preprocessing.StandardScaler "
                  "in a Pipeline)")


def use_dual(n_rows, n_components):
    """Whether the dual is the cheaper exact route: fewer rows than features.

    Costs in multiply-adds, ``k`` penalties: primal ``n m^2 + (k + 1) m^3 / 3``, dual
    ``n^2 m + (k + 1) n^3 / 3``; the dual is cheaper exactly when ``n < m``, for any ``k``.
    """
    return n_rows < n_components


def dual_select_and_solve(fmap, X, Y, alphas, fit_intercept, holdout=None, batch_size=None,
                          n_threads=1, verbose=False, desc="ridge"):
    """Choose the penalty and solve in the dual: ``(alpha, cv_mse, W, b)``.

    Parameters
    ----------
    fmap : FeatureMap
        Compiled snapshot of the fitted feature transformer (``m = fmap.n_output``).
    X : ndarray of shape (n, n_features)
        Checked input rows (a memmap or CSR matrix is read one batch at a time).
    Y : ndarray of shape (n, t), float64
    alphas : ndarray of shape (k,)
        Penalties; with ``k > 1``, ``holdout = (seed, fraction)`` picks the validation rows.
    fit_intercept : bool
    holdout : (seed, fraction) or None
    batch_size, n_threads, verbose, desc
        As for :func:`.ridge_stats.accumulate` and :func:`.ridge_stats.select_and_solve`.

    Returns
    -------
    alpha : float
    cv_mse : ndarray of shape (k,) or None
        Validation MSE of each penalty (mean over held-out rows and targets).
    W : ndarray of shape (m, t)
    b : ndarray of shape (t,)

    Memory: the ``n x m`` features in float64, ``K`` (``n x n``), its training block and a
    work copy of it (float64, and float32 for mixed precision); with ``n < m`` that is less
    than the primal's ``m x m`` statistics.
    """
    n, m, t = X.shape[0], fmap.n_output, Y.shape[1]
    if holdout is not None:
        mask = holdout_mask(holdout[0], 0, n, holdout[1])
        n_val = int(mask.sum())
        if n_val == 0 or n_val == n:
            raise ValueError(
                f"validation_fraction: the hold-out kept {n_val} validation and {n - n_val} "
                f"training rows of {n}; several alphas need both (use more rows or a single alpha)"
            )
        order = np.concatenate([np.flatnonzero(~mask), np.flatnonzero(mask)])
    else:
        n_val = 0
        order = np.arange(n)
    n_tr = n - n_val
    # features, K, and while scoring: K_tr, a float64 work copy and a float32 copy of it
    check_allocation(8 * (n * m + n * n) + 20 * n_tr * n_tr,
                     f"n_components: the dual ridge system for {n} rows and {m} features")
    position = np.empty(n, dtype=np.intp)
    position[order] = np.arange(n)

    # Row r of P is row order[r] of X: training rows first, validation rows after.
    P = np.empty((n, m), dtype=np.float64)
    with progress_bar(verbose, n, f"{desc}: features") as bar:
        for i0, i1, B in feature_batches(fmap, X, batch_size=batch_size, n_threads=n_threads,
                                         progress=bar.update):
            P[position[i0:i1]] = B
    Yp = np.ascontiguousarray(Y[order], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        overflow = not np.isfinite(Yp.sum(axis=0) * 2.0).all()  # means, centring, refit
    if overflow:
        raise ValueError(f"y: the ridge statistics of the targets overflow float64{_OVERFLOW_HINT}")

    n_steps = 1 + (alphas.shape[0] + 1 if holdout is not None else 1)
    with progress_bar(verbose, n_steps, f"{desc}: solve", unit="solve") as bar:
        bar.set_postfix_str(f"kernel matrix of the dual, {n} x {n}")
        if fit_intercept:
            mu, ybar = P[:n_tr].mean(axis=0), Yp[:n_tr].mean(axis=0)
            P -= mu
        else:
            mu, ybar = np.zeros(m), np.zeros(t)
        # P.T is a Fortran (m, n) view of C-ordered P: syrk forms P P^T without a copy.
        K = dsyrk(1.0, P.T, trans=1)
        if not np.isfinite(K).all():  # the lower triangle is zeros
            raise ValueError(f"X, y: the dual kernel matrix overflows float64{_OVERFLOW_HINT}")
        bar.update(1)

        if holdout is None:
            alpha, cv_mse = float(alphas[0]), None
        else:
            K_tr = np.asfortranarray(K[:n_tr, :n_tr])
            K_cross = K[:n_tr, n_tr:]  # upper triangle: every training index < every validation one
            R = Yp[:n_tr] - ybar
            work = None  # the float64 route's copy of K_tr (it factors in place)
            cv_mse = np.empty(alphas.shape[0])
            lam = largest_eigenvalue(K_tr)
            for k, a in enumerate(alphas):
                bar.set_postfix_str(f"Cholesky {n_tr} x {n_tr}, alpha={a:g}")
                A = _mixed_solve(K_tr, R, float(a), lam)
                if A is None:
                    work = np.empty_like(K_tr, order="F") if work is None else work
                    np.copyto(work, K_tr)
                    A = _solve_in_place(work, R, float(a), lambda: K_tr.copy(order="F"))
                pred = K_cross.T @ A + ybar
                cv_mse[k] = float(np.mean((pred - Yp[n_tr:]) ** 2))
                bar.update(1)
            del K_tr, work
            alpha = float(alphas[int(np.argmin(cv_mse))])

        # Refit on all rows, centred on their mean mu + delta.
        bar.set_postfix_str(f"{'refit on all rows, ' if holdout is not None else ''}"
                            f"Cholesky {n} x {n}, alpha={alpha:g}")
        if fit_intercept and n_val:
            delta = P.mean(axis=0)
            u = P @ delta
            K -= u[:, None]
            K -= u[None, :]
            K += float(delta @ delta)
            mu = mu + delta
            ybar = Yp.mean(axis=0)
        else:
            delta = np.zeros(m)
        R = Yp - ybar
        K_all = np.asfortranarray(K)
        del K
        # The eigendecomposition fallback needs K again: rebuild it from P (rare).
        A = _solve_in_place(K_all, R, alpha, lambda: _refill(P, delta), largest_eigenvalue(K_all))
        W = P.T @ A - np.outer(delta, A.sum(axis=0))
        bar.update(1)
    return alpha, cv_mse, W, ybar - mu @ W


def _refill(P, delta):
    Pc = P - delta
    return dsyrk(1.0, Pc.T, trans=1)
