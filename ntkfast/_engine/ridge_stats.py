"""Ridge regression on streamed features: sufficient statistics, hold-out, solvers.

SPEC section 6: ``Phi^T Phi`` and ``Phi^T Y`` are sums over rows, so they are accumulated
batch by batch in float64 (:func:`accumulate`, on the engine's one batch loop) and never need
the ``n x n_components`` feature matrix.  Statistics of disjoint rows add up
(:class:`RidgeStats`), so per-block statistics computed elsewhere (e.g. on the workers of a
cluster) sum to those of the whole data set.  The hold-out that chooses among several
penalties depends only on each row's absolute index (:func:`holdout_mask`).

Several penalties are scored on the hold-out in closed form (:func:`validation_mse`) by the
cheapest exact method for the sizes at hand (:func:`choose_method`): a Cholesky
factorisation per alpha for short lists, one eigendecomposition for long ones, and, when
there are fewer training rows than features, a pivoted Cholesky factorisation of the
rank-deficient Gram followed by a small (rank x rank) Cholesky per alpha (the streamed
statistics of a dask fit; in memory, fewer rows than features go to :mod:`.ridge_dual`).
Every Cholesky solve is tried first in mixed precision (a float32 factorisation refined in
float64 to a float64 solve's backward error, :func:`_mixed_solve`) when the matrix is well
enough conditioned for it, and in float64 otherwise.
"""
import numpy as np
import scipy.linalg
from scipy.linalg.blas import dsymm, dsymv, dsyr, dsyrk
from scipy.linalg.lapack import dlantr, dpstrf, spotrf, spotrs

from .batches import feature_batches
from .validation import check_finite_result
from .progress import progress_bar

__all__ = ["predict_rows", "RidgeStats", "accumulate", "holdout_mask", "solve", "validation_mse", "cho_factor_inplace",
           "largest_eigenvalue",
           "check_stats_finite", "select_and_solve", "choose_method",
           "centred_union"]

_OVERFLOW_HINT = ("; scale the columns of X and the targets (e.g. sklearn.preprocessing.StandardScaler "
                  "in a Pipeline)")


def check_stats_finite(stats, what="X, y"):
    """Refuse statistics that overflowed float64: every solution from them would be NaN."""
    for name, a in (("Phi^T Phi", stats.gram), ("Phi^T y", stats.cross), ("sum of Phi", stats.sum_phi),
                    ("sum of y", stats.sum_y), ("sum of y^2", stats.sum_yy)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{what}: the ridge statistics overflow float64 ({name} is not finite)"
                             f"{_OVERFLOW_HINT}")


