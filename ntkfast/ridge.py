"""Ridge regression and classification on NTK random features, and exact NTK kernel ridge.

SPEC section 6.  :class:`NTKRidge` streams the rows of ``X`` through its feature map and
accumulates ``Phi^T Phi`` and ``Phi^T Y`` batch by batch in float64, never holding the
``n x n_components`` feature matrix (the statistics and solvers are
:mod:`ntkfast._engine.ridge_stats`; the batch loop :mod:`ntkfast._engine.batches`).  With
fewer rows than features (and ``X`` in memory, not a dask array) it solves the ``n x n`` dual
instead (:mod:`ntkfast._engine.ridge_dual`): the same model, cheaper, and the feature matrix
it then holds is smaller than the ``m x m`` statistics.
:class:`ExactNTKRidge` is the quadratic baseline: kernel ridge regression on
:func:`ntkfast.ntk_kernel`.

Every fit validates all parameters and inputs before it changes a fitted attribute, and
publishes the new fitted state at once (:mod:`ntkfast._engine.state`).
"""
import numpy as np
import scipy.linalg
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._engine import feature_maps, lazy, state
from ._engine.batches import dense_rows, row_batches
from ._engine.exact import exact_kernel
from ._engine.progress import progress_bar, stage
from ._engine.ridge_dual import dual_select_and_solve, use_dual
from ._engine.ridge_stats import (
    accumulate,
    check_stats_finite,
    cho_factor_inplace,
    predict_rows,
    select_and_solve,
)
from ._engine.validation import (
    Alphas,
    Bool,
    Depth,
    HoldoutFraction,
    Int,
    NonNegative,
    OneOf,
    Optional,
    RandomState,
    Threads,
    check_X,
    check_allocation,
    check_array,
    check_feature_names,
    check_finite_result,
    check_labels,
    check_params,
    check_targets,
    float_dtype,
    input_feature_names,
    resolve_n_threads,
    set_parameters_added_later,
)
from .features import FeatureNamesMixin, NTKNystroem, NTKRandomFeatures

__all__ = ["ExactNTKRidge", "NTKRidge", "NTKRidgeClassifier"]

# Rows of the exact kernel computed per block in ExactNTKRidge.predict (about 32 MiB of float64).
_KERNEL_BLOCK_ELEMENTS = 1 << 22

# The parameters a ridge model passes on to its NTKRandomFeatures.
# (bias before sketch_components: its check depends on the bias; kernel before both widths.)
_FEATURE_PARAMS = ("depth", "n_components", "kernel", "bias", "sketch", "projection",
                   "sketch_components", "step_components", "leverage")
# Those an NTKNystroem takes (features="nystroem"); the others are ignored then.
_NYSTROEM_PARAMS = ("depth", "n_components", "kernel", "bias")

_SCALE_HINT = "; standardise X and y (e.g. sklearn.preprocessing.StandardScaler in a Pipeline)"


