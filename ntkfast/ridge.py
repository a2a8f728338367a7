"""Ridge regression and classification on NTK random features, and exact NTK kernel ridge.

SPEC section 6: ``Phi^T Phi`` and ``Phi^T Y`` are sums over rows, so :class:`NTKRidge`
accumulates them batch by batch in float64 and never holds the ``n x n_components`` feature
matrix: ``fit`` needs ``O(n_components^2 + batch * n_components)`` memory whatever ``n``.
The accumulation lives in one function, :func:`_accumulate`, whose result
(:class:`_RidgeStats`) can be added to another one: per-block statistics computed elsewhere
(e.g. on the workers of a cluster) sum to the statistics of the whole data set.

:class:`ExactNTKRidge` is the quadratic baseline: kernel ridge regression on
:func:`ntkfast.ntk_kernel`.
"""
import numbers

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dsyr, dsyrk
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from . import _dask
from ._validation import (
    as_float_array,
    check_2d_shape,
    check_allocation,
    check_array,
    check_int,
    check_random_state,
    resolve_n_threads,
)
from .features import NTKRandomFeatures, _check_bool
from .kernels import _depth_bias, exact_kernel

__all__ = ["ExactNTKRidge", "NTKRidge", "NTKRidgeClassifier"]

# Rows of the exact kernel computed per block in ExactNTKRidge.predict (about 32 MiB of float64).
_KERNEL_BLOCK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------------------------
# Parameter and target checks
# --------------------------------------------------------------------------------------------

def _check_alphas(alpha):
    """``alpha`` as a 1-D float64 array of finite values > 0 (a scalar gives one element)."""
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha: expected a number > 0 or a list of them, got {alpha!r}")
    if isinstance(alpha, numbers.Real):
        alphas = np.array([float(alpha)])
    else:
        try:
            alphas = np.asarray(alpha)
        except Exception:  # pragma: no cover - exotic containers
            raise TypeError(f"alpha: expected a number > 0 or a list of them, got {alpha!r}") from None
        if alphas.dtype.kind not in "iuf" or alphas.dtype == np.bool_:
            raise TypeError(f"alpha: expected a number > 0 or a list of them, got {alpha!r}")
        if alphas.ndim != 1 or alphas.size == 0:
            raise ValueError(f"alpha: expected a number or a non-empty 1-D list, got shape {alphas.shape}")
        alphas = alphas.astype(np.float64)
    if not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"alpha: expected finite values > 0, got {alpha!r}")
    return alphas


def _check_fraction(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number in (0, 1), got {value!r}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}: expected a number in (0, 1), got {value}")
    return value


def _check_target_shape(y, n_samples, name="y"):
    """dtype and shape checks of targets (numpy or dask: nothing is computed)."""
    if y.dtype.kind not in "iuf" or y.dtype == np.bool_:
        raise TypeError(f"{name}: expected real numbers, got dtype {y.dtype}")
    if y.ndim not in (1, 2):
        raise ValueError(f"{name}: expected a 1-D or 2-D array, got a {y.ndim}-D array of shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name}: expected {n_samples} rows (the number of rows of X), got {y.shape[0]}")
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{name}: expected at least 1 target column, got shape {y.shape}")


def _check_targets(y, n_samples, name="y"):
    """Regression targets as a 2-D float64 array ``(n_samples, n_targets)``; also the input ndim."""
    _check_not_none(y, name)
    y = np.asarray(y)
    _check_target_shape(y, n_samples, name)
    Y = np.asarray(y, dtype=np.float64).reshape(n_samples, -1)
    if not np.all(np.isfinite(Y)):
        row = int(np.argmax(~np.isfinite(Y).all(axis=1)))
        raise ValueError(f"{name}: expected finite values, got NaN or infinity (first in row {row})")
    return Y, y.ndim


def _check_not_none(y, name="y"):
    if y is None:
        raise ValueError(f"{name}: expected an array of targets, got None (this estimator requires y to be "
                         f"passed, but the target y is None)")


def _check_X(X, n_features=None):
    """``X`` checked for shape and float dtype only; rows are checked for NaN batch by batch."""
    X = as_float_array(X, "X")
    check_2d_shape(X, "X", n_features)
    return X