class RidgeStats:
    """Sufficient statistics of ridge regression on a set of rows, in float64.

    Attributes
    ----------
    n : int
        Number of rows.
    gram : ndarray of shape (m, m), Fortran order
        ``Phi^T Phi``; only the upper triangle (``i <= j``) is meaningful.
    cross : ndarray of shape (m, t)
        ``Phi^T Y``.
    sum_phi : ndarray of shape (m,)
        Column sums of ``Phi``.
    sum_y : ndarray of shape (t,)
        Column sums of ``Y``.
    sum_yy : ndarray of shape (t,)
        Column sums of ``Y**2``.

    Two sets of statistics on disjoint rows add up (``a + b``) to those of their union.
    """

    def __init__(self, n_components, n_targets):
        m, t = n_components, n_targets
        self.n = 0
        self.gram = np.zeros((m, m), dtype=np.float64, order="F")
        self.cross = np.zeros((m, t), dtype=np.float64)
        self.sum_phi = np.zeros(m, dtype=np.float64)
        self.sum_y = np.zeros(t, dtype=np.float64)
        self.sum_yy = np.zeros(t, dtype=np.float64)

    def add_rows(self, P, Y):
        """Add the rows ``P`` (float64, C-contiguous, (r, m)) with targets ``Y`` ((r, t))."""
        if P.shape[0] == 0:
            return
        # P is C-contiguous, so P.T is a Fortran (m, r) view and syrk computes P^T P
        # without a copy, into the upper triangle of gram, in place.
        self.gram = dsyrk(1.0, P.T, beta=1.0, c=self.gram, overwrite_c=1)
        # Overflow is not warned about here: check_stats_finite refuses the statistics with
        # a message that says what to do.
        with np.errstate(over="ignore", invalid="ignore"):
            self.cross += P.T @ Y
            self.sum_phi += P.sum(axis=0)
            self.sum_y += Y.sum(axis=0)
            self.sum_yy += np.einsum("ij,ij->j", Y, Y)
        self.n += P.shape[0]

    def __add__(self, other):
        if not isinstance(other, RidgeStats):
            return NotImplemented
        if self.gram.shape != other.gram.shape or self.cross.shape != other.cross.shape:
            raise ValueError(
                f"cannot add statistics of shapes {self.cross.shape} and {other.cross.shape}"
            )
        out = RidgeStats.__new__(RidgeStats)
        out.n = self.n + other.n
        out.gram = np.asfortranarray(self.gram + other.gram)
        out.cross = self.cross + other.cross
        out.sum_phi = self.sum_phi + other.sum_phi
        out.sum_y = self.sum_y + other.sum_y
        out.sum_yy = self.sum_yy + other.sum_yy
        return out

    def means(self):
        return self.sum_phi / self.n, self.sum_y / self.n

    def centred(self, fit_intercept):
        """``(C, B, mu, ybar)``: Gram and cross products of the centred rows, and the means.

        ``C = Phi^T Phi - n mu mu^T`` (upper triangle, a new Fortran array) and
        ``B = Phi^T Y - n mu ybar^T``: the same as centring every row first.  Without
        intercept, nothing is centred and the means are zero.
        """
        C = self.gram.copy(order="F")
        B = self.cross.copy()
        m, t = B.shape
        if not fit_intercept:
            return C, B, np.zeros(m), np.zeros(t)
        mu, ybar = self.means()
        C = dsyr(-float(self.n), mu, a=C, overwrite_a=1)
        B -= self.n * np.outer(mu, ybar)
        return C, B, mu, ybar