class _BaseNTKRidge(FeatureNamesMixin, BaseEstimator):
    """Shared fit/decision code of NTKRidge and NTKRidgeClassifier."""

    # The feature map's parameters are checked by its own declarations; order matters where
    # a check depends on another parameter (see SketchWidth, HoldoutFraction).
    _parameter_constraints = {
        **{p: NTKRandomFeatures._parameter_constraints[p] for p in _FEATURE_PARAMS},
        "features": OneOf("random", "nystroem"),
        "alpha": Alphas(),
        "fit_intercept": Bool(),
        "validation_fraction": HoldoutFraction(),
        "batch_size": Optional(Int(1)),
        "verbose": Bool(),
        "random_state": RandomState(),
        "n_threads": Threads(),
    }

    def __init__(self, depth=1, n_components=4096, sketch_components=None, leverage=True,
                 kernel="ntk", alpha=1.0, fit_intercept=True, validation_fraction=0.1,
                 batch_size=None, verbose=False, random_state=None, n_threads=None, bias=0.0,
                 step_components=None, sketch="countsketch", projection="gaussian",
                 features="random"):
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
        self.bias = bias
        self.step_components = step_components
        self.sketch = sketch
        self.projection = projection
        self.features = features

    def __setstate__(self, d):
        # Pickles of models from before the bias, step_components, sketch, projection and
        # features parameters.
        set_parameters_added_later(type(self), d)
        super().__setstate__(d)

    def _fit_stats(self, params, X, Y, adapter=None):
        """Draw the features, stream ``X`` (in memory, or through a lazy ``adapter``),
        choose alpha and solve.  Returns the fitted attributes (``coef_`` as ``W`` (m, t))."""
        rng = params["random_state"]
        feature_seed, holdout_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=2))
        if params["features"] == "nystroem":
            # The landmarks are rows of X (of all rows: they do not see y, so the held-out
            # rows may be among them).
            features = NTKNystroem(random_state=feature_seed, n_threads=self.n_threads,
                                   **{p: getattr(self, p) for p in _NYSTROEM_PARAMS})
            features.fit(X)
        else:
            features = NTKRandomFeatures(random_state=feature_seed, n_threads=self.n_threads,
                                         **{p: getattr(self, p) for p in _FEATURE_PARAMS})
            # The random weights depend only on the number of columns and the dtype.
            features.fit(np.zeros((1, X.shape[1]), dtype=float_dtype(X.dtype, "X")))
        fmap = feature_maps.of(features)
        m, alphas = fmap.n_output, params["alpha"]
        holdout = None if alphas.size == 1 else (holdout_seed, params["validation_fraction"])
        n_threads, batch_size = params["n_threads"], params["batch_size"]
        if adapter is None and use_dual(X.shape[0], m):
            # Fewer rows than features: the n x n dual is the cheaper exact route.
            alpha, cv_mse, W, b = dual_select_and_solve(
                fmap, X, Y, alphas, params["fit_intercept"], holdout, batch_size, n_threads,
                params["verbose"], f"{type(self).__name__}.fit")
        else:
            alpha, cv_mse, W, b = self._solve_primal(fmap, X, Y, alphas, holdout, params, adapter)
        check_finite_result(W, "X, y: ridge coefficients", 0, _SCALE_HINT)
        # _holdout_seed: the hold-out can be recomputed (holdout_mask) to audit cv_mse_.
        return {"features_": features, "alpha_": alpha, "cv_mse_": cv_mse,
                "n_features_in_": X.shape[1], "_holdout_seed": None if holdout is None else holdout[0]}, W, b

    def _solve_primal(self, fmap, X, Y, alphas, holdout, params, adapter):
        """The ``m x m`` statistics, streamed (in memory or through ``adapter``), and their solve."""
        m = fmap.n_output
        n_threads, batch_size = params["n_threads"], params["batch_size"]
        check_allocation(
            (3 if alphas.size == 1 else 6) * m * m * 8,
            f"n_components: ridge statistics for {m} features (several {m} x {m} float64 matrices)",
        )
        if adapter is not None:
            train, val = adapter.ridge_stats(fmap, X, Y, batch_size, holdout, n_threads)
        else:
            with progress_bar(params["verbose"], X.shape[0], f"{type(self).__name__}.fit") as bar:
                train, val = accumulate(fmap, X, Y, batch_size, 0, holdout, n_threads, bar.update)
        for s in (train, val):
            if s is not None:
                check_stats_finite(s)
        return select_and_solve(train, val, alphas, params["fit_intercept"],
                                verbose=params["verbose"], desc=f"{type(self).__name__}.fit: solve")

    def _decision(self, X):
        """``(features(X) @ coef_.T + intercept_, coef_.ndim)``: batch by batch, float64, 2-D,
        with the ndim of the very ``coef_`` used (a concurrent refit may replace it)."""
        check_is_fitted(self, "coef_")
        features, coef, intercept, n_in = state.snapshot(
            self, ("features_", "coef_", "intercept_", "n_features_in_"))
        fmap = feature_maps.of(features)
        W = np.atleast_2d(coef)  # (t, m)
        check_feature_names(self, X)
        n_threads = resolve_n_threads(self.n_threads)
        adapter = lazy.adapter_for(X)
        if adapter is not None:
            return adapter.ridge_predict(fmap, W, np.asarray(intercept, dtype=np.float64), X,
                                         self.batch_size, n_threads), np.ndim(coef)
        X = check_X(X, n_in, accept_sparse=True)
        n = X.shape[0]
        check_allocation(n * W.shape[0] * 8, f"X: {n} x {W.shape[0]} float64 predictions")
        with progress_bar(bool(self.verbose), n, f"{type(self).__name__}.predict") as bar:
            out = predict_rows(fmap, W, intercept, X, self.batch_size, 0, n_threads, bar.update)
        return out, np.ndim(coef)

    def __ntkfast_state__(self):
        """The fitted state for a model file (:mod:`ntkfast.io`): the feature map (saved
        under ``features_.``) and the linear model's arrays."""
        out = {
            "features_": self.features_,
            "n_features_in_": np.array(self.n_features_in_, dtype=np.int64),
            "coef_": np.ascontiguousarray(self.coef_),
            "intercept_": np.asarray(self.intercept_, dtype=np.float64),
            "alpha_": np.array(self.alpha_, dtype=np.float64),
        }
        if getattr(self, "cv_mse_", None) is not None:
            out["cv_mse_"] = np.asarray(self.cv_mse_, dtype=np.float64)
        out.update(self._feature_names_state())
        return out

    @classmethod
    def __ntkfast_load__(cls, reader, prefix=""):
        """Rebuild from a model file: ``reader`` is :mod:`ntkfast.io`'s validating reader."""
        model, params = reader.estimator(prefix + "__params__", cls)
        nystroem = params["features"] == "nystroem"
        feature_cls = NTKNystroem if nystroem else NTKRandomFeatures
        rf = feature_cls.__ntkfast_load__(reader, prefix + "features_.")
        for p in (_NYSTROEM_PARAMS if nystroem else _FEATURE_PARAMS):
            if rf.get_params()[p] != getattr(model, p):
                reader.fail(f"features_.__params__: {p} = {rf.get_params()[p]!r} differs from the "
                            f"model's {getattr(model, p)!r}")
        d = reader.integer(prefix + "n_features_in_", 1)
        if d != rf.n_features_in_:
            reader.fail(f"n_features_in_: expected {rf.n_features_in_} (as in the features), got {d}")
        n_out = feature_maps.of(rf).n_output   # the feature map's width (a bias column included)
        attributes = cls._load_coefs(reader, prefix, n_out)
        alphas = params["alpha"]
        alpha = float(reader.array(prefix + "alpha_", (), dtype=np.float64))
        if alpha not in alphas:
            reader.fail(f"'alpha_': expected one of the alpha parameter's values {alphas.tolist()}, got {alpha}")
        cv_mse = reader.array(prefix + "cv_mse_", (alphas.size,), dtype=np.float64) if alphas.size > 1 else None
        attributes.update(features_=rf, n_features_in_=d, alpha_=alpha, cv_mse_=cv_mse,
                          _feature_names_in=cls._load_feature_names(reader, prefix, d))
        state.publish(model, attributes)
        return model


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
    depth, n_components, sketch_components, step_components, leverage, kernel, bias, sketch, projection
        Passed to :class:`ntkfast.NTKRandomFeatures` (``bias``: the bias variance of the
        network, default 0.0; ``step_components``: the number of step features ``m0`` per
        layer, default None for ``m0 = m1``; ``sketch``: ``"countsketch"`` (default) or
        ``"srht"``, the sketch of each layer's tensor product; ``projection``:
        ``"gaussian"`` (default), ``"fastfood"`` or ``"sorf"``, the random projection of
        each layer).
    features : {"random", "nystroem"}, default="random"
        ``"random"``: the random features above.  ``"nystroem"``: :class:`ntkfast.NTKNystroem`
        features instead, ``n_components`` landmark rows of ``X`` with the exact kernel
        (``depth``, ``kernel`` and ``bias`` apply; ``sketch``, ``projection``, ``leverage``
        and the widths are ignored).  At equal width they are much closer to the exact
        kernel on data whose kernel spectrum decays (on the protein data at depth 2, 2,000
        landmarks came within 4% of the exact model's test error, where 16,384 random
        features stayed 10% above it: README section "Learning at scale"); ``fit`` reads the
        landmark rows and runs an ``O(m^3)`` eigendecomposition (:class:`ntkfast.NTKNystroem`).
    alpha : float > 0 or array-like of floats > 0, default=1.0
        Ridge penalty.  With several values, a fraction ``validation_fraction`` of the rows
        is held out; every alpha is solved exactly on the training Gram matrix (a Cholesky
        per alpha, one eigendecomposition for long lists, or a low-rank factorisation with
        fewer rows than features: whichever is cheapest) and scored on the held-out rows in
        closed form, the best one is kept
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
    features_ : NTKRandomFeatures or NTKNystroem
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
    feature_names_in_ : ndarray of shape (n_features_in_,), object
        The string column names of a data frame ``X`` (only then defined); ``predict``
        refuses a frame whose columns differ or are reordered (scikit-learn's check).

    Raises
    ------
    ValueError
        From ``fit`` and ``predict``, when the features, the ridge statistics or the
        predictions overflow float64 (finite inputs of extreme scale): standardise ``X`` and
        ``y`` (e.g. ``sklearn.preprocessing.StandardScaler`` in a ``Pipeline``).

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
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            float32 gives float32 features (accumulated in float64); other real dtypes
            (integers, booleans) float64.  A memmap is read, a sparse matrix densified, one
            batch of rows at a time; a ``dask.array.Array`` is reduced on the cluster.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (float); 2-D for several regressions at once.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        params = check_params(self)
        names = input_feature_names(X)
        adapter = lazy.adapter_for(X, y)
        if adapter is not None:
            X, Y, y_ndim = adapter.ridge_data(X, y)
        else:
            X = check_X(X, accept_sparse=True)
            Y, y_ndim = check_targets(y, X.shape[0])
        attributes, W, b = self._fit_stats(params, X, Y, adapter)
        attributes["_feature_names_in"] = names
        # sklearn's Ridge layout: coef_ (n_components,) for 1-D y, (n_targets, n_components) else.
        if y_ndim == 1:
            attributes.update(coef_=W[:, 0].copy(), intercept_=float(b[0]))
        else:
            attributes.update(coef_=np.ascontiguousarray(W.T), intercept_=b)
        state.publish(self, attributes)
        return self

    def predict(self, X):
        """Predictions for ``X``, computed batch by batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            float32 or float64 (features in ``result_type(X, features_.dtype_)``); a
            ``dask.array.Array`` gives a lazy result.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions in float64, 1-D when ``y`` was 1-D at ``fit``.
        """
        out, ndim = self._decision(X)
        return out[:, 0] if ndim == 1 else out

    @staticmethod
    def _load_coefs(reader, prefix, n_out):
        ndim = reader.ndim(prefix + "coef_", (1, 2))
        coef = reader.array(prefix + "coef_", (n_out,) if ndim == 1 else (None, n_out), dtype=np.float64)
        intercept = reader.array(prefix + "intercept_", () if coef.ndim == 1 else (coef.shape[0],),
                                 dtype=np.float64)
        return {"coef_": coef, "intercept_": float(intercept) if intercept.ndim == 0 else intercept}


class NTKRidgeClassifier(ClassifierMixin, _BaseNTKRidge):
    """Ridge classifier on NTK random features (one-vs-rest on +1/-1 targets), out of core.

    Each class gets a +1/-1 target column (a single column for two classes, +1 for
    ``classes_[1]``) fitted by :class:`NTKRidge`'s streaming least squares; the predicted
    class has the largest decision value.  No ``predict_proba``.

    Parameters
    ----------
    depth, n_components, sketch_components, step_components, leverage, kernel, bias, sketch, projection
        Passed to :class:`ntkfast.NTKRandomFeatures` (``bias``: the bias variance of the
        network, default 0.0; ``step_components``: the number of step features ``m0`` per
        layer, default None for ``m0 = m1``; ``sketch``: ``"countsketch"`` (default) or
        ``"srht"``, the sketch of each layer's tensor product; ``projection``:
        ``"gaussian"`` (default), ``"fastfood"`` or ``"sorf"``, the random projection of
        each layer).
    features : {"random", "nystroem"}, default="random"
        Random features or :class:`ntkfast.NTKNystroem` features, as in :class:`NTKRidge`.
    alpha : float > 0 or array-like of floats > 0, default=1.0
        Ridge penalty, as in :class:`NTKRidge`.  With several values, the held-out mean
        squared error on the +1/-1 targets chooses one (as
        :class:`sklearn.linear_model.RidgeClassifierCV`).
    fit_intercept, validation_fraction, batch_size, verbose, random_state, n_threads
        As in :class:`NTKRidge`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    features_ : NTKRandomFeatures or NTKNystroem
    coef_ : ndarray of shape (1, n_components) for two classes, else (n_classes, n_components)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    alpha_ : float
    cv_mse_ : ndarray of shape (n_alphas,) or None
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,), object
        As for :class:`NTKRidge`.

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
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            As for :meth:`NTKRidge.fit`.
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings); at least two distinct values.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        names = input_feature_names(X)
        X = check_X(X, accept_sparse=True)
        classes, codes = check_labels(y, X.shape[0])
        params = check_params(self)
        if classes.shape[0] == 2:
            Y = np.where(codes == 1, 1.0, -1.0)[:, None]
        else:
            Y = -np.ones((codes.shape[0], classes.shape[0]))
            Y[np.arange(codes.shape[0]), codes] = 1.0
        attributes, W, b = self._fit_stats(params, X, Y)
        attributes.update(classes_=classes, coef_=np.ascontiguousarray(W.T), intercept_=b,
                          _feature_names_in=names)
        state.publish(self, attributes)
        return self

    def decision_function(self, X):
        """Decision values, batch by batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Rows to score, read batch by batch.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            float64; 1-D for two classes (positive means ``classes_[1]``).
        """
        out, _ = self._decision(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Rows to classify, read batch by batch.

        Returns
        -------
        ndarray of shape (n_samples,)
            The class of the largest decision value, of the dtype of ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[np.argmax(scores, axis=1)]

    def __ntkfast_state__(self):
        out = super().__ntkfast_state__()
        classes = np.asarray(self.classes_)
        if classes.dtype == object:
            # Labels read from text are Python strings: store them as a fixed-width str array.
            try:
                classes = classes.astype(np.str_)
            except (TypeError, ValueError):
                raise TypeError("classes_: only numeric or string class labels can be saved") from None
        if classes.dtype.kind not in "biufU":
            raise TypeError(f"classes_: only numeric or string class labels can be saved, got dtype {classes.dtype}")
        out["classes_"] = classes
        return out

    @staticmethod
    def _load_coefs(reader, prefix, n_out):
        classes = reader.array(prefix + "classes_", (None,), kinds="biufU")
        n_classes = classes.shape[0]
        if n_classes < 2 or np.unique(classes).shape[0] != n_classes:
            reader.fail(f"'classes_': expected at least 2 distinct labels, got {classes.tolist()!r}")
        n_targets = 1 if n_classes == 2 else n_classes
        coef = reader.array(prefix + "coef_", (n_targets, n_out), dtype=np.float64)
        intercept = reader.array(prefix + "intercept_", (n_targets,), dtype=np.float64)
        return {"classes_": classes, "coef_": coef, "intercept_": intercept}


class ExactNTKRidge(FeatureNamesMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression on the exact NTK (:func:`ntkfast.ntk_kernel`): the baseline.

    Solves ``(K + alpha I) a = y - ybar`` with a Cholesky factorisation done in place in the
    ``n x n`` kernel matrix, and predicts ``K(X, X_fit_) a + ybar``.  Time ``O(n^3)`` and
    memory ``O(n^2)``: ``fit`` raises MemoryError, before allocating anything large, when
    the float64 kernel would not fit in the memory available.

    Parameters
    ----------
    depth : int in [1, 1000], default=1
        Number of hidden ReLU layers ``L`` (at most ``ntkfast.MAX_DEPTH``).
    bias : float >= 0, default=0.0
        Bias variance of the NTK.
    alpha : float > 0, default=1.0
        Ridge penalty, added to the kernel's diagonal.
    fit_intercept : bool, default=True
        Centre the targets (the kernel is not centred: the NTK model has no free offset).
    n_threads : int, optional
        OpenMP threads of the kernel computation; default: the current OpenMP limit.
    verbose : bool, default=False
        Show a tqdm progress bar while the kernel matrices are computed.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_samples, n_features), float64
        The training rows, dense even when ``X`` was sparse: the exact kernel reads every
        pair of rows, and its ``n x n`` matrix already costs more than ``n x d`` unless
        ``d > n``; a sparse ``X`` is densified one batch of rows at a time into it (and
        refused with MemoryError, before allocating, when the dense rows would not fit).
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets), float64
    intercept_ : float or ndarray of shape (n_targets,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,), object
        As for :class:`NTKRidge`.

    Raises
    ------
    ValueError
        From ``fit`` and ``predict``, when a kernel value, a dual coefficient or a prediction
        would overflow float64 (finite inputs of extreme scale): standardise ``X`` and ``y``.

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

    _parameter_constraints = {
        "depth": Depth(),
        "bias": NonNegative(),
        "alpha": Alphas(single=True),
        "fit_intercept": Bool(),
        "n_threads": Threads(),
        "verbose": Bool(),
    }

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
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Any real dtype; kept as float64 (``X_fit_``).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (float); 2-D for several regressions at once.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        p = check_params(self)
        names = input_feature_names(X)
        X = check_X(X, accept_sparse=True)
        n = X.shape[0]
        Y, y_ndim = check_targets(y, n)
        # The kernel matrix is the only O(n^2) allocation: the Cholesky factorisation
        # overwrites it in place.  Checked before anything large is read or allocated.
        check_allocation(
            n * n * 8 + n * X.shape[1] * 8 + 2 * Y.size * 8,
            f"X: exact kernel ridge on {n} samples (a {n} x {n} float64 kernel matrix)",
        )
        if scipy.sparse.issparse(X):
            # The model keeps its training rows (X_fit_) as the dense float64 rows the
            # exact kernel reads; they are densified one batch at a time.
            X = dense_rows(X, np.float64)
        else:
            X = check_array(X, "X", dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below, with a hint
            ybar = Y.mean(axis=0) if p["fit_intercept"] else np.zeros(Y.shape[1])
        with progress_bar(p["verbose"], n, "ExactNTKRidge kernel") as bar:
            K = exact_kernel(X, None, "ntk", p["depth"], p["bias"], p["n_threads"], progress=bar.update)
        K.flat[:: n + 1] += p["alpha"]
        with np.errstate(over="ignore", invalid="ignore"):
            R = Y - ybar
        check_finite_result(R, "y: centred targets", 0, _SCALE_HINT)
        with stage(p["verbose"], f"ExactNTKRidge: Cholesky solve of the {n} x {n} kernel"):
            # K is C-contiguous and symmetric: its transpose is the same matrix in Fortran
            # order, which LAPACK factors in place (no n x n copy).
            factor = cho_factor_inplace(K.T)
            A = scipy.linalg.cho_solve(factor, R, check_finite=False)
        del K, factor
        check_finite_result(A, "X, y: dual coefficients", 0, _SCALE_HINT)
        if y_ndim == 1:
            coefs = {"dual_coef_": A[:, 0].copy(), "intercept_": float(ybar[0])}
        else:
            coefs = {"dual_coef_": A, "intercept_": ybar}
        state.publish(self, {"X_fit_": X, "n_features_in_": X.shape[1], "_feature_names_in": names,
                             **coefs})
        return self

    def predict(self, X):
        """Predictions ``K(X, X_fit_) @ dual_coef_ + intercept_``, in blocks of rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Rows to predict, in blocks of rows.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions in float64, 1-D when ``y`` was 1-D at ``fit``.
        """
        check_is_fitted(self, "dual_coef_")
        X_fit, dual, intercept, n_in = state.snapshot(self, ("X_fit_", "dual_coef_", "intercept_", "n_features_in_"))
        check_feature_names(self, X)
        X = check_X(X, n_in, accept_sparse=True)
        n_targets = 1 if dual.ndim == 1 else dual.shape[1]
        check_allocation(
            X.shape[0] * (X.shape[1] + n_targets) * 8,
            f"X: {X.shape[0]} rows (a float64 copy and {n_targets} prediction(s) per row)",
        )
        p = check_params(self)
        n, n_fit = X.shape[0], X_fit.shape[0]
        A = dual.reshape(n_fit, -1)
        out = np.empty((n, A.shape[1]), dtype=np.float64)
        rows = max(1, _KERNEL_BLOCK_ELEMENTS // n_fit)
        with progress_bar(p["verbose"], n, "ExactNTKRidge predict") as bar:
            for i0, i1, Xb in row_batches(X, rows, np.float64):
                Kb = exact_kernel(Xb, X_fit, "ntk", p["depth"], p["bias"], p["n_threads"])
                np.matmul(Kb, A, out=out[i0:i1])
                bar.update(i1 - i0)
        out += intercept
        check_finite_result(out, "X: predictions", 0, _SCALE_HINT)
        return out[:, 0] if dual.ndim == 1 else out

    def __ntkfast_state__(self):
        """The fitted arrays for a model file (:mod:`ntkfast.io`)."""
        return {
            "n_features_in_": np.array(self.n_features_in_, dtype=np.int64),
            "X_fit_": np.ascontiguousarray(self.X_fit_),
            "dual_coef_": np.ascontiguousarray(self.dual_coef_),
            "intercept_": np.asarray(self.intercept_, dtype=np.float64),
            **self._feature_names_state(),
        }

    @classmethod
    def __ntkfast_load__(cls, reader, prefix=""):
        """Rebuild from a model file: ``reader`` is :mod:`ntkfast.io`'s validating reader."""
        model, _ = reader.estimator(prefix + "__params__", cls)
        d = reader.integer(prefix + "n_features_in_", 1)
        X = reader.array(prefix + "X_fit_", (None, d), dtype=np.float64)
        n = X.shape[0]
        if n == 0:
            reader.fail("'X_fit_': expected at least one row")
        ndim = reader.ndim(prefix + "dual_coef_", (1, 2))
        dual = reader.array(prefix + "dual_coef_", (n,) if ndim == 1 else (n, None), dtype=np.float64)
        intercept = reader.array(prefix + "intercept_", () if dual.ndim == 1 else (dual.shape[1],),
                                 dtype=np.float64)
        state.publish(model, {"n_features_in_": d, "X_fit_": X, "dual_coef_": dual,
                              "intercept_": float(intercept) if intercept.ndim == 0 else intercept,
                              "_feature_names_in": cls._load_feature_names(reader, prefix, d)})
        return model