# --------------------------------------------------------------------------------------------
# Streaming accumulation
# --------------------------------------------------------------------------------------------

class _RidgeStats:
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
        self.cross += P.T @ Y
        self.sum_phi += P.sum(axis=0)
        self.sum_y += Y.sum(axis=0)
        self.sum_yy += np.einsum("ij,ij->j", Y, Y)
        self.n += P.shape[0]

    def __add__(self, other):
        if not isinstance(other, _RidgeStats):
            return NotImplemented
        if self.gram.shape != other.gram.shape or self.cross.shape != other.cross.shape:
            raise ValueError(
                f"cannot add statistics of shapes {self.cross.shape} and {other.cross.shape}"
            )
        out = _RidgeStats.__new__(_RidgeStats)
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


def _splitmix64(z):
    """SplitMix64 finaliser on a uint64 array: a counter-based hash of the row index."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _holdout_mask(seed, start, stop, fraction):
    """Which of the rows ``start..stop-1`` (absolute indices) are held out for validation.

    Row ``i`` is held out when a hash of ``(seed, i)`` falls below ``fraction``: each row
    independently with probability ``fraction``, and the choice depends only on the row's
    absolute index, not on how the rows are split into batches or blocks.
    """
    rows = np.arange(start, stop, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = _splitmix64(rows ^ _splitmix64(np.uint64(seed)))
    u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)  # in [0, 1)
    return u < fraction


def _accumulate(features, X, Y, batch_size=None, row_offset=0, holdout=None, progress=None):
    """Ridge statistics of ``(features(X), Y)``, computed batch by batch.

    Parameters
    ----------
    features : fitted NTKRandomFeatures
    X : ndarray of shape (n, n_features), float32 or float64 (a memmap is fine)
        Read one batch of rows at a time; NaN/inf raise ValueError naming the row.
    Y : ndarray of shape (n, t), float64
    batch_size : int, optional
        Rows per batch; default: the feature transformer's own batch size.
    row_offset : int
        Absolute index of ``X``'s first row in the whole data set: it fixes the hold-out
        rows (and numbers rows in error messages).
    holdout : (seed, fraction), optional
        If given, rows chosen by :func:`_holdout_mask` go to separate statistics.
    progress : callable, optional
        Called with the number of rows done after each batch.

    Returns
    -------
    train : _RidgeStats
    validation : _RidgeStats or None
        ``None`` when ``holdout`` is None.

    Memory: the two statistics (``O(m^2)``) plus one batch of features in its dtype and
    in float64 (``O(batch * m)``); never the whole feature matrix.
    """
    n = X.shape[0]
    m = features._n_output()
    t = Y.shape[1]
    rows = features._batch_rows() if batch_size is None else batch_size
    rows = max(1, min(rows, n))
    train = _RidgeStats(m, t)
    val = _RidgeStats(m, t) if holdout is not None else None
    buf = np.empty((rows, m), dtype=features.dtype_)
    buf64 = buf if buf.dtype == np.float64 else np.empty((rows, m), dtype=np.float64)
    workspaces = {}
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        r = i1 - i0
        P = features._transform(X[i0:i1], buf[:r], None, row_offset + i0, workspaces)
        if buf64 is not buf:
            np.copyto(buf64[:r], P)
            P = buf64[:r]
        Yb = Y[i0:i1]
        if holdout is None:
            train.add_rows(P, Yb)
        else:
            mask = _holdout_mask(holdout[0], row_offset + i0, row_offset + i1, holdout[1])
            if mask.any():
                val.add_rows(np.ascontiguousarray(P[mask]), Yb[mask])
                train.add_rows(np.ascontiguousarray(P[~mask]), Yb[~mask])
            else:
                train.add_rows(P, Yb)
        if progress is not None:
            progress(r)
    return train, val


# --------------------------------------------------------------------------------------------
# Solvers
# --------------------------------------------------------------------------------------------

# scipy's bundled OpenBLAS (0.3.30) crashed the interpreter (SIGSEGV) in a multi-threaded
# Cholesky of a 30,000 x 30,000 matrix on this project's 2-core machine; 20,000 worked, and
# 30,000 on one BLAS thread worked (144 s).  Larger matrices are factored on one BLAS
# thread: slower, never a crash.
_THREADED_CHOLESKY_MAX_N = 20_000


def _cho_factor_inplace(A):
    """``scipy.linalg.cho_factor`` of the upper triangle of Fortran-ordered ``A``, in place."""
    if A.shape[0] <= _THREADED_CHOLESKY_MAX_N:
        return scipy.linalg.cho_factor(A, lower=False, overwrite_a=True, check_finite=False)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return scipy.linalg.cho_factor(A, lower=False, overwrite_a=True, check_finite=False)


def _solve(stats, alpha, fit_intercept):
    """``(W, b)``: the ridge solution ``(C + alpha I) W = B`` and intercept ``ybar - mu W``."""
    C, B, mu, ybar = stats.centred(fit_intercept)
    C.flat[:: C.shape[0] + 1] += alpha
    try:
        factor = _cho_factor_inplace(C)
        W = scipy.linalg.cho_solve(factor, B, check_finite=False)
    except np.linalg.LinAlgError:
        # Only reachable when alpha is negligible next to the Gram matrix and rounding makes
        # the shifted matrix indefinite: fall back on the eigendecomposition (clipped).
        C, B, mu, ybar = stats.centred(fit_intercept)
        s, V = scipy.linalg.eigh(C, lower=False, overwrite_a=True, check_finite=False, driver="evd")
        W = V @ ((V.T @ B) / (np.maximum(s, 0.0) + alpha)[:, None])
    b = ybar - mu @ W
    return W, b


def _symmetric_from_upper(C):
    """Fill the lower triangle of ``C`` from its upper one, in place."""
    for i in range(C.shape[0] - 1):
        C[i + 1:, i] = C[i, i + 1:]
    return C


def _validation_mse(train, val, alphas, fit_intercept):
    """Validation MSE (mean over held-out rows and targets) of the ridge fit on ``train``
    for every alpha, from one eigendecomposition of the training Gram matrix.

    With ``W`` the weights and ``b`` the intercept, the residual sum of squares on the
    held-out rows is, with everything centred on the held-out means (so that cross terms
    vanish and the large uncentred moments never cancel),
    ``sum_t [YYc - 2 W'Bv + W' Cv W] + n_v ||ybar_v - mu_v W - b||^2``.
    """
    C, B, mu, ybar = train.centred(fit_intercept)
    # Divide and conquer ("evd"): several times faster than the default for all eigenvectors.
    s, V = scipy.linalg.eigh(C, lower=False, overwrite_a=True, check_finite=False, driver="evd")
    del C
    Q = V.T @ B
    Cv, Bv, mu_v, ybar_v = val.centred(True)
    Cv = _symmetric_from_upper(Cv)
    yy_c = val.sum_yy - val.n * ybar_v**2
    n_targets = B.shape[1]
    mse = np.empty(alphas.shape[0])
    for k, a in enumerate(alphas):
        W = V @ (Q / (s + a)[:, None])
        b = ybar - mu @ W
        rss = np.sum(yy_c) - 2.0 * np.sum(W * Bv) + np.sum(W * (Cv @ W))
        rss += val.n * np.sum((ybar_v - mu_v @ W - b) ** 2)
        mse[k] = max(rss, 0.0) / (val.n * n_targets)
    return mse


def _progress_bar(verbose, total, desc):
    if not verbose:
        return None, None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="rows", leave=False)
    return bar, bar.update


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------

class _BaseNTKRidge(BaseEstimator):
    """Shared fit/decision code of NTKRidge and NTKRidgeClassifier."""

    def __init__(self, depth=1, n_components=4096, sketch_components=None, leverage=True,
                 kernel="ntk", alpha=1.0, fit_intercept=True, validation_fraction=0.1,
                 batch_size=None, verbose=False, random_state=None, n_threads=None):
        self.depth = depth
        self.n_components = n_components
        self.sketch_components = sketch_components
        self.leverage = leverage
        self.kernel = kernel
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.validation_fraction = validation_fraction
        self.batch_size = batch_size
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self):
        alphas = _check_alphas(self.alpha)
        fit_intercept = _check_bool(self.fit_intercept, "fit_intercept")
        verbose = _check_bool(self.verbose, "verbose")
        fraction = None
        if alphas.size > 1:
            fraction = _check_fraction(self.validation_fraction, "validation_fraction")
        batch_size = None if self.batch_size is None else check_int(self.batch_size, "batch_size", 1)
        return alphas, fit_intercept, verbose, fraction, batch_size

    def _prepare_fit(self, X):
        """Checked parameters, the drawn feature map and the hold-out of a fit on ``X``.

        Shared by the in-memory and the dask fit (ntkfast/_dask.py), so that both make the
        same random draws.  ``X`` may be lazy: only its shape, dtype and first row are used.
        """
        alphas, fit_intercept, verbose, fraction, batch_size = self._check_params()
        rng = check_random_state(self.random_state)
        feature_seed, holdout_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=2))
        features = NTKRandomFeatures(
            depth=self.depth, n_components=self.n_components,
            sketch_components=self.sketch_components, leverage=self.leverage,
            kernel=self.kernel, random_state=feature_seed, n_threads=self.n_threads,
        )
        # The random weights depend only on the number of columns and the dtype: one row
        # is enough, and a memory-mapped X is not read here.
        features.fit(X[:1])
        m = features._n_output()
        check_allocation(
            (3 if alphas.size == 1 else 6) * m * m * 8,
            f"n_components: ridge statistics for {m} features (several {m} x {m} float64 matrices)",
        )
        holdout = None if alphas.size == 1 else (holdout_seed, fraction)
        return features, alphas, fit_intercept, verbose, batch_size, holdout

    def _finish_fit(self, features, n_features, train, val, alphas, fit_intercept, holdout):
        """Choose alpha from the accumulated statistics, solve, and set the fitted attributes.

        Returns the weights ``W`` (m, t) and intercepts ``b`` (t,).
        """
        if holdout is None:
            self.alpha_ = float(alphas[0])
            self.cv_mse_ = None
            total = train
        else:
            if val.n == 0 or train.n == 0:
                raise ValueError(
                    f"validation_fraction: the hold-out of {holdout[1]} of {train.n + val.n} rows "
                    f"kept {val.n} validation and {train.n} training rows; several alphas need "
                    f"both (use more rows or a single alpha)"
                )
            self.cv_mse_ = _validation_mse(train, val, alphas, fit_intercept)
            self.alpha_ = float(alphas[int(np.argmin(self.cv_mse_))])
            total = train + val
            del train, val
        W, b = _solve(total, self.alpha_, fit_intercept)
        self.features_ = features
        self.n_features_in_ = n_features
        self._holdout_seed = None if holdout is None else holdout[0]
        return W, b

    def _fit_targets(self, X, Y):
        """Fit on validated ``X`` (n, d) and float64 targets ``Y`` (n, t); sets coef_ etc."""
        features, alphas, fit_intercept, verbose, batch_size, holdout = self._prepare_fit(
            np.ascontiguousarray(X[:1]))
        bar, progress = _progress_bar(verbose, X.shape[0], f"{type(self).__name__}.fit")
        try:
            train, val = _accumulate(features, X, Y, batch_size, 0, holdout, progress)
        finally:
            if bar is not None:
                bar.close()
        return self._finish_fit(features, X.shape[1], train, val, alphas, fit_intercept, holdout)

    def _decision(self, X):
        """``features(X) @ coef_.T + intercept_``, batch by batch, in float64."""
        check_is_fitted(self, "coef_")
        X = _check_X(X, self.n_features_in_)
        features = self.features_
        n = X.shape[0]
        W = np.atleast_2d(self.coef_)  # (t, m)
        check_allocation(n * W.shape[0] * 8, f"X: {n} x {W.shape[0]} float64 predictions")
        out = np.empty((n, W.shape[0]), dtype=np.float64)
        rows = features._batch_rows() if self.batch_size is None else check_int(self.batch_size, "batch_size", 1)
        rows = max(1, min(rows, n))
        buf = np.empty((rows, features._n_output()), dtype=features.dtype_)
        bar, progress = _progress_bar(bool(self.verbose), n, f"{type(self).__name__}.predict")
        workspaces = {}
        try:
            for i0 in range(0, n, rows):
                i1 = min(n, i0 + rows)
                P = features._transform(X[i0:i1], buf[: i1 - i0], None, i0, workspaces)
                np.matmul(P.astype(np.float64, copy=False), W.T, out=out[i0:i1])
                if progress is not None:
                    progress(i1 - i0)
        finally:
            if bar is not None:
                bar.close()
        out += self.intercept_
        return out


class NTKRidge(RegressorMixin, _BaseNTKRidge):
    """Ridge regression on NTK random features, fitted out of core.

    ``fit`` draws an :class:`ntkfast.NTKRandomFeatures` and streams the rows in batches,
    accumulating ``Phi^T Phi``, ``Phi^T Y`` and the sums needed for the intercept in
    float64 (whatever the feature dtype).  It never holds the ``n x n_components`` feature
    matrix: its peak memory is ``O(n_components^2 + batch_size * n_components)``,
    independent of ``n``, and ``X`` may be a ``numpy.memmap`` larger than memory.  The
    model is ``y ≈ Phi(x) @ coef_.T + intercept_``, the minimiser of
    ``||y - Phi w - b||^2 + alpha ||w||^2`` (the intercept is not penalised).

    Parameters
    ----------
    depth, n_components, sketch_components, leverage, kernel
        Passed to :class:`ntkfast.NTKRandomFeatures`.
    alpha : float > 0 or array-like of floats > 0, default=1.0
        Ridge penalty.  With several values, a fraction ``validation_fraction`` of the rows
        is held out; every alpha is solved from one eigendecomposition of the training
        Gram matrix and scored on the held-out rows in closed form, the best one is kept
        (``alpha_``), and the final model is refitted on all rows, all in one pass over
        the data.  A list of one value is the same as that value (no hold-out).
    fit_intercept : bool, default=True
        Centre features and targets (in feature space, from the accumulated sums).
    validation_fraction : float in (0, 1), default=0.1
        Fraction of rows held out when ``alpha`` has several values; each row is held out
        independently with this probability, chosen from ``random_state``.
    batch_size : int, optional
        Rows per batch; default: a batch of features of about 32 MiB.  The fitted model
        does not depend on it beyond float64 rounding.
    verbose : bool, default=False
        Show tqdm progress bars over the batches of ``fit`` and ``predict``.
    random_state : None, int or numpy.random.Generator
        Draws the features and the hold-out.
    n_threads : int, optional
        Threads of the feature computation; default: the current OpenMP limit.

    Attributes
    ----------
    features_ : NTKRandomFeatures
        The fitted feature map.
    coef_ : ndarray of shape (n_components,) or (n_targets, n_components), float64
        1-D when ``y`` was 1-D, as in :class:`sklearn.linear_model.Ridge`.
    intercept_ : float or ndarray of shape (n_targets,)
    alpha_ : float
        The alpha used by the final model.
    cv_mse_ : ndarray of shape (n_alphas,) or None
        Held-out mean squared error (averaged over rows and targets) of each alpha; None
        when ``alpha`` is a single value.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2000, 5))
    >>> y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    >>> model = ntkfast.NTKRidge(n_components=512, alpha=[0.1, 1.0, 10.0], random_state=0)
    >>> model = model.fit(X[:1500], y[:1500])
    >>> model.coef_.shape, model.alpha_ in (0.1, 1.0, 10.0)
    ((512,), True)
    >>> bool(model.score(X[1500:], y[1500:]) > 0.8)
    True
    """

    def __sklearn_tags__(self):
        # y of shape (n, t) is t regressions (documented), not a column to ravel.
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Fit the ridge model, streaming ``X`` in batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), float32 or float64
            float32 gives float32 features (accumulated in float64).  A memmap is read one
            batch at a time.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        if _dask.is_dask_array(X) or _dask.is_dask_array(y):
            return _dask.ridge_fit(self, X, y)  # statistics on the cluster (ntkfast/_dask.py)
        X = _check_X(X)
        Y, y_ndim = _check_targets(y, X.shape[0])
        W, b = self._fit_targets(X, Y)
        self._set_coefs(W, b, y_ndim)
        return self

    def _set_coefs(self, W, b, y_ndim):
        # sklearn's Ridge layout: coef_ (n_components,) for 1-D y, (n_targets, n_components) else.
        if y_ndim == 1:
            self.coef_, self.intercept_ = W[:, 0].copy(), float(b[0])
        else:
            self.coef_, self.intercept_ = np.ascontiguousarray(W.T), b

    def predict(self, X):
        """Predictions for ``X``, computed batch by batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets), float64
        """
        if _dask.is_dask_array(X):
            return _dask.ridge_predict(self, X)  # lazy dask array (ntkfast/_dask.py)
        out = self._decision(X)
        return out[:, 0] if np.ndim(self.coef_) == 1 else out


class NTKRidgeClassifier(ClassifierMixin, _BaseNTKRidge):
    """Ridge classifier on NTK random features (one-vs-rest on +1/-1 targets), out of core.

    Each class gets a +1/-1 target column (a single column for two classes, +1 for
    ``classes_[1]``) fitted by :class:`NTKRidge`'s streaming least squares; the predicted
    class has the largest decision value.  No ``predict_proba``.

    Parameters
    ----------
    Same as :class:`NTKRidge`.  With several ``alpha`` values, the held-out mean squared
    error on the +1/-1 targets chooses one (as :class:`sklearn.linear_model.RidgeClassifierCV`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    features_ : NTKRandomFeatures
    coef_ : ndarray of shape (1, n_components) for two classes, else (n_classes, n_components)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    alpha_ : float
    cv_mse_ : ndarray of shape (n_alphas,) or None
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((600, 2))
    >>> y = np.where(np.hypot(X[:, 0], X[:, 1]) < 1.2, "in", "out")
    >>> clf = ntkfast.NTKRidgeClassifier(n_components=512, alpha=0.1, random_state=0)
    >>> clf = clf.fit(X[:400], y[:400])
    >>> clf.classes_
    array(['in', 'out'], dtype='<U3')
    >>> bool(clf.score(X[400:], y[400:]) > 0.9)
    True
    """

    def fit(self, X, y):
        """Fit one +1/-1 ridge regression per class, streaming ``X`` in batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), float32 or float64
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings); at least two distinct values.

        Returns
        -------
        self
        """
        X = _check_X(X)
        _check_not_none(y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y: expected a 1-D array of class labels, got shape {y.shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y: expected {X.shape[0]} labels (the number of rows of X), got {y.shape[0]}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y: expected class labels, got NaN or infinity")
        if y.dtype.kind == "O" and any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in y):
            raise ValueError("y: expected class labels, got None or NaN")
        if y.dtype.kind == "f" and np.any(y != np.round(y)):
            # A regression target would make every distinct value a class: n x n targets.
            raise ValueError(
                "y: expected class labels, got continuous values (Unknown label type: continuous); "
                "use NTKRidge for regression"
            )
        classes, codes = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(f"y: expected at least 2 classes, got {classes.shape[0]} class ({classes!r})")
        codes = codes.reshape(-1)
        if classes.shape[0] == 2:
            Y = np.where(codes == 1, 1.0, -1.0)[:, None]
        else:
            Y = -np.ones((codes.shape[0], classes.shape[0]))
            Y[np.arange(codes.shape[0]), codes] = 1.0
        W, b = self._fit_targets(X, Y)
        self.classes_ = classes
        self.coef_, self.intercept_ = np.ascontiguousarray(W.T), b
        return self

    def decision_function(self, X):
        """Decision values, batch by batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,) for two classes (positive means ``classes_[1]``),
        else (n_samples, n_classes); float64
        """
        out = self._decision(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,), of the dtype of ``classes_``
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[np.argmax(scores, axis=1)]


class ExactNTKRidge(RegressorMixin, BaseEstimator):
    """Kernel ridge regression on the exact NTK (:func:`ntkfast.ntk_kernel`): the baseline.

    Solves ``(K + alpha I) a = y - ybar`` with a Cholesky factorisation done in place in the
    ``n x n`` kernel matrix, and predicts ``K(X, X_fit_) a + ybar``.  Time ``O(n^3)`` and
    memory ``O(n^2)``: ``fit`` raises MemoryError, before allocating anything large, when
    the float64 kernel would not fit in the memory available.

    Parameters
    ----------
    depth : int >= 1, default=1
    bias : float >= 0, default=0.0
        Bias variance of the NTK.
    alpha : float > 0, default=1.0
    fit_intercept : bool, default=True
        Centre the targets (the kernel is not centred: the NTK model has no free offset).
    n_threads : int, optional
    verbose : bool, default=False
        Show a tqdm progress bar while the kernel matrices are computed.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_samples, n_features), float64
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets), float64
    intercept_ : float or ndarray of shape (n_targets,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((400, 3))
    >>> y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    >>> model = ntkfast.ExactNTKRidge(depth=2, alpha=0.1).fit(X[:300], y[:300])
    >>> bool(model.score(X[300:], y[300:]) > 0.8)
    True
    """

    def __init__(self, depth=1, bias=0.0, alpha=1.0, fit_intercept=True, n_threads=None, verbose=False):
        self.depth = depth
        self.bias = bias
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.n_threads = n_threads
        self.verbose = verbose

    def __sklearn_tags__(self):
        # y of shape (n, t) is t regressions (documented), not a column to ravel.
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Fit kernel ridge regression on the exact NTK of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        depth, bias = _depth_bias(self.depth, self.bias)
        alphas = _check_alphas(self.alpha)
        if not isinstance(self.alpha, numbers.Real):
            raise TypeError(f"alpha: expected a single number > 0, got {self.alpha!r}")
        alpha = float(alphas[0])
        fit_intercept = _check_bool(self.fit_intercept, "fit_intercept")
        verbose = _check_bool(self.verbose, "verbose")
        n_threads = resolve_n_threads(self.n_threads)
        X = _check_X(X)
        n = X.shape[0]
        Y, y_ndim = _check_targets(y, n)
        # The kernel matrix is the only O(n^2) allocation: the Cholesky factorisation
        # overwrites it in place.  Checked before anything large is read or allocated.
        check_allocation(
            n * n * 8 + X.size * 8 + 2 * Y.size * 8,
            f"X: exact kernel ridge on {n} samples (a {n} x {n} float64 kernel matrix)",
        )
        X = check_array(X, "X", dtype=np.float64)
        ybar = Y.mean(axis=0) if fit_intercept else np.zeros(Y.shape[1])
        bar, progress = _progress_bar(verbose, n, "ExactNTKRidge kernel")
        try:
            K = exact_kernel(X, None, "ntk", depth, bias, n_threads, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        K.flat[:: n + 1] += alpha
        # K is C-contiguous and symmetric: its transpose is the same matrix in Fortran
        # order, which LAPACK factors in place (no n x n copy).
        factor = _cho_factor_inplace(K.T)
        A = scipy.linalg.cho_solve(factor, Y - ybar, check_finite=False)
        del K, factor
        self.X_fit_ = X
        self.n_features_in_ = X.shape[1]
        if y_ndim == 1:
            self.dual_coef_, self.intercept_ = A[:, 0].copy(), float(ybar[0])
        else:
            self.dual_coef_, self.intercept_ = A, ybar
        return self

    def predict(self, X):
        """Predictions ``K(X, X_fit_) @ dual_coef_ + intercept_``, in blocks of rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets), float64
        """
        check_is_fitted(self, "dual_coef_")
        X = _check_X(X, self.n_features_in_)
        n_targets = 1 if self.dual_coef_.ndim == 1 else self.dual_coef_.shape[1]
        check_allocation(
            X.shape[0] * (X.shape[1] + n_targets) * 8,
            f"X: {X.shape[0]} rows (a float64 copy and {n_targets} prediction(s) per row)",
        )
        X = check_array(X, "X", n_features=self.n_features_in_, dtype=np.float64)
        depth, bias = _depth_bias(self.depth, self.bias)
        n_threads = resolve_n_threads(self.n_threads)
        n, n_fit = X.shape[0], self.X_fit_.shape[0]
        A = self.dual_coef_.reshape(n_fit, -1)
        out = np.empty((n, A.shape[1]), dtype=np.float64)
        rows = max(1, _KERNEL_BLOCK_ELEMENTS // n_fit)
        bar, progress = _progress_bar(bool(self.verbose), n, "ExactNTKRidge predict")
        try:
            for i0 in range(0, n, rows):
                i1 = min(n, i0 + rows)
                Kb = exact_kernel(X[i0:i1], self.X_fit_, "ntk", depth, bias, n_threads)
                np.matmul(Kb, A, out=out[i0:i1])
                if progress is not None:
                    progress(i1 - i0)
        finally:
            if bar is not None:
                bar.close()
        out += self.intercept_
        return out[:, 0] if self.dual_coef_.ndim == 1 else out