def splitmix64(z):
    """SplitMix64 finaliser on a uint64 array: a counter-based hash of the row index."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def holdout_mask(seed, start, stop, fraction):
    """Which of the rows ``start..stop-1`` (absolute indices) are held out for validation.

    Row ``i`` is held out when a hash of ``(seed, i)`` falls below ``fraction``: each row
    independently with probability ``fraction``, and the choice depends only on the row's
    absolute index, not on how the rows are split into batches or blocks.
    """
    rows = np.arange(start, stop, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = splitmix64(rows ^ splitmix64(np.uint64(seed)))
    u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)  # in [0, 1)
    return u < fraction


def accumulate(fmap, X, Y, batch_size=None, row_offset=0, holdout=None, n_threads=1,
               progress=None, workspaces=None):
    """Ridge statistics of ``(features(X), Y)``, computed batch by batch.

    Parameters
    ----------
    fmap : FeatureMap
        Compiled snapshot of the fitted feature transformer.
    X : ndarray of shape (n, n_features), float32 or float64 (a memmap is fine)
        Read one batch of rows at a time; NaN/inf raise ValueError naming the row.
    Y : ndarray of shape (n, t), float64
    batch_size : int, optional
        Rows per batch; default: the engine's memory budget.
    row_offset : int
        Absolute index of ``X``'s first row in the whole data set: it fixes the hold-out
        rows (and numbers rows in error messages).
    holdout : (seed, fraction), optional
        If given, rows chosen by :func:`holdout_mask` go to separate statistics.
    progress : callable, optional
        Called with the number of rows done after each batch.

    Returns
    -------
    train : RidgeStats
    validation : RidgeStats or None
        ``None`` when ``holdout`` is None.

    Memory: the two statistics (``O(m^2)``) plus one batch of features in its dtype and
    in float64 (``O(batch * m)``); never the whole feature matrix.
    """
    m = fmap.n_output
    t = Y.shape[1]
    train = RidgeStats(m, t)
    val = RidgeStats(m, t) if holdout is not None else None
    buf64 = None
    for i0, i1, P in feature_batches(fmap, X, batch_size=batch_size, row_offset=row_offset,
                                     n_threads=n_threads, workspaces=workspaces,
                                     progress=progress):
        if P.dtype != np.float64:
            if buf64 is None or buf64.shape[0] < P.shape[0]:
                buf64 = np.empty(P.shape, dtype=np.float64)
            np.copyto(buf64[:P.shape[0]], P)
            P = buf64[:P.shape[0]]
        Yb = Y[i0:i1]
        if holdout is None:
            train.add_rows(P, Yb)
        else:
            mask = holdout_mask(holdout[0], row_offset + i0, row_offset + i1, holdout[1])
            if mask.any():
                val.add_rows(np.ascontiguousarray(P[mask]), Yb[mask])
                train.add_rows(np.ascontiguousarray(P[~mask]), Yb[~mask])
            else:
                train.add_rows(P, Yb)
    return train, val


_PREDICT_HINT = "; standardise X and y (e.g. sklearn.preprocessing.StandardScaler in a Pipeline)"


def predict_rows(fmap, W, intercept, X, batch_size=None, row_offset=0, n_threads=1, progress=None):
    """``features(X) @ W.T + intercept`` in float64, shape ``(n, t)``, batch by batch.

    The one prediction loop of the ridge models, in memory and in every dask block: ``X``
    is a checked array (features in ``feature_dtype(X, fmap.dtype)``), ``W`` the ``(t, m)``
    coefficients.  Predictions that overflow float64 raise ValueError naming the row
    (``row_offset + i``).
    """
    out = np.empty((X.shape[0], W.shape[0]), dtype=np.float64)
    for i0, i1, P in feature_batches(fmap, X, batch_size=batch_size, row_offset=row_offset,
                                     n_threads=n_threads, progress=progress):
        np.matmul(P.astype(np.float64, copy=False), W.T, out=out[i0:i1])
    out += intercept
    check_finite_result(out, "X: predictions", row_offset, _PREDICT_HINT)
    return out


# scipy's bundled OpenBLAS (0.3.30) crashed the interpreter (SIGSEGV) in a multi-threaded
# Cholesky of a 30,000 x 30,000 matrix on this project's 2-core machine; 20,000 worked, and
# 30,000 on one BLAS thread worked (144 s).  Larger matrices are factored on one BLAS
# thread: slower, never a crash.
_THREADED_CHOLESKY_MAX_N = 20_000


def cho_factor_inplace(A):
    """``scipy.linalg.cho_factor`` of the upper triangle of Fortran-ordered ``A``, in place."""
    if A.shape[0] <= _THREADED_CHOLESKY_MAX_N:
        return scipy.linalg.cho_factor(A, lower=False, overwrite_a=True, check_finite=False)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return scipy.linalg.cho_factor(A, lower=False, overwrite_a=True, check_finite=False)


def solve(stats, alpha, fit_intercept):
    """``(W, b)``: the ridge solution ``(C + alpha I) W = B`` and intercept ``ybar - mu W``."""
    C, B, mu, ybar = stats.centred(fit_intercept)
    W = _solve_in_place(C, B, alpha, lambda: stats.centred(fit_intercept)[0], largest_eigenvalue(C))
    return W, ybar - mu @ W


def centred_union(parts, fit_intercept):
    """``(C, B, mu, ybar)`` of the union of the rows of ``parts`` (RidgeStats of disjoint rows),
    as :meth:`RidgeStats.centred` of their sum, with one new ``m x m`` array instead of two."""
    if len(parts) == 1:
        return parts[0].centred(fit_intercept)
    C = np.empty_like(parts[0].gram, order="F")
    np.add(parts[0].gram, parts[1].gram, out=C)
    for p in parts[2:]:
        C += p.gram
    B = sum(p.cross for p in parts)
    n = sum(p.n for p in parts)
    if not fit_intercept:
        return C, B, np.zeros(C.shape[0]), np.zeros(B.shape[1])
    mu, ybar = sum(p.sum_phi for p in parts) / n, sum(p.sum_y for p in parts) / n
    C = dsyr(-float(n), mu, a=C, overwrite_a=1)
    B -= n * np.outer(mu, ybar)
    return C, B, mu, ybar


def _add_diagonal(A, value):
    A[np.diag_indices(A.shape[0])] += value


def _eigh(C):
    """Eigenvalues (negative rounding clipped to 0) and eigenvectors of the upper triangle of
    ``C``, destroying it.  Divide and conquer ("evd"): several times faster than the default."""
    s, V = scipy.linalg.eigh(C, lower=False, overwrite_a=True, check_finite=False, driver="evd")
    # C is positive semi-definite: a negative eigenvalue is rounding.
    return np.maximum(s, 0.0), V


# Mixed precision (the algorithm of LAPACK's dsposv, which scipy does not expose): factor
# C + alpha I in float32 (twice as fast as float64 here: 2.35 s against 4.53 s at m = 8192)
# and refine the solution with residuals in float64 until its normwise backward error is that
# of a float64 solve.  Refinement contracts the error by about cond * eps32 per step, so it
# is tried only when a cheap estimate says cond(C + alpha I) * eps32 <= 1/32; when it is not
# converged after _REFINE_MAX_STEPS steps, or the float32 factorisation fails, the float64
# Cholesky runs instead (the result never depends on the float32 attempt).
_EPS32 = float(np.finfo(np.float32).eps)
_MIXED_MAX_COND_EPS = 1.0 / 32.0
_REFINE_MAX_STEPS = 30
_MIXED_MIN_SIZE = 256  # below this a float64 factorisation is too cheap to be worth it


def largest_eigenvalue(A, steps=8):
    """An estimate of the largest eigenvalue of the symmetric positive semi-definite matrix
    whose upper triangle ``A`` holds (power iteration from a fixed start: a lower bound that
    is within a small factor after a few steps; it only decides whether to try float32), or
    None for matrices too small for mixed precision."""
    if A.shape[0] < _MIXED_MIN_SIZE:
        return None  # mixed precision does not apply: no need to estimate
    v = np.random.default_rng(0).standard_normal(A.shape[0])
    lam = 0.0
    for _ in range(steps):
        v = dsymv(1.0, A, v, lower=0)
        lam = float(np.linalg.norm(v))
        if not np.isfinite(lam) or lam == 0.0:
            return lam
        v /= lam
    return lam


def _mixed_solve(A, B, alpha, lam):
    """``(A + alpha I)^-1 B`` (``A``: upper triangle, Fortran, float64, left intact) by a
    float32 Cholesky factorisation and float64 iterative refinement, or None when it does not
    apply (too small, ill-conditioned by the estimate ``lam`` of the largest eigenvalue, or
    not converged): the caller then solves in float64."""
    n = A.shape[0]
    if lam is None or n < _MIXED_MIN_SIZE or not np.isfinite(lam) or (lam + alpha) / alpha * _EPS32 > _MIXED_MAX_COND_EPS:
        return None
    if lam + alpha > 0.25 * np.finfo(np.float32).max:
        return None
    S = A.astype(np.float32, order="F")
    _add_diagonal(S, alpha)
    S, info = spotrf(S, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        return None
    B = np.asarray(B, dtype=np.float64)
    B2 = B.reshape(n, -1)

    def solve32(R):
        X, info = spotrs(S, R.astype(np.float32), lower=0)
        return X.astype(np.float64) if info == 0 else None

    X = solve32(B2)
    if X is None:
        return None
    # dsposv's test: every column's residual below its solution's norm times
    # ||A + alpha I||_inf * eps64 * sqrt(n) (the backward error of a float64 solve).
    a_norm = _sym_inf_norm(A) + alpha
    tol = a_norm * np.finfo(np.float64).eps * np.sqrt(n)
    for _ in range(_REFINE_MAX_STEPS):
        R = B2 - dsymm(1.0, A, X, lower=0) - alpha * X
        if np.all(np.max(np.abs(R), axis=0) <= np.max(np.abs(X), axis=0) * tol):
            return X.reshape(B.shape)
        dX = solve32(R)
        if dX is None or not np.all(np.isfinite(dX)):
            return None
        X += dX
    return None


def _sym_inf_norm(A):
    """A lower bound, within a factor 2, of the infinity norm of the symmetric matrix whose
    upper triangle ``A`` holds: the larger of its upper triangle's row and column sums
    (LAPACK dlantr, no copy).  A lower bound makes the refinement's test stricter, not looser,
    than dsposv's."""
    return max(float(dlantr("I", A, uplo="U")), float(dlantr("1", A, uplo="U")))


def _solve_in_place(A, B, alpha, refill, lam=None):
    """``(C + alpha I)^-1 B`` for the centred Gram ``C`` held in ``A`` (upper triangle, Fortran).

    With ``lam`` (an estimate of C's largest eigenvalue), mixed precision first
    (:func:`_mixed_solve`, ``A`` left intact); otherwise, or if it does not apply, a float64
    Cholesky factorisation, destroying ``A``.  If rounding makes ``C + alpha I`` indefinite
    (alpha negligible next to ``C``), ``refill()`` returns ``C`` again and its
    eigendecomposition (eigenvalues clipped at 0) solves instead."""
    if lam is not None:
        W = _mixed_solve(A, B, alpha, lam)
        if W is not None:
            return W
    _add_diagonal(A, alpha)
    try:
        factor = cho_factor_inplace(A)
        return scipy.linalg.cho_solve(factor, B, check_finite=False)
    except np.linalg.LinAlgError:
        s, V = _eigh(refill())
        return V @ ((V.T @ B) / (s + alpha)[:, None])


class _LowRank:
    """``(C + alpha I)^-1 B`` for many alphas when ``C`` (m x m) has rank ``r < m``.

    Fewer rows than features make the centred Gram ``C = Phi_c^T Phi_c`` rank-deficient.  A
    pivoted Cholesky factorisation stopped at the rounding level, ``C = L L^T + S`` with
    ``L`` m x r and ``trace(S) <= m eps max(diag C)``, gives, by the Woodbury identity,
    ``(L L^T + alpha I)^-1 R = (R - L (G + alpha I)^-1 L^T R) / alpha`` with ``G = L^T L``
    (r x r): one pivoted factorisation and one ``G``, then an r x r Cholesky per alpha --
    the dual's n x n system, without keeping the features.  The Woodbury form cancels
    (about ten times the rounding of a direct solve at alpha = 1e-3), and ``S`` is dropped:
    iterative refinement against the full ``C`` (a residual ``B - (C + alpha I) W`` costs
    ``O(m^2 t)``) removes both, so the result is that of a direct solve.

    Memory: ``C`` (kept for the residuals), its factor (``m^2`` while it is computed, then
    ``r m``), ``G`` (``r^2``).
    """

    def __init__(self, C, B):
        self.C, self.B = C, B
        tol = np.finfo(np.float64).eps * max(float(np.max(np.diag(C))), np.finfo(np.float64).tiny)
        U, piv, r, info = dpstrf(C, tol=tol, lower=0, overwrite_a=0)
        if info < 0:  # pragma: no cover - an argument error, not a property of C
            raise ValueError(f"dpstrf: illegal argument {-info}")
        self.perm = piv - 1  # LAPACK's pivots are 1-based
        # P^T C P = U^T U (U upper trapezoidal, r x m): L = P U^T, so G = L^T L = U U^T.
        for j in range(min(r, U.shape[1] - 1)):  # the strict lower part holds C's, not U's
            U[j + 1:r, j] = 0.0
        self.U = np.asfortranarray(U[:r])  # one r x m copy: peak memory stays within 6 m^2
        del U
        self.G = dsyrk(1.0, self.U)  # upper triangle of U U^T
        self.eig = None
        self.rank = r

    def _inverse(self, alpha):
        """``R -> (L L^T + alpha I)^-1 R``, with ``G + alpha I`` factored once."""
        H = self.G.copy(order="F")
        _add_diagonal(H, alpha)
        try:
            factor = cho_factor_inplace(H)
            small = lambda Z: scipy.linalg.cho_solve(factor, Z, check_finite=False)  # noqa: E731
        except np.linalg.LinAlgError:
            if self.eig is None:
                self.eig = _eigh(self.G.copy(order="F"))
            s, V = self.eig
            small = lambda Z: V @ ((V.T @ Z) / (s + alpha)[:, None])  # noqa: E731

        def apply(R):
            LX = np.empty_like(R)
            LX[self.perm] = self.U.T @ small(self.U @ R[self.perm])
            return (R - LX) / alpha
        return apply

    def solve(self, alpha, max_steps=4):
        inverse = self._inverse(alpha)
        W = inverse(self.B)
        scale = np.linalg.norm(W)
        for _ in range(max_steps):
            R = self.B - dsymm(1.0, self.C, W, lower=0) - alpha * W
            dW = inverse(R)
            W += dW
            if np.linalg.norm(dW) <= 8 * np.finfo(np.float64).eps * scale:
                break
        return W


class _HoldoutScore:
    """Validation MSE (mean over held-out rows and targets) of weights ``W`` and intercept ``b``.

    The residual sum of squares on the held-out rows is, with everything centred on the
    held-out means (so that cross terms vanish and the large uncentred moments never cancel),
    ``sum_t [YYc - 2 W'Bv + W' Cv W] + n_v ||ybar_v - mu_v W - b||^2``.
    """

    def __init__(self, val):
        self.Cv, self.Bv, self.mu, self.ybar = val.centred(True)
        self.n = val.n
        self.yy_c = np.sum(val.sum_yy - val.n * self.ybar**2)

    def __call__(self, W, b):
        CvW = dsymm(1.0, self.Cv, W, lower=0)  # Cv's upper triangle, no symmetric copy
        rss = self.yy_c - 2.0 * np.sum(W * self.Bv) + np.sum(W * CvW)
        rss += self.n * np.sum((self.ybar - self.mu @ W - b) ** 2)
        return max(rss, 0.0) / (self.n * W.shape[1])


def validation_mse(train, val, alphas, fit_intercept, method="eigh", progress=None):
    """Validation MSE of the ridge fit on ``train`` for every alpha, scored on ``val``.

    ``method="eigh"``: one eigendecomposition of the training Gram matrix, then every alpha
    in ``O(m^2 t)``; ``"cholesky"``: one Cholesky factorisation per alpha (falling back on
    the eigendecomposition when rounding makes ``C + alpha I`` indefinite); ``"lowrank"``:
    one pivoted Cholesky factorisation of rank ``r`` (the rank of the Gram, at most the
    number of training rows), then an ``r x r`` Cholesky per alpha (:class:`_LowRank`).  All
    are exact (they differ by float64 rounding); :func:`choose_method` says which is cheapest.
    ``progress(stage)`` is called before each expensive stage and ``progress(None)`` after it.
    """
    progress = progress or (lambda stage: None)
    C, B, mu, ybar = train.centred(fit_intercept)
    score = _HoldoutScore(val)
    mse = np.empty(alphas.shape[0])
    if method == "eigh":
        progress(f"eigendecomposition of the {C.shape[0]} x {C.shape[0]} training Gram")
        s, V = _eigh(C)
        del C
        progress(None)
        Q = V.T @ B
        for k, a in enumerate(alphas):
            W = V @ (Q / (s + a)[:, None])
            mse[k] = score(W, ybar - mu @ W)
        return mse
    if method == "lowrank":
        progress(f"pivoted Cholesky of the {C.shape[0]} x {C.shape[0]} training Gram")
        low = _LowRank(C, B)
        progress(None)
        for k, a in enumerate(alphas):
            progress(f"rank {low.rank}, alpha={a:g}")
            W = low.solve(a)
            progress(None)
            mse[k] = score(W, ybar - mu @ W)
        return mse
    if method != "cholesky":
        raise ValueError(f"method: expected 'eigh', 'cholesky' or 'lowrank', got {method!r}")
    work = None  # the float64 factorisation's copy of C, made if mixed precision does not apply
    eig = None  # the eigendecomposition, computed once if a Cholesky fails
    lam = largest_eigenvalue(C)
    for k, a in enumerate(alphas):
        progress(f"Cholesky, alpha={a:g}")
        W = _mixed_solve(C, B, a, lam)
        if W is not None:
            progress(None)
            mse[k] = score(W, ybar - mu @ W)
            continue
        if work is None:
            work = np.empty_like(C, order="F")
        np.copyto(work, C)
        _add_diagonal(work, a)
        try:
            W = scipy.linalg.cho_solve(cho_factor_inplace(work), B, check_finite=False)
        except np.linalg.LinAlgError:
            if eig is None:
                np.copyto(work, C)
                s, V = _eigh(work)  # V may be work's memory: the next alphas need a new one
                eig = s, V, V.T @ B
                work = np.empty_like(C, order="F")
            s, V, Q = eig
            W = V @ (Q / (s + a)[:, None])
        progress(None)
        mse[k] = score(W, ybar - mu @ W)
    return mse


# One eigendecomposition ("evd") costs as much as this many Cholesky factorisations of the same
# m x m matrix, measured with scipy's OpenBLAS 0.3.31 on the project's 2-core machine (the loop
# of bench/penalty_path.py --linalg, best of 3; 2026-12-01, other jobs running, load ~4):
# 16, 21, 24, 29, 35 at m = 128 ... 2048 on one BLAS thread, 32 at m = 4096 on two (58.7 s
# against 1.8 s).  Two BLAS threads on the busy machine scattered the small sizes (3 to 40),
# hence one thread there; the break-even is flat enough (16 to 35) for the rule to hold.
_EIGH_IN_CHOLESKYS_M = (128, 256, 512, 1024, 2048, 4096)
_EIGH_IN_CHOLESKYS = (16.0, 21.0, 24.0, 29.0, 35.0, 32.0)


# A pivoted Cholesky factorisation (dpstrf) stopped at rank r costs about this many full
# Cholesky factorisations, whatever r (its pivot search is level-2 BLAS): measured 1.2 to 1.5
# at m = 2048, r = 409, 1010, 1609, on one BLAS thread (same day and load).
_PIVOTED_IN_CHOLESKYS = 1.5


def choose_method(n_components, n_alphas, n_rows=None):
    """The cheapest exact way to score ``n_alphas`` penalties on ``n_components`` features.

    Costs in Cholesky factorisations of the ``m x m`` Gram (``m = n_components``): a
    Cholesky per alpha, ``n_alphas``; the eigendecomposition, a measured constant
    (:data:`_EIGH_IN_CHOLESKYS`) plus ``O(m^2 t)`` per alpha; with ``n_rows`` training rows
    fewer than ``m``, the Gram has rank ``r <= n_rows`` and the low-rank solve costs
    ``_PIVOTED_IN_CHOLESKYS + 3 (r/m)^2`` (the pivoted factorisation and ``G = L^T L``)
    plus ``(r/m)^3`` per alpha.
    """
    m = max(n_components, 2)
    costs = {"cholesky": float(n_alphas),
             "eigh": float(np.interp(np.log2(m), np.log2(_EIGH_IN_CHOLESKYS_M), _EIGH_IN_CHOLESKYS))}
    if n_rows is not None and n_rows < m:
        rho = min(n_rows + 16, m) / m  # a few pivots of rounding noise above the rank
        costs["lowrank"] = _PIVOTED_IN_CHOLESKYS + 3 * rho**2 + n_alphas * rho**3
    return min(costs, key=costs.get)


def select_and_solve(train, val, alphas, fit_intercept, verbose=False, method=None, desc="ridge solve"):
    """Choose the penalty and solve: ``(alpha, cv_mse, W, b)``.

    With one alpha (``val`` None), the ridge solution on ``train``.  With several, the
    validation MSE of every alpha fitted on ``train`` and scored on ``val`` (``cv_mse``), and
    the solution of the best alpha on all rows (``train + val``).  ``method`` ("cholesky",
    "eigh" or "lowrank") forces how the alphas are scored; default: :func:`choose_method`.  ``verbose``
    shows a status bar naming each factorisation as it starts.
    """
    if val is not None:
        if val.n == 0 or train.n == 0:
            raise ValueError(
                f"validation_fraction: the hold-out kept {val.n} validation and {train.n} "
                f"training rows of {train.n + val.n}; several alphas need both (use more rows or "
                f"a single alpha)"
            )
        method = method or choose_method(train.gram.shape[0], alphas.shape[0], train.n)
    # Steps of the bar: each factorisation (per alpha, or the eigendecomposition), the refit.
    n_steps = 1 if val is None else alphas.shape[0] + (2 if method == "lowrank" else 1)
    if method == "eigh":
        n_steps = 2
    with progress_bar(verbose, n_steps, desc, unit="solve") as bar:
        def progress(stage):
            if stage is None:
                bar.update(1)
            else:
                bar.set_postfix_str(stage)

        if val is None:
            alpha, cv_mse, total = float(alphas[0]), None, (train,)
            C, B, mu, ybar = centred_union(total, fit_intercept)
        else:
            progress("centring the statistics")
            cv_mse = validation_mse(train, val, alphas, fit_intercept, method, progress)
            alpha = float(alphas[int(np.argmin(cv_mse))])
            total = (train, val)
            C, B, mu, ybar = centred_union(total, fit_intercept)
        progress(f"{'refit on all rows, ' if val is not None else ''}Cholesky, alpha={alpha:g}")
        W = _solve_in_place(C, B, alpha, lambda: centred_union(total, fit_intercept)[0],
                            largest_eigenvalue(C))
        progress(None)
    return alpha, cv_mse, W, ybar - mu @ W
