"""Random features for the arc-cosine kernels and the NTK (SPEC sections 3, 5 and 8), and
Nystroem features of the exact NTK.

Every transformer draws every random quantity in ``fit`` from ``random_state`` and stores it
as a trailing-underscore attribute (:class:`NTKNystroem` also the landmark rows of ``X`` it
draws, and their kernel's normalisation); ``transform`` is deterministic and its output does
not depend on the number of threads or on how the rows are split into batches.

What lives where: this module holds the estimators (their parameters, the random draws of
``fit``, and their fitted state in model files); the compiled snapshot that ``transform``
runs is built by :mod:`ntkfast._engine.feature_maps`, and the batch loop that streams the
rows through it is :mod:`ntkfast._engine.batches`.
"""
import warnings

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ._engine import batches, lazy, state
from ._engine.exact import exact_kernel
from ._engine.feature_maps import ArcCosineMap, NTKMap, NTKSketchMap, NystroemMap, structured_row_norms
from ._engine.polynomials import arccos_polynomials, ntk_polynomial
from ._engine.validation import (
    MAX_DEPTH,
    Bool,
    Depth,
    EvenWidth,
    Int,
    LeverageChoice,
    NonNegative,
    OneOf,
    Optional,
    RandomState,
    STRUCTURED_STAGES,
    SketchWidth,
    StepWidth,
    structured_block_size,
    Threads,
    check_X,
    check_allocation,
    check_feature_names,
    check_params,
    float_dtype,
    input_feature_names,
    resolve_n_threads,
    set_parameters_added_later,
)

__all__ = ["ArcCosineFeatures", "NTKNystroem", "NTKRandomFeatures", "NTKSketch", "default_sketch_components"]

# Fraction of n_components given to the TensorSketch by default (see
# default_sketch_components and the README for the measurements behind it).
_SKETCH_FRACTION = 0.6


def _largest_fast_length(n):
    """Largest 5-smooth integer <= n (FFT sizes with only factors 2, 3, 5 are fastest)."""
    best = 1
    p2 = 1
    while p2 <= n:
        p3 = p2
        while p3 <= n:
            p5 = p3
            while p5 <= n:
                best = max(best, p5)
                p5 *= 5
            p3 *= 3
        p2 *= 2
    return best


def default_sketch_components(n_components):
    """Default TensorSketch width ``ms`` for a total width ``n_components`` (kernel="ntk").

    60% of the features go to the sketch, rounded down to an FFT-friendly length.  In
    ``bench/sketch_split.py`` (README, "Choosing sketch_components") the kernel error is flat
    for sketch fractions 0.4-0.6 at depths 1-3 and grows outside; 0.6 is the cheapest end of
    that range, since the per-layer products cost ``m1^2`` with ``m1 = n_components - ms``.

    Parameters
    ----------
    n_components : int >= 2
        Total width of the NTK features, ``m1 + ms``.

    Returns
    -------
    int
        The sketch width ``ms``, in ``[1, n_components - 1]``.

    Examples
    --------
    >>> default_sketch_components(8192)
    4860
    """
    target = max(1, int(round(_SKETCH_FRACTION * n_components)))
    return min(n_components - 1, _largest_fast_length(target))


def _gaussian_rows(rng, m, d):
    return rng.standard_normal((m, d))


def _leverage_rows(rng, m, d):
    """Rows drawn exactly from q(w) ∝ ||w||^2 N(w; 0, I_d).

    q is radial: w = r u with u uniform on the sphere and r^2 ~ chi2(d + 2) (SPEC 3).
    """
    g = rng.standard_normal((m, d))
    norms = np.sqrt(np.einsum("ij,ij->i", g, g))
    norms[norms == 0] = 1.0  # probability zero; keeps the draw finite regardless
    r = np.sqrt(rng.chisquare(d + 2, size=m))
    return g * (r / norms)[:, None]


def _structured_projection(rng, projection, k, m, dtype):
    """Draw a structured projection of ``k`` inputs onto ``m`` outputs (SPEC section 3;
    ``ntkfast._sketch.StructuredProjection``): ``ceil(m / p)`` blocks of ``p x p``, ``p`` the
    power of 2 >= k, each the product of its stages ``v <- H_p (D * v[perm])``.

    ``"fastfood"``: ``M = H G P H B`` (random signs B, then a Gaussian diagonal G after a
    random permutation P).  Each row of a block is ``sum_i H_ji g_i (P H B)_i``: given B and
    P, a Gaussian vector with covariance ``(P H B)^T (P H B) = p I``, so every row is exactly
    ``N(0, p I_p)`` (restricted to the k inputs, ``N(0, p I_k)``) and each feature is
    unbiased, as with independent Gaussian rows; the rows of a block are dependent.
    ``"sorf"``: ``M = H D3 H D2 H D1`` (random signs; Yu et al. 2016): orthogonal rows of
    equal norm, directions only approximately uniform (a small bias, largest for inputs
    along the coordinate axes).  With k < p a sorf row can vanish on the k inputs (its
    entries are sums of +-1: it happens for small p); a block with such a row among the
    first m is drawn again, so that no feature is decided by rounding.

    Returns ``(diagonals (blocks, stages, p) in dtype, permutations (blocks, stages, p) intp
    or None, norms)``, ``norms[j] = ||M_j[:k]||`` (float64) of the first m rows of the matrix
    of the dtype's diagonals.
    """
    p = structured_block_size(k)
    nb = -(-m // p)

    def block():
        if projection == "fastfood":
            perm = np.stack([np.arange(p), rng.permutation(p)])
            return np.stack([2.0 * rng.integers(0, 2, size=p) - 1, rng.standard_normal(p)]), perm
        return (2.0 * rng.integers(0, 2, size=(STRUCTURED_STAGES[projection], p)) - 1), None

    drawn = [block() for _ in range(nb)]
    norms = []
    for b in range(nb):
        for _ in range(100):
            rows = min(p, m - b * p)
            diag_b = drawn[b][0].astype(dtype)
            perm = None if drawn[b][1] is None else drawn[b][1][None]
            block_norms = structured_row_norms(diag_b[None].astype(np.float64), perm, k, rows)
            if np.all(block_norms > 1e-9 * block_norms.max()):
                break
            drawn[b] = block()
        else:  # pragma: no cover - needs 100 unlucky draws in a row
            raise RuntimeError(f"projection={projection!r}: no block without a vanishing row in 100 draws")
        norms.append(block_norms)
    diag = np.stack([d for d, _ in drawn]).astype(dtype)
    perm = None if projection != "fastfood" else np.stack([q for _, q in drawn])
    return diag, perm, np.concatenate(norms)


def _haar_rotation(rng, k):
    """A (k, k) orthogonal matrix distributed by Haar measure (QR of a Gaussian matrix, the
    signs of R's diagonal moved into Q; Mezzadri 2007)."""
    Q, R = np.linalg.qr(rng.standard_normal((k, k)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def _resolve_arccos_leverage(leverage, order):
    """``leverage`` of ArcCosineFeatures as a bool: ``"auto"`` is on for order 1 only.

    Leverage sampling lowers the variance of the ReLU features; the step ignores ``||w||``,
    so for order 0 the weight ``sqrt(d) / ||w||`` only adds variance (bench/leverage_arccos.py).
    """
    if leverage == "auto":
        return order == 1
    return bool(leverage)


def _feature_scales(W, leverage):
    """Per-feature scale of Phi0/Phi1: sqrt(2/m), or sqrt(2 d / m) / ||w_j|| with leverage."""
    m, d = W.shape
    if not leverage:
        return np.full(m, np.sqrt(2.0 / m))
    return np.sqrt(2.0 * d / m) / np.sqrt(np.einsum("ij,ij->i", W, W))


class FeatureNamesMixin:
    """``feature_names_in_`` of every ntkfast estimator, as scikit-learn defines it: the
    string column names of the data frame given to ``fit``, and no such attribute after a
    fit on data without column names.

    ``fit`` publishes the names with its other fitted attributes, at once (as
    ``_feature_names_in``, None without names), so a failed fit or a refit on a plain array
    never leaves stale names behind; this property shows them under scikit-learn's name.
    Model files store them (``feature_names_in_``, absent from files of data without names
    and from files written before they were kept).
    """

    @property
    def feature_names_in_(self):
        names = self.__dict__.get("_feature_names_in")
        if names is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute 'feature_names_in_' "
                                 f"(it was not fitted on data with string column names)")
        return names

    def _feature_names_state(self):
        names = self.__dict__.get("_feature_names_in")
        return {} if names is None else {"feature_names_in_": np.asarray(names, dtype=np.str_)}

    @staticmethod
    def _load_feature_names(reader, prefix, n_features):
        key = prefix + "feature_names_in_"
        if key not in reader.keys:
            return None
        names = reader.array(key, (n_features,), kinds="U")
        return np.asarray(names.tolist(), dtype=object)

    def __sklearn_tags__(self):
        # Sparse X is densified one batch of rows at a time (ntkfast._engine.batches).
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _restore_or_fail(est, attributes, reader, prefix):
    try:
        return est._restore(attributes)
    except ValueError as exc:  # inconsistent arrays: the file is at fault
        reader.fail(f"{prefix}fitted arrays are inconsistent ({exc})")


class _FeatureTransformer(FeatureNamesMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """``fit`` / ``transform`` shared by the feature transformers.

    scikit-learn's mixins give the output feature names (``get_feature_names_out``:
    ``"<classname><i>"``, as for ``RBFSampler`` or ``PCA``) and, through them, output
    containers (``set_output(transform="pandas")`` and ``sklearn.set_config``).

    A subclass declares ``_parameter_constraints`` and ``_fitted_names`` (its fitted
    attributes besides ``n_features_in_`` and ``dtype_``) and implements
    ``_draw(params, n_features, dtype)`` (the fitted attributes as a dict),
    ``_build_map(attributes)`` (the compiled snapshot, validating the attributes),
    ``_state_arrays()`` (its arrays for a model file) and ``__ntkfast_load__`` (see
    :mod:`ntkfast.io`).
    """

    def fit(self, X, y=None):
        """Draw every random quantity for data with ``X``'s number of features and dtype.

        Only the shape and dtype of ``X`` matter (its values are checked, not used).  All
        parameters are checked before any fitted attribute changes: a fit that raises leaves
        the estimator as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            float32 gives float32 weights and features; any other real dtype (other
            floats, integers, booleans) float64.  A ``dask.array.Array`` is not computed;
            a memmap or a sparse matrix is checked one batch of rows at a time.  A data
            frame's string column names become ``feature_names_in_``.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        params, names, adapter, X, _, n_features, dtype = self._fit_input(X)
        attributes = self._draw(params, n_features, dtype)
        attributes.update(n_features_in_=n_features, dtype_=dtype, _feature_names_in=names)
        return self._restore(attributes)

    def _fit_input(self, X):
        """What every ``fit`` checks first: ``(params, feature names, lazy adapter or None,
        X (checked, in memory), n_samples, n_features, fitted dtype)``.  The parameters, the
        shape and dtype, and every value of an in-memory ``X`` (one batch of rows at a time)
        are checked; a lazy ``X`` is not computed."""
        params = check_params(self)
        names = input_feature_names(X)
        adapter = lazy.adapter_for(X)
        if adapter is not None:
            n, n_features, dtype = adapter.fit_input(X)
        else:
            X = check_X(X, accept_sparse=True)
            batches.check_rows(X)
            n, n_features, dtype = X.shape[0], X.shape[1], float_dtype(X.dtype, "X")
        return params, names, adapter, X, n, n_features, np.dtype(dtype)

    @property
    def _n_features_out(self):
        # Read by scikit-learn's ClassNamePrefixFeaturesOutMixin.get_feature_names_out.
        return self.__ntkfast_feature_map__().n_output

    def _restore(self, attributes):
        """Validate and compile fitted ``attributes`` (a dict of every state name), then
        publish them at once with their compiled map.  Raises ValueError, changing nothing,
        when they are inconsistent."""
        for name in self._fitted_names:
            state.read_only(attributes[name])
        values = tuple(attributes[n] for n in self._state_names())
        attributes = dict(attributes)
        attributes["_feature_map"] = (self._build_map(attributes), state.identities(values))
        state.publish(self, attributes)
        return self

    def _state_names(self):
        return ("n_features_in_", "dtype_") + self._fitted_names

    def __ntkfast_feature_map__(self):
        """The compiled snapshot of the current fitted attributes (engine protocol).

        Built in ``fit``; rebuilt, with every attribute validated again, when an attribute
        has been replaced since (or after unpickling).  Read in one step with the
        attributes, so a concurrent ``fit`` is either wholly seen or not at all.
        """
        check_is_fitted(self, "n_features_in_")
        names = self._state_names()
        *values, cached = state.snapshot(self, names + ("_feature_map",))
        ids = state.identities(values)
        if cached is not None and state.same_objects(cached[1], ids):
            return cached[0]
        try:
            fmap = self._build_map(dict(zip(names, values)))
        except (TypeError, KeyError) as exc:
            raise ValueError(f"{type(self).__name__}: inconsistent fitted attributes ({exc})") from None
        for v in values:  # arrays assigned to the model are the model now: read-only too
            state.read_only(v)
        state.publish_if_unchanged(self, names, values, {"_feature_map": (fmap, ids)})
        return fmap

    def __ntkfast_state__(self):
        """The fitted state for a model file (:mod:`ntkfast.io`): name -> array or str."""
        out = {"n_features_in_": np.array(self.n_features_in_, dtype=np.int64),
               "dtype_": np.dtype(self.dtype_).name}
        out.update(self._state_arrays())
        out.update(self._feature_names_state())
        return out

    def __getstate__(self):
        d = super().__getstate__()
        d.pop("_feature_map", None)  # remade from the fitted arrays at first use
        return d

    def __setstate__(self, d):
        super().__setstate__(d)
        for name in self._fitted_names:  # pickle does not keep the read-only flag
            if name in self.__dict__:
                state.read_only(self.__dict__[name])

    def transform(self, X, out=None, batch_size=None):
        """Random features of ``X``, computed batch by batch.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features_in_)
            Any real array (integers and booleans as float64), including a
            ``numpy.memmap`` or an array opened with ``np.load(..., mmap_mode="r")``: it
            is read one batch of rows at a time.  A scipy sparse matrix (CSC is converted
            to CSR once) is densified one batch of rows at a time; its features are those
            of the dense rows, bit for bit.  A data frame's columns must be those of
            ``fit``, in the same order (scikit-learn's check).  A
            ``dask.array.Array`` (rows in chunks; several chunks of columns are merged)
            gives a lazy dask array with the same row chunks, bit-identical to the
            in-memory transform of the same rows (README section "Scaling out with Dask").
        out : ndarray of shape (n_samples, n_output), optional
            C-contiguous, writeable, of the output dtype (a writeable memmap works); the
            features are written into it and it is returned.  Must not overlap ``X`` (nor
            map the same bytes of the same file).
        batch_size : int, optional
            Rows per batch; the default keeps the working memory near 128 MiB (64 MiB in
            float32).  The result does not depend on it.

        Returns
        -------
        ndarray of shape (n_samples, n_output)
            float32 when both ``X`` and the fit were float32, else float64.  A
            ``dask.array.Array`` when ``X`` is one.  A pandas DataFrame (columns
            ``get_feature_names_out()``) after ``set_output(transform="pandas")``.

        Raises
        ------
        ValueError
            Wrong shape, NaN or infinity in ``X`` (the message names the row), or features
            that overflow their dtype (inf from finite input).
        """
        fmap = self.__ntkfast_feature_map__()
        check_feature_names(self, X)
        n_threads = resolve_n_threads(self.n_threads)
        adapter = lazy.adapter_for(X)
        if adapter is not None:
            return adapter.transform(fmap, X, out, batch_size, n_threads)
        return batches.transform(fmap, X, out=out, batch_size=batch_size, n_threads=n_threads)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class ArcCosineFeatures(_FeatureTransformer):
    """Random features of the arc-cosine kernel of order 0 (step) or 1 (ReLU).

    ``Phi0(x) = sqrt(2/m) step(W x)`` estimates ``kappa0(rho)`` and
    ``Phi1(x) = sqrt(2/m) relu(W x)`` estimates ``||x|| ||y|| kappa1(rho)``
    (:func:`ntkfast.arccos_kernel`), with the rows of ``W`` i.i.d. ``N(0, I_d)``.  With
    leverage sampling the rows are drawn from ``q(w) ∝ ||w||^2 N(w; 0, I_d)`` and each
    feature is reweighted by ``sqrt(d) / ||w_j||``: still unbiased either way.  It lowers
    the variance of the order-1 (ReLU) features, the leverage-score sampling of Han et al.;
    the step ignores ``||w||``, so for order 0 the weight only adds variance.  The default
    ``leverage="auto"`` follows that: on for order 1, off for order 0 (measured in
    ``bench/leverage_arccos.py``; docs: "Choosing n_components ...", section "Leverage
    sampling").

    The transform is one pass over the output: the weights are packed once (in ``fit``),
    then every tile of features is accumulated in registers, activated there and stored
    (the compiled kernels of ``ntkfast/_dense.h``); it runs faster than numpy's own
    ``X @ W.T`` without the activation.

    Parameters
    ----------
    order : {0, 1}, default=0
    n_components : int >= 2, default=1024
        Number of features ``m``.
    leverage : {"auto", True, False}, default="auto"
        Draw the weights by leverage scores and reweight each feature.  ``"auto"``: True
        for ``order=1`` (6-8% lower kernel error over 30 seeds in
        ``bench/leverage_arccos.py``), False for ``order=0`` (leverage makes the step
        features' error 9-27% higher there).  True or False forces either choice for
        either order.  Before ``"auto"`` the default was False for both orders;
        ``leverage=False`` gives those order-1 features bit for bit.
    random_state : None, int or numpy.random.Generator
        Source of every random quantity drawn in ``fit``.
    n_threads : int, optional
        OpenMP threads; default: the current OpenMP limit.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components, n_features_in_), dtype ``dtype_``
        The sampled rows ``w_j``.
    scales_ : ndarray of shape (n_components,), dtype ``dtype_``
        Factor of each feature (``sqrt(2/m)``, or ``sqrt(2 d/m) / ||w_j||`` with leverage).
    leverage_ : bool
        Whether the weights were drawn by leverage scores (``leverage`` with ``"auto"``
        resolved by the order).
    n_features_in_ : int
    dtype_ : numpy.dtype
        float32 if fitted on float32 data, else float64 (the dtype of the weights).
        ``transform`` returns ``result_type(X, dtype_)``.
    feature_names_in_ : ndarray of shape (n_features_in_,), object
        The string column names of a data frame ``X`` (only then defined).  The output
        names are ``get_feature_names_out()``: ``"<classname><i>"``.

    Fitted arrays are read-only (``transform`` runs a validated, compiled copy of them):
    to change a model, assign new arrays, which the next ``transform`` checks again.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> phi = ntkfast.ArcCosineFeatures(order=1, n_components=20000, random_state=0).fit_transform(X)
    >>> K = ntkfast.arccos_kernel(X, order=1)
    >>> bool(np.abs(phi @ phi.T - K).max() < 0.1 * np.abs(K).max())
    True
    """

    _parameter_constraints = {
        "order": OneOf(0, 1),
        "n_components": Int(2),
        "leverage": LeverageChoice(),
        "random_state": RandomState(),
        "n_threads": Threads(),
    }
    _fitted_names = ("weights_", "scales_", "order_")

    def __init__(self, order=0, n_components=1024, leverage="auto", random_state=None, n_threads=None):
        self.order = order
        self.n_components = n_components
        self.leverage = leverage
        self.random_state = random_state
        self.n_threads = n_threads

    def __setstate__(self, d):
        # Pickles from before leverage="auto": their leverage was a bool.
        if "order_" in d:
            d.setdefault("leverage_", _resolve_arccos_leverage(d.get("leverage", False), d["order_"]))
        super().__setstate__(d)

    def _draw(self, params, d, dtype):
        m = params["n_components"]
        leverage = _resolve_arccos_leverage(params["leverage"], params["order"])
        check_allocation(2 * m * d * 8, f"n_components: weights of shape ({m}, {d})")
        rng = params["random_state"]
        W = _leverage_rows(rng, m, d) if leverage else _gaussian_rows(rng, m, d)
        return {"weights_": W.astype(dtype), "scales_": _feature_scales(W, leverage).astype(dtype),
                "order_": params["order"], "leverage_": leverage}

    def _build_map(self, a):
        return ArcCosineMap(a["weights_"], a["scales_"], a["order_"], a["dtype_"])

    def _state_arrays(self):
        return {"weights_": self.weights_, "scales_": self.scales_}

    @classmethod
    def __ntkfast_load__(cls, reader, prefix=""):
        """Rebuild from a model file: ``reader`` is :mod:`ntkfast.io`'s validating reader."""
        est, params = reader.estimator(prefix + "__params__", cls)
        dtype = reader.dtype(prefix + "dtype_")
        d = reader.integer(prefix + "n_features_in_", 1)
        m = params["n_components"]
        W = reader.array(prefix + "weights_", (m, d), dtype=dtype)
        s = reader.array(prefix + "scales_", (m,), dtype=dtype)
        attributes = {"n_features_in_": d, "dtype_": dtype, "weights_": W, "scales_": s,
                      "order_": params["order"],
                      "leverage_": _resolve_arccos_leverage(params["leverage"], params["order"]),
                      "_feature_names_in": cls._load_feature_names(reader, prefix, d)}
        return _restore_or_fail(est, attributes, reader, prefix)


class NTKRandomFeatures(_FeatureTransformer):
    """Random features of the Neural Tangent Kernel of a ReLU network (Han et al., 2021).

    Layer by layer (SPEC section 5): ``phi_h = Phi1(phi_{h-1})`` (ReLU features),
    ``a_h = Phi0(phi_{h-1})`` (step features), and
    ``psi_h = [phi_h, TensorSketch(psi_{h-1}, a_h)]``, so that
    ``<psi_L(x), psi_L(y)>`` estimates :func:`ntkfast.ntk_kernel` and ``<phi_L(x), phi_L(y)>``
    estimates :func:`ntkfast.nngp_kernel` (both with the same ``bias``).  The step features are never
    stored: each one is hashed into the CountSketch as soon as its pre-activation is
    computed.  Cost per row: ``O(d (m1 + m0) + L (m1 (m1 + m0) + ms log ms))``, linear in ``n``
    and ``d``.

    Parameters
    ----------
    depth : int in [1, 1000], default=1
        Number of hidden ReLU layers ``L`` (at most ``ntkfast.MAX_DEPTH``).
    n_components : int >= 2, default=4096
        Output width: ``m1 + ms`` for ``kernel="ntk"``, ``m1`` for ``kernel="nngp"``.
    sketch_components : int, optional
        TensorSketch width ``ms`` (``1 <= ms < n_components``); the ReLU feature count is
        ``m1 = n_components - ms``.  Default: :func:`default_sketch_components`.  Ignored
        for ``kernel="nngp"``.
    step_components : int >= 1, optional
        Number of step features ``m0`` per layer (the authors' ``m0``).  They never appear
        in the output: each layer hashes them into the TensorSketch with ``psi_{h-1}``, so
        ``m0`` changes the cost (``m0 d_h`` per row and layer) and the variance, not the
        output width.  Default None: ``m0 = m1``, the authors' choice and the only one
        before issue 15 (the features of such a fit are unchanged, bit for bit).  Ignored
        for ``kernel="nngp"``.  ``bench/step_width.py`` (docs page "Choosing
        n_components") measures error against time for several ``m0/m1`` at equal output
        width: the default is kept, see there for why.
    sketch : {"countsketch", "srht"}, default="countsketch"
        The sketch of each layer's tensor product ``psi_{h-1} (x) a_h``: the TensorSketch
        (CountSketch hashing, FFT product; SPEC section 4) or TensorSRHT (random signs, the
        FFT of each factor, ``ms / 2`` sampled frequencies; the authors' later default,
        :func:`ntkfast.tensor_srht`), which needs an even ``sketch_components`` (the default
        split is rounded down to even).  Both are unbiased; ``bench/srht_vs_tensorsketch.py``
        (docs page "Choosing n_components") measures them at equal width: neither wins on
        both error and time, so the default stays the TensorSketch (and the features of
        earlier versions).  Ignored for ``kernel="nngp"``.
    projection : {"gaussian", "fastfood", "sorf"}, default="gaussian"
        The random projection of each layer.  ``"gaussian"``: independent Gaussian matrices
        for the ReLU and the step features (the paper's algorithm; a dense product of
        ``m1 + m0`` rows per layer).  The other two compute one structured projection
        ``z = M phi_{h-1}`` per layer, shared by both activations
        (``phi_h = scales * relu(z[:m1])``, ``a_h = sqrt(2 / m0) step(z[:m0])``), in
        ``O(m log p)`` per row instead of ``O(m d_h)``, with ``p`` the power of 2 >= ``d_h``:
        blocks of ``p x p``, each a product of Walsh-Hadamard transforms ``H`` and
        diagonals.  ``"fastfood"``: ``M = H G P H B`` (random signs ``B``, a permutation
        ``P``, a Gaussian diagonal ``G``; Le et al. 2013): every row is exactly Gaussian, so
        the features are unbiased given the previous layer, as with ``"gaussian"``; the rows
        of a block are dependent, which raises the error at a given width.  ``"sorf"``:
        ``M = H D3 H D2 H D1`` (random signs; Yu et al. 2016): orthogonal rows, the lowest
        error at a given width.  Their directions are only nearly uniform; the first layer
        projects a Haar-rotated input (a dense ``d_1 x d_1`` product per row: negligible for
        tens or hundreds of columns, more than the Gaussian layer it replaces once ``d_1``
        exceeds about ``m1 + m0``), which makes its rows'
        directions exactly uniform, so that layer is unbiased for any input; the inner
        layers (inputs: ReLU features) are not proven unbiased; their bias is measured below
        the error of a 300-seed mean in tests/test_structured.py and bench/projection_pareto.py.
        Sharing one projection keeps each layer's estimate unbiased given the previous one
        (for gaussian and fastfood); its variance is measured there too.  With either
        structured projection and ``sketch="countsketch"`` the TensorSketch columns are
        kept in the orthonormal real Fourier basis (the rfft of the sketch, scaled): the
        same inner products by Parseval, so the same kernel estimate, without the inverse
        FFT.
    leverage : bool, default=True
        Draw the ReLU weights by leverage scores (lower variance, SPEC section 3).  It
        applies to the ReLU weights only: the step weights are always Gaussian, since the
        step ignores ``||w||`` and the leverage weight would only add variance there
        (measured for the arc-cosine features, :class:`ArcCosineFeatures`).  With a
        structured projection it scales each ReLU feature by ``sqrt(2 d_h / m1) / ||w_j||``
        (``w_j`` the row of ``M`` restricted to the ``d_h`` inputs), which depends on the
        direction of ``w_j`` only: the leverage estimator for rows of uniform direction.
    kernel : {"ntk", "nngp"}, default="ntk"
        Kernel the features estimate: the NTK ``Theta_L`` or the NNGP ``Sigma_L``.
    random_state : None, int or numpy.random.Generator
        Source of every random quantity drawn in ``fit``.
    n_threads : int, optional
        OpenMP (and FFT) threads; default: the current OpenMP limit.
    bias : float >= 0, default=0.0
        Bias variance ``b`` of the network, as in ``ntk_kernel(X, bias=b)`` and
        ``nngp_kernel(X, bias=b)`` (``b`` added to every ``Sigma_h``, SPEC section 2).  With
        ``b > 0`` a constant feature ``sqrt(b)`` follows the input and the ReLU features of
        every layer (``phi_h = [Phi1(phi_{h-1}), sqrt(b)]``); the output width stays
        ``n_components``, so that column is taken from the ReLU features:
        ``m1 = n_components - ms - 1`` (``n_components - 1`` for NNGP), and
        ``sketch_components`` is at most ``n_components - 2``.  ``b = 0`` adds no column:
        the features are those of a model without the parameter, bit for bit.

    Attributes
    ----------
    n_features_in_ : int
    dtype_ : numpy.dtype
        float32 if fitted on float32 data, else float64 (the dtype of the weights).
        ``transform`` returns ``result_type(X, dtype_)``.
    feature_names_in_ : ndarray of shape (n_features_in_,), object
        The string column names of a data frame ``X`` (only then defined).  The output
        names are ``get_feature_names_out()``: ``"<classname><i>"``.
    bias_ : float
        The bias variance ``b`` of the fit.
    n_relu_ : int
        ``m1``.
    n_step_ : int
        ``m0``, the number of step features per layer (``step_components``, or ``m1``;
        0 for ``kernel="nngp"``).
    n_sketch_ : int
        ``ms`` (0 for ``kernel="nngp"``).
    relu_weights_, step_weights_ : lists of ``depth`` arrays
        Sampled rows of each layer, shapes ``(m1, d_h)`` and ``(m0, d_h)`` with
        ``d_1 = n_features_in_`` and ``d_h = m1`` after (one more, the bias column, with
        ``bias > 0``).  ``step_weights_`` is empty for NNGP; both are empty with a
        structured ``projection``.
    projection_ : str
        The projection of the fit: ``"gaussian"``, ``"fastfood"`` or ``"sorf"``.
    projection_diagonals_ : list of ``depth`` arrays
        With a structured projection: the diagonals of layer h, shape
        ``(ceil(max(m1, m0) / p), stages, p)`` (2 stages for ``"fastfood"``, signs then
        Gaussian values; 3 stages of signs for ``"sorf"``).  Empty for ``"gaussian"``.
    projection_permutations_ : list of ``depth`` arrays
        ``"fastfood"`` only: the index map of each stage (the identity, then a random
        permutation), same shape, intp.  Empty otherwise.
    projection_rotations_ : list of one array, or empty
        ``"sorf"`` only: the Haar rotation of the first layer's input, shape
        ``(d_1, d_1)`` (``d_1`` counts the bias column).  Empty otherwise.
    relu_scales_ : list of ``depth`` arrays of shape (m1,)
        ``sqrt(2/m1)``, or ``sqrt(2 d_h/m1) / ||w_j||`` with leverage.  The step features
        all have the factor ``sqrt(2/m0)``.  With a structured projection and no leverage:
        fastfood ``sqrt(2/m1) / sqrt(p)`` (its rows made unit-variance), sorf
        ``sqrt(2/m1) s_j / ||w_j||`` with ``s_j`` drawn from ``chi(d_h)``.
    sketch_ : str
        The sketch of the fit, ``"countsketch"`` or ``"srht"``.
    sketch_indices_, sketch_signs_ : lists of ``depth`` arrays
        CountSketch of ``psi_{h-1}`` into ``ms`` buckets (length ``n_features_in_`` for the
        first layer, ``m1 + ms`` after; one more with ``bias > 0``).  With ``sketch="srht"``:
        the ``ms / 2`` sampled frequencies of the DFT of ``psi_{h-1}`` (in ``[0, d_psi)``) and
        one sign per column of ``psi_{h-1}``.  Empty for NNGP.
    step_indices_, step_signs_ : lists of ``depth`` arrays
        CountSketch of the step features ``a_h`` (length m0).  With ``sketch="srht"``: ``ms / 2``
        frequencies in ``[0, m0)`` and ``m0`` signs.  Empty for NNGP.

    Fitted arrays are read-only (``transform`` runs a validated, compiled copy of them):
    to change a model, assign new arrays, which the next ``transform`` checks again.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.random.default_rng(0).standard_normal((100, 8))
    >>> rf = ntkfast.NTKRandomFeatures(depth=2, n_components=8192, random_state=0)
    >>> Phi = rf.fit_transform(X)
    >>> Phi.shape
    (100, 8192)
    >>> K = ntkfast.ntk_kernel(X, depth=2)
    >>> bool(np.linalg.norm(Phi @ Phi.T - K) < 0.1 * np.linalg.norm(K))
    True
    """

    # kernel before sketch_components: the sketch width is ignored for the NNGP.
    _parameter_constraints = {
        "depth": Depth(),
        "n_components": Int(2),
        "kernel": OneOf("ntk", "nngp"),
        "bias": NonNegative(),
        "sketch": OneOf("countsketch", "srht"),
        "projection": OneOf("gaussian", "fastfood", "sorf"),
        "sketch_components": SketchWidth(),
        "step_components": StepWidth(),
        "leverage": Bool(),
        "random_state": RandomState(),
        "n_threads": Threads(),
    }
    _fitted_names = ("n_relu_", "n_step_", "n_sketch_", "bias_", "sketch_", "projection_", "relu_weights_",
                     "relu_scales_", "step_weights_", "sketch_indices_", "sketch_signs_", "step_indices_",
                     "step_signs_", "projection_diagonals_", "projection_permutations_",
                     "projection_rotations_")

    def __init__(self, depth=1, n_components=4096, sketch_components=None, leverage=True,
                 kernel="ntk", random_state=None, n_threads=None, bias=0.0, step_components=None,
                 sketch="countsketch", projection="gaussian"):
        self.depth = depth
        self.sketch = sketch
        self.projection = projection
        self.n_components = n_components
        self.sketch_components = sketch_components
        self.step_components = step_components
        self.leverage = leverage
        self.kernel = kernel
        self.random_state = random_state
        self.n_threads = n_threads
        self.bias = bias

    def __setstate__(self, d):
        # Pickles of models from before the bias, step_components and sketch parameters: no
        # bias, as many step features as ReLU features, the CountSketch TensorSketch.
        set_parameters_added_later(type(self), d)
        if "n_relu_" in d:
            d.setdefault("bias_", 0.0)
            d.setdefault("sketch_", "countsketch")
            d.setdefault("projection_", "gaussian")
            d.setdefault("projection_diagonals_", [])
            d.setdefault("projection_permutations_", [])
            d.setdefault("projection_rotations_", [])
            d.setdefault("n_step_", d["n_relu_"] if d.get("n_sketch_") else 0)
        super().__setstate__(d)

    @staticmethod
    def _widths(params):
        """``(m1, m0, ms)`` from checked parameters (the bias column, if any, taken from
        m1; ``m0 = ms = 0`` for the NNGP)."""
        nc = params["n_components"]
        e = 1 if params.get("bias", 0.0) > 0 else 0
        if params["kernel"] == "nngp":
            return nc - e, 0, 0
        ms = params["sketch_components"]
        if ms is None:
            ms = default_sketch_components(nc)
            if e:
                ms = min(ms, nc - 2)
            if params.get("sketch") == "srht":
                ms -= ms % 2  # real and imaginary parts: an even width (>= 2, checked)
        m1 = nc - e - ms
        m0 = params.get("step_components")
        return m1, (m1 if m0 is None else m0), ms

    def _draw(self, params, d, dtype):
        depth, leverage = params["depth"], params["leverage"]
        m1, m0, ms = self._widths(params)
        ntk = ms > 0
        e = 1 if params["bias"] > 0 else 0
        projection = params["projection"]
        structured = projection != "gaussian"
        n_weights = (d + e + (depth - 1) * (m1 + e)) * (m1 + m0)
        if structured:  # diagonals (and permutations) of 2-3 stages per block; sorf's rotation
            n_weights = depth * 8 * (max(d + e, m1 + e) + max(m1, m0))
            if projection == "sorf":
                n_weights += (d + e) ** 2
        # The message names the parameters that set the widths: step_components only when given.
        what = (f"n_components: {depth} layer(s) of {m1} features on {d} inputs"
                if params.get("step_components") is None or not ntk else
                f"n_components, step_components: {depth} layer(s) of {m1} ReLU and {m0} step "
                f"features on {d} inputs")
        check_allocation(2 * 8 * n_weights, what)
        rng = params["random_state"]
        a = {name: [] for name in self._LAYER_LISTS}
        a["n_relu_"], a["n_step_"], a["n_sketch_"], a["bias_"] = m1, m0, ms, params["bias"]
        srht = params["sketch"] == "srht"
        a["sketch_"] = params["sketch"]
        a["projection_"] = projection
        d_in, d_psi = d + e, d + e
        # The draws come in this order (step, relu, hashes) layer after layer; with m0 = m1
        # they are those of every earlier version, so old seeds give the same features.
        for h in range(depth):
            if projection == "sorf" and h == 0:
                # A Haar rotation of the first layer's input: the rows of M Q then have
                # uniformly distributed directions whatever M, so the first layer is unbiased
                # even for inputs along the coordinate axes (d_1^2 per row; the inner layers'
                # inputs are ReLU features, measured in bench/projection_pareto.py).
                a["projection_rotations_"].append(_haar_rotation(rng, d_in).astype(dtype))
            if structured:
                # One projection per layer, shared: z = M phi_{h-1}; phi_h = scales * relu(z[:m1])
                # and a_h = sqrt(2 / m0) step(z[:m0]).  The scales make each ReLU feature that of
                # a N(0, I) row (divided by sqrt(p) per ±1/Gaussian stage past the first), or
                # with leverage sqrt(2 d_h / m1) / ||M_j[:d_h]||: relu(w.x) / ||w|| depends on the
                # direction of w only, uniform for Gaussian rows (the leverage estimator, SPEC 3).
                diag, perm, norms = _structured_projection(rng, projection, d_in, max(m1, m0 if ntk else 0),
                                                           dtype)
                norms = norms[:m1]
                a["projection_diagonals_"].append(diag)
                if perm is not None:
                    a["projection_permutations_"].append(perm)
                p = diag.shape[2]
                if leverage:
                    scales = np.sqrt(2.0 * d_in / m1) / norms
                elif projection == "sorf":
                    # Rows of nearly uniform direction given chi(d_h)-distributed lengths, as
                    # those of N(0, I) rows (the S of Yu et al.'s ORF).
                    scales = np.sqrt(2.0 / m1) * np.sqrt(rng.chisquare(d_in, size=m1)) / norms
                else:  # fastfood rows are N(0, p I): made unit-variance
                    scales = np.full(m1, np.sqrt(2.0 / m1) / np.sqrt(float(p)) ** (diag.shape[1] - 1))
                a["relu_scales_"].append(scales.astype(dtype))
            else:
                if ntk:
                    a["step_weights_"].append(_gaussian_rows(rng, m0, d_in).astype(dtype))
                W = _leverage_rows(rng, m1, d_in) if leverage else _gaussian_rows(rng, m1, d_in)
                a["relu_weights_"].append(W.astype(dtype))
                a["relu_scales_"].append(_feature_scales(W, leverage).astype(dtype))
            if ntk and srht:  # signs of each factor's columns, ms / 2 frequencies of each DFT
                a["sketch_signs_"].append((2 * rng.integers(0, 2, size=d_psi) - 1).astype(np.int8))
                a["sketch_indices_"].append(rng.integers(0, d_psi, size=ms // 2).astype(np.intp))
                a["step_signs_"].append((2 * rng.integers(0, 2, size=m0) - 1).astype(np.int8))
                a["step_indices_"].append(rng.integers(0, m0, size=ms // 2).astype(np.intp))
            elif ntk:
                a["sketch_indices_"].append(rng.integers(0, ms, size=d_psi).astype(np.intp))
                a["sketch_signs_"].append((2 * rng.integers(0, 2, size=d_psi) - 1).astype(np.int8))
                a["step_indices_"].append(rng.integers(0, ms, size=m0).astype(np.intp))
                a["step_signs_"].append((2 * rng.integers(0, 2, size=m0) - 1).astype(np.int8))
            d_in, d_psi = m1 + e, m1 + e + ms
        return a

    def _build_map(self, a):
        return NTKMap(a["n_features_in_"], a["n_relu_"], a["n_sketch_"], a["dtype_"],
                      a["relu_weights_"], a["relu_scales_"], a["step_weights_"],
                      a["sketch_indices_"], a["sketch_signs_"], a["step_indices_"], a["step_signs_"],
                      a["bias_"], n_step=a["n_step_"], sketch=a["sketch_"], projection=a["projection_"],
                      projection_diagonals=a["projection_diagonals_"],
                      projection_permutations=a["projection_permutations_"],
                      projection_rotations=a["projection_rotations_"])

    _LAYER_LISTS = ("relu_weights_", "relu_scales_", "step_weights_",
                    "sketch_indices_", "sketch_signs_", "step_indices_", "step_signs_",
                    "projection_diagonals_", "projection_permutations_", "projection_rotations_")

    def _state_arrays(self):
        # Per-layer lists numbered relu_weights_.0, relu_weights_.1, ...
        out = {"n_relu_": np.array(self.n_relu_, dtype=np.int64),
               "n_step_": np.array(self.n_step_, dtype=np.int64),
               "n_sketch_": np.array(self.n_sketch_, dtype=np.int64)}
        for name in self._LAYER_LISTS:
            for h, arr in enumerate(getattr(self, name)):
                out[f"{name}.{h}"] = arr
        return out

    @classmethod
    def __ntkfast_load__(cls, reader, prefix=""):
        """Rebuild from a model file: ``reader`` is :mod:`ntkfast.io`'s validating reader."""
        est, params = reader.estimator(prefix + "__params__", cls)
        m1, m0, ms = cls._widths(params)
        depth = params["depth"]
        d = reader.integer(prefix + "n_features_in_", 1)
        n_relu = reader.integer(prefix + "n_relu_", 1)
        n_sketch = reader.integer(prefix + "n_sketch_", 0)
        if (n_relu, n_sketch) != (m1, ms):
            reader.fail(f"{prefix}n_relu_/n_sketch_: expected {m1}/{ms} (from the parameters), "
                        f"got {n_relu}/{n_sketch}")
        # n_step_ is absent from files written before step_components (then m0 = m1).
        if prefix + "n_step_" in reader.keys:
            n_step = reader.integer(prefix + "n_step_", 0)
            if n_step != m0:
                reader.fail(f"{prefix}n_step_: expected {m0} (from the parameters), got {n_step}")
        dtype = reader.dtype(prefix + "dtype_")
        a = {name: [] for name in cls._LAYER_LISTS}
        e = 1 if params["bias"] > 0 else 0
        d_in, d_psi = d + e, d + e
        projection = params["projection"]
        if projection == "sorf":
            a["projection_rotations_"].append(
                reader.array(prefix + "projection_rotations_.0", (d + e, d + e), dtype=dtype))
        for h in range(depth):
            k = f".{h}"
            if projection == "gaussian":
                a["relu_weights_"].append(reader.array(prefix + "relu_weights_" + k, (m1, d_in), dtype=dtype))
            else:
                p = structured_block_size(d_in)
                shape = (-(-max(m1, m0 if ms else 0) // p), STRUCTURED_STAGES[projection], p)
                a["projection_diagonals_"].append(
                    reader.array(prefix + "projection_diagonals_" + k, shape, dtype=dtype))
                if projection == "fastfood":
                    perm = reader.array(prefix + "projection_permutations_" + k, shape, kinds="iu")
                    a["projection_permutations_"].append(perm.astype(np.intp, copy=False))
            a["relu_scales_"].append(reader.array(prefix + "relu_scales_" + k, (m1,), dtype=dtype))
            if ms:
                if projection == "gaussian":
                    a["step_weights_"].append(reader.array(prefix + "step_weights_" + k, (m0, d_in),
                                                           dtype=dtype))
                for name, length in (("sketch", d_psi), ("step", m0)):
                    n_idx = ms // 2 if params["sketch"] == "srht" else length
                    idx = reader.array(f"{prefix}{name}_indices_{k}", (n_idx,), kinds="iu")
                    sg = reader.array(f"{prefix}{name}_signs_{k}", (length,), kinds="i", dtype=np.int8)
                    a[f"{name}_indices_"].append(idx.astype(np.intp, copy=False))
                    a[f"{name}_signs_"].append(sg)
            d_in, d_psi = m1 + e, m1 + e + ms
        a.update(n_features_in_=d, dtype_=dtype, n_relu_=m1, n_step_=m0, n_sketch_=ms, bias_=params["bias"],
                 sketch_=params["sketch"], projection_=projection,
                 _feature_names_in=cls._load_feature_names(reader, prefix, d))
        return _restore_or_fail(est, a, reader, prefix)


def _signs(rng, shape):
    return (2 * rng.integers(0, 2, size=shape) - 1).astype(np.int8)


class NTKSketch(_FeatureTransformer):
    """NTK Sketch: features of the NTK from polynomial approximations of the arc-cosine
    functions and PolySketch (Zandieh et al., 2021; SPEC section 8).

    Without bias the NTK is homogeneous, ``Theta_L(x, y) = ||x|| ||y|| Theta_L(u, v)`` with
    ``u, v`` the unit rows, and on unit rows every layer applies ``kappa1`` and ``kappa0``
    to a cosine.  NTK Sketch replaces them by polynomials of degree ``q`` with non-negative
    coefficients, ``P1 ~ kappa1`` and ``P0 ~ kappa0`` (non-negative least squares on a grid
    of ``[-1, 1]``, in ``fit``), which are dot-product kernels with sketchable features:
    ``sum_j sqrt(c_j) Q^j(u)``, ``Q^j`` the PolySketch of the j-th tensor power (a binary
    tree of degree-2 TensorSRHTs, :func:`ntkfast.tensor_srht`).  Layer by layer, with
    ``phi_0 = psi_0 = u``:

    * ``phi_h = CS_1([sqrt(c_j) Q^j(phi_{h-1})]_j)`` and ``a_h = CS_0([sqrt(b_j) Q^j(phi_{h-1})]_j)``
      (two CountSketches of the same PolySketch features, to ``m1`` buckets each);
    * ``psi_h = [phi_h, TensorSRHT(psi_{h-1}, a_h)]``;

    and the features of ``x`` are ``||x|| psi_L(u)``: the recursion of
    :class:`NTKRandomFeatures` with the random arc-cosine features replaced by sketches of
    polynomial kernels.  There is no Monte-Carlo error of arc-cosine features; the error is
    that of the polynomials (``degree``) and of the sketch widths.  At depth 1 the features
    are unbiased for the NTK of the polynomials (``P1(rho) + rho P0(rho)`` on unit rows); at
    larger depth the polynomials of the next layer apply to sketched inner products, which
    adds a bias of the order of the sketch variance.  The network has no bias (the
    homogeneity above needs it).  Cost per row and layer: ``O(q log q)`` FFTs of width
    ``s`` plus ``O(q s + (m1 + ms) log(m1 + ms))``, linear in ``n`` and ``d`` (no matrix
    product at all).

    ``method="direct"`` is what the authors' code (``ntk_sketch.py``) does instead: on unit
    rows the whole NTK is a function of the cosine, ``Theta_L(u, v) = f_L(<u, v>)``, so one
    polynomial ``P ~ f_L`` (non-negative least squares again) and one PolySketch give the
    features ``||x|| CS([sqrt(a_j) Q^j(u)]_j)`` of width ``n_components``, unbiased for the
    kernel of ``P`` at every depth, at the cost of one layer.  Its error does not grow with
    the depth (README section "NTK Sketch"); it is not SPEC section 8's layered algorithm,
    which stays the default.

    Parameters
    ----------
    depth : int in [1, 1000], default=1
        Number of hidden ReLU layers ``L`` (at most ``ntkfast.MAX_DEPTH``).
    n_components : int >= 3, default=4096
        Output width ``m1 + ms`` (``m1`` for ``method="direct"``).
    method : {"layers", "direct"}, default="layers"
        The layered recursion of SPEC section 8, or one polynomial of the whole NTK (see
        above).
    degree : int in [2, 64], optional
        Degree ``q`` of the polynomials; default 4 for ``method="layers"``, 8 for
        ``method="direct"``.  Both are measured in ``bench/ntk_sketch.py`` (README section
        "NTK Sketch").  Layers: a higher degree makes the polynomials closer (the largest
        error of ``P0`` on ``[-1, 1]`` is 0.070, 0.040, 0.026 at degrees 4, 8, 16) but its
        high tensor powers are sketched with a larger variance, and the cost grows like
        ``q log q``; at 2048 features, depths 1, 3 and 5, Gaussian and protein rows, degree 4
        had the smallest kernel error or one within a standard deviation of it, degrees 6
        and 8 were worse at depths 3 and 5, and slower.  Direct: the one polynomial must
        follow ``f_L``, steeper near 1 as the depth grows; degree 4 leaves 5-12% of
        polynomial error at depth 5, degree 8 1-6%.
    sketch_components : even int, optional
        Width ``ms`` of the TensorSRHT of ``psi_{h-1}`` and ``a_h`` (``2 <= ms <
        n_components``); ``m1 = n_components - ms``.  Default: half of ``n_components``,
        rounded down to an even number.  Ignored for ``method="direct"`` (``ms = 0``).
    poly_components : even int >= 2, optional
        Width ``s`` of every node of the PolySketch trees.  Default: ``m1`` rounded up to
        an even number (half of ``n_components``, rounded down to even, for
        ``method="direct"``).
    random_state : None, int or numpy.random.Generator
        Source of every random quantity drawn in ``fit``.
    n_threads : int, optional
        OpenMP (and FFT) threads; default: the current OpenMP limit.

    Attributes
    ----------
    n_features_in_ : int
    dtype_ : numpy.dtype
        float32 if fitted on float32 data, else float64.  ``transform`` returns
        ``result_type(X, dtype_)``.
    feature_names_in_ : ndarray of shape (n_features_in_,), object
        The string column names of a data frame ``X`` (only then defined).
    n_relu_, n_sketch_, n_poly_ : int
        ``m1``, ``ms`` and ``s`` (``ms = 0``: the direct map).
    relu_coefs_, step_coefs_ : ndarray of shape (degree + 1,), float64
        Coefficients of ``P1 ~ kappa1`` and ``P0 ~ kappa0``, lowest degree first, all
        ``>= 0``.  For ``method="direct"``: ``relu_coefs_`` is the polynomial of the whole
        NTK and ``step_coefs_`` is empty.
    leaf_signs_, leaf_freqs_ : lists of ``depth`` arrays
        The TensorSRHTs of the first level of each layer's tree (``p / 2`` nodes,
        ``p = 2**ceil(log2 q)``): signs of shape ``(p / 2, 2, k_h)`` (left and right factor,
        ``k_1 = n_features_in_``, ``k_h = m1`` after) and frequencies in ``[0, k_h)`` of
        shape ``(p / 2, 2, s / 2)``.
    node_signs_, node_freqs_ : lists of ``depth`` arrays
        The same for the upper levels (``p / 2 - 1`` nodes, level 2 first): shapes
        ``(p / 2 - 1, 2, s)`` and ``(p / 2 - 1, 2, s / 2)``, frequencies in ``[0, s)``.
    relu_hash_, relu_signs_, step_hash_, step_signs_ : lists of ``depth`` arrays
        The CountSketches of ``[1, Q^1, ..., Q^q]`` (length ``1 + q s``) to the ``m1``
        features ``phi_h`` and ``a_h``.
    sketch_signs_, sketch_freqs_ : lists of ``depth`` arrays
        TensorSRHT factor of ``psi_{h-1}``: signs of length ``n_features_in_`` (first
        layer) or ``m1 + ms``, ``ms / 2`` frequencies.
    step_sketch_signs_, step_sketch_freqs_ : lists of ``depth`` arrays
        TensorSRHT factor of ``a_h``: ``m1`` signs, ``ms / 2`` frequencies in ``[0, m1)``.

    With ``method="direct"`` the lists of the tree and of ``relu_hash_``, ``relu_signs_``
    hold one entry and those of the tangent term (``step_*``, ``sketch_*``) none.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.random.default_rng(0).standard_normal((100, 8))
    >>> sk = ntkfast.NTKSketch(depth=2, n_components=4096, random_state=0)
    >>> Phi = sk.fit_transform(X)
    >>> Phi.shape
    (100, 4096)
    >>> K = ntkfast.ntk_kernel(X, depth=2)
    >>> bool(np.linalg.norm(Phi @ Phi.T - K) < 0.1 * np.linalg.norm(K))
    True
    """

    _parameter_constraints = {
        "depth": Depth(),
        "n_components": Int(3),
        "method": OneOf("layers", "direct"),
        "degree": Optional(Int(2, 64)),
        "sketch_components": EvenWidth(lambda checked: checked["n_components"] - 1),
        "poly_components": EvenWidth(),
        "random_state": RandomState(),
        "n_threads": Threads(),
    }
    _LAYER_LISTS = ("leaf_signs_", "leaf_freqs_", "node_signs_", "node_freqs_", "relu_hash_",
                    "relu_signs_", "step_hash_", "step_signs_", "sketch_signs_", "sketch_freqs_",
                    "step_sketch_signs_", "step_sketch_freqs_")
    _fitted_names = ("n_relu_", "n_sketch_", "n_poly_", "relu_coefs_", "step_coefs_") + _LAYER_LISTS

    def __init__(self, depth=1, n_components=4096, degree=None, sketch_components=None,
                 poly_components=None, random_state=None, n_threads=None, method="layers"):
        self.depth = depth
        self.n_components = n_components
        self.method = method
        self.degree = degree
        self.sketch_components = sketch_components
        self.poly_components = poly_components
        self.random_state = random_state
        self.n_threads = n_threads

    @staticmethod
    def _degree(params):
        q = params["degree"]
        return q if q is not None else (8 if params["method"] == "direct" else 4)

    @staticmethod
    def _widths(params):
        """``(m1, ms, s)`` from checked parameters."""
        nc = params["n_components"]
        if params["method"] == "direct":
            s = params["poly_components"]
            return nc, 0, s if s is not None else max(2, (nc // 2) - (nc // 2) % 2)
        ms = params["sketch_components"]
        if ms is None:
            ms = max(2, (nc // 2) - (nc // 2) % 2)
        m1 = nc - ms
        s = params["poly_components"]
        if s is None:
            s = m1 + m1 % 2
        return m1, ms, s

    @staticmethod
    def _shapes(d, depth, q, m1, ms, s):
        """Per layer: {name: (shape, kind)} of every per-layer array (``ms = 0``, the direct
        map: one layer, only its tree and CountSketch)."""
        p = 1 << (q - 1).bit_length()
        k, k_psi, out = d, d, []
        z = 1 + q * s
        if ms == 0:
            return [{"leaf_signs_": ((p // 2, 2, d), "s"), "leaf_freqs_": ((p // 2, 2, s // 2), d),
                     "node_signs_": ((p // 2 - 1, 2, s), "s"), "node_freqs_": ((p // 2 - 1, 2, s // 2), s),
                     "relu_hash_": ((z,), m1), "relu_signs_": ((z,), "s")}]
        for _ in range(depth):
            out.append({"leaf_signs_": ((p // 2, 2, k), "s"), "leaf_freqs_": ((p // 2, 2, s // 2), k),
                        "node_signs_": ((p // 2 - 1, 2, s), "s"), "node_freqs_": ((p // 2 - 1, 2, s // 2), s),
                        "relu_hash_": ((z,), m1), "relu_signs_": ((z,), "s"),
                        "step_hash_": ((z,), m1), "step_signs_": ((z,), "s"),
                        "sketch_signs_": ((k_psi,), "s"), "sketch_freqs_": ((ms // 2,), k_psi),
                        "step_sketch_signs_": ((m1,), "s"), "step_sketch_freqs_": ((ms // 2,), m1)})
            k, k_psi = m1, m1 + ms
        return out

    def _draw(self, params, d, dtype):
        depth, q = params["depth"], self._degree(params)
        m1, ms, s = self._widths(params)
        shapes = self._shapes(d, depth, q, m1, ms, s)
        n_elements = sum(int(np.prod(shape)) for layer in shapes for shape, _ in layer.values())
        check_allocation(9 * n_elements, f"n_components, degree: {depth} layer(s) of PolySketch "
                                         f"trees of degree {q} and width {s}")
        rng = params["random_state"]
        a = {name: [] for name in self._LAYER_LISTS}
        for layer in shapes:
            for name in self._LAYER_LISTS:  # drawn in this order, layer after layer
                if name not in layer:
                    continue
                shape, kind = layer[name]
                a[name].append(_signs(rng, shape) if kind == "s"
                               else rng.integers(0, kind, size=shape).astype(np.intp))
        if ms == 0:
            c, b = ntk_polynomial(depth, q), np.zeros(0)
        else:
            c, b = arccos_polynomials(q)
        a.update(n_relu_=m1, n_sketch_=ms, n_poly_=s, relu_coefs_=c.copy(), step_coefs_=b.copy())
        return a

    def _build_map(self, a):
        return NTKSketchMap(a["n_features_in_"], a["n_relu_"], a["n_sketch_"], a["n_poly_"], a["dtype_"],
                            a["relu_coefs_"], a["step_coefs_"],
                            *(a[name] for name in ("leaf_signs_", "leaf_freqs_", "node_signs_", "node_freqs_",
                                                   "relu_hash_", "relu_signs_", "step_hash_", "step_signs_",
                                                   "sketch_signs_", "sketch_freqs_", "step_sketch_signs_",
                                                   "step_sketch_freqs_")))

    def _state_arrays(self):
        out = {"n_relu_": np.array(self.n_relu_, dtype=np.int64),
               "n_sketch_": np.array(self.n_sketch_, dtype=np.int64),
               "n_poly_": np.array(self.n_poly_, dtype=np.int64),
               "relu_coefs_": self.relu_coefs_, "step_coefs_": self.step_coefs_}
        for name in self._LAYER_LISTS:
            for h, arr in enumerate(getattr(self, name)):
                out[f"{name}.{h}"] = arr
        return out

    @classmethod
    def __ntkfast_load__(cls, reader, prefix=""):
        """Rebuild from a model file: ``reader`` is :mod:`ntkfast.io`'s validating reader."""
        est, params = reader.estimator(prefix + "__params__", cls)
        m1, ms, s = cls._widths(params)
        depth, q = params["depth"], cls._degree(params)
        d = reader.integer(prefix + "n_features_in_", 1)
        got = tuple(reader.integer(prefix + n, 0) for n in ("n_relu_", "n_sketch_", "n_poly_"))
        if got != (m1, ms, s):
            reader.fail(f"{prefix}n_relu_/n_sketch_/n_poly_: expected {m1}/{ms}/{s} (from the "
                        f"parameters), got {got[0]}/{got[1]}/{got[2]}")
        dtype = reader.dtype(prefix + "dtype_")
        a = {name: [] for name in cls._LAYER_LISTS}
        for h, layer in enumerate(cls._shapes(d, depth, q, m1, ms, s)):
            for name in cls._LAYER_LISTS:
                if name not in layer:
                    continue
                shape, kind = layer[name]
                if kind == "s":
                    arr = reader.array(f"{prefix}{name}.{h}", shape, kinds="i", dtype=np.int8)
                else:
                    arr = reader.array(f"{prefix}{name}.{h}", shape, kinds="iu").astype(np.intp, copy=False)
                a[name].append(arr)
        a["relu_coefs_"] = reader.array(prefix + "relu_coefs_", (q + 1,), dtype=np.float64)
        a["step_coefs_"] = reader.array(prefix + "step_coefs_", (q + 1 if ms else 0,), dtype=np.float64)
        a.update(n_features_in_=d, dtype_=dtype, n_relu_=m1, n_sketch_=ms, n_poly_=s,
                 _feature_names_in=cls._load_feature_names(reader, prefix, d))
        return _restore_or_fail(est, a, reader, prefix)


class NTKNystroem(_FeatureTransformer):
    """Nystroem features of the exact NTK (or NNGP) kernel, from landmark rows of the data.

    ``fit`` draws ``m`` landmark rows ``C`` of ``X`` uniformly without replacement and
    computes the exact kernel ``K_CC`` (``m x m``, float64) and its eigendecomposition
    ``K_CC = sum_j s_j u_j u_j^T``; ``transform`` returns ``Phi(X) = K(X, C) N`` with
    ``N = [u_j / sqrt(s_j)]_j``, so that

        ``Phi(X) Phi(Y)^T = K(X, C) K_CC^+ K(C, Y)``,

    the Nystroem approximation of the kernel (Williams and Seeger, 2001), exact between
    landmarks (to rounding, for the kept eigenvalues).  Unlike the random
    features (:class:`NTKRandomFeatures`, :class:`NTKSketch`), whose weights do not depend on
    the data, the features depend on the data set the landmarks come from, and their
    error on it is not Monte-Carlo error: it falls with the kernel's spectrum.  On the
    protein data at depth 2 (README section "Learning at scale"), ridge regression on 2,000
    landmarks' features was 4% above the exact model's test error (three seeds), where 16,384
    random features stayed 10% above it.

    Cost: ``fit`` is ``O(m^2 d L)`` for ``K_CC`` plus an ``O(m^3)`` eigendecomposition
    (LAPACK); ``transform`` is ``O(n m d)`` for the cosines, ``O(n m L)`` for the kernel
    recursion and ``O(n m^2)`` for the product with ``N``: linear in ``n`` and ``d``, in
    compiled OpenMP loops.  With ``m`` of a few thousand, the product dominates.

    Eigenvalues ``s_j <= s_max * m * eps`` (``eps`` of ``dtype_``: about ``2e-16`` in
    float64, ``1e-7`` in float32) are dropped: their column of ``N`` is zero.  A float32
    transform computes ``K(X, C)`` in float32, whose rounding ``N`` would amplify by
    ``1 / sqrt(s_j)`` on the smallest eigenvalues, which is why the threshold follows the
    dtype's precision.  Duplicate landmark rows make ``K_CC`` singular up to that
    rounding; the threshold drops most such directions, and a kept one only adds rounding.

    Parameters
    ----------
    depth : int in [1, 1000], default=1
        Number of hidden ReLU layers ``L`` (at most ``ntkfast.MAX_DEPTH``).
    n_components : int >= 1, default=1024
        Number of landmarks ``m``, the width of the features.  With fewer rows in ``X``,
        every row is a landmark (a ``UserWarning`` says so).
    kernel : {"ntk", "nngp"}, default="ntk"
        The kernel approximated: :func:`ntkfast.ntk_kernel` or :func:`ntkfast.nngp_kernel`.
    bias : float >= 0, default=0.0
        Bias variance ``b^2`` of the kernel.
    random_state : None, int or numpy.random.Generator
        Draws the landmarks: ``rng.choice(n_samples, m, replace=False)``, sorted, with
        ``rng`` the generator of ``random_state``.
    n_threads : int, optional
        OpenMP threads; default: the current OpenMP limit.  The eigendecomposition in ``fit``
        runs in LAPACK on one BLAS thread, so that the features do not depend on BLAS's
        thread count either.

    Attributes
    ----------
    n_features_in_ : int
    dtype_ : numpy.dtype
        float32 if fitted on float32 data, else float64.  ``transform`` returns
        ``result_type(X, dtype_)``.
    feature_names_in_ : ndarray of shape (n_features_in_,), object
        The string column names of a data frame ``X`` (only then defined).
    n_components_ : int
        ``m``, the number of landmarks (``min(n_components, n_samples)``).
    component_indices_ : ndarray of shape (m,), intp
        The landmarks' row numbers in the ``X`` of ``fit``, increasing.
    components_ : ndarray of shape (m, n_features_in_), of dtype ``dtype_``
        The landmark rows.
    normalization_ : ndarray of shape (m, m), float64
        ``N``: columns ``u_j / sqrt(s_j)``, eigenvalues in decreasing order; zero columns
        for the dropped eigenvalues.
    n_kept_ : int
        The number of eigenvalues kept (nonzero columns of ``normalization_``).
    kernel_, depth_, bias_ : str, int, float
        The kernel of the fit (``transform`` uses these, not the current parameters).

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.random.default_rng(0).standard_normal((300, 8))
    >>> ny = ntkfast.NTKNystroem(depth=2, n_components=300, random_state=0)
    >>> Phi = ny.fit_transform(X)      # every row a landmark: the exact kernel
    >>> K = ntkfast.ntk_kernel(X, depth=2)
    >>> bool(np.abs(Phi @ Phi.T - K).max() < 1e-6 * np.abs(K).max())
    True
    """

    _parameter_constraints = {
        "depth": Depth(),
        "n_components": Int(1),
        "kernel": OneOf("ntk", "nngp"),
        "bias": NonNegative(),
        "random_state": RandomState(),
        "n_threads": Threads(),
    }
    _fitted_names = ("n_components_", "component_indices_", "components_", "normalization_", "n_kept_",
                     "kernel_", "depth_", "bias_")

    def __init__(self, depth=1, n_components=1024, kernel="ntk", bias=0.0, random_state=None,
                 n_threads=None):
        self.depth = depth
        self.n_components = n_components
        self.kernel = kernel
        self.bias = bias
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, X, y=None):
        """Draw the landmark rows of ``X`` and compute the normalisation ``N``.

        All parameters and every value of ``X`` (of a dask array: the landmark rows) are
        checked before any fitted attribute changes: a fit that raises leaves the estimator
        as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            float32 gives float32 landmarks and features; any other real dtype (other
            floats, integers, booleans) float64.  A memmap or a sparse matrix is checked one
            batch of rows at a time and only the landmark rows are copied; of a
            ``dask.array.Array`` only the landmark rows are computed (and checked).  A data
            frame's string column names become ``feature_names_in_``.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        params, names, adapter, X, n, n_features, dtype = self._fit_input(X)
        if n == 0:
            raise ValueError("X: expected at least one row (the landmarks are rows of X), got 0")
        m = params["n_components"]
        if m > n:
            warnings.warn(f"n_components={m} is larger than the number of rows of X ({n}): every "
                          f"row is a landmark (n_components_ = {n})", UserWarning, stacklevel=2)
            m = n
        check_allocation(3 * m * m * 8, f"n_components: {m} landmarks (several {m} x {m} float64 matrices)")
        idx = np.sort(params["random_state"].choice(n, m, replace=False)).astype(np.intp)
        if adapter is not None:
            C = adapter.take_rows(X, idx)
        else:
            C = X[idx]
            C = C.toarray() if hasattr(C, "toarray") else np.asarray(C)
        C = np.ascontiguousarray(C, dtype=dtype)
        N, kept = nystroem_normalization(C, params["kernel"], params["depth"], params["bias"], dtype,
                                         params["n_threads"])
        return self._restore(dict(n_features_in_=n_features, dtype_=dtype, _feature_names_in=names,
                                  n_components_=m, component_indices_=idx, components_=C,
                                  normalization_=N, n_kept_=kept, kernel_=params["kernel"],
                                  depth_=params["depth"], bias_=params["bias"]))

    def _build_map(self, a):
        m = a["n_components_"]
        idx = a["component_indices_"]
        if not isinstance(idx, np.ndarray) or idx.shape != (m,) or idx.dtype.kind not in "iu":
            raise ValueError(f"component_indices_: expected {m} integers, got "
                             f"{getattr(idx, 'shape', type(idx).__name__)!r}")
        C = a["components_"]
        if not isinstance(C, np.ndarray) or C.shape != (m, a["n_features_in_"]):
            raise ValueError(f"components_: expected shape ({m}, {a['n_features_in_']}), got "
                             f"{getattr(C, 'shape', type(C).__name__)!r}")
        N = a["normalization_"]
        if not isinstance(N, np.ndarray) or N.shape != (m, m):
            raise ValueError(f"normalization_: expected shape ({m}, {m}), got "
                             f"{getattr(N, 'shape', type(N).__name__)!r}")
        # The kernel of the fit (kernel_, depth_, bias_), not the current parameters: a
        # set_params without a refit must not pair N with another kernel.
        return NystroemMap(C, N, a["kernel_"], a["depth_"], a["bias_"], a["dtype_"])

    def _state_arrays(self):
        return {"n_components_": np.array(self.n_components_, dtype=np.int64),
                "n_kept_": np.array(self.n_kept_, dtype=np.int64),
                "component_indices_": np.asarray(self.component_indices_, dtype=np.int64),
                "components_": self.components_, "normalization_": self.normalization_,
                "kernel_": str(self.kernel_), "depth_": np.array(self.depth_, dtype=np.int64),
                "bias_": np.array(self.bias_, dtype=np.float64)}

    @classmethod
    def __ntkfast_load__(cls, reader, prefix=""):
        """Rebuild from a model file: ``reader`` is :mod:`ntkfast.io`'s validating reader."""
        est, params = reader.estimator(prefix + "__params__", cls)
        d = reader.integer(prefix + "n_features_in_", 1)
        m = reader.integer(prefix + "n_components_", 1)
        if m > params["n_components"]:
            reader.fail(f"{prefix}n_components_: expected at most {params['n_components']} (the "
                        f"n_components parameter), got {m}")
        kept = reader.integer(prefix + "n_kept_", 0)
        if kept > m:
            reader.fail(f"{prefix}n_kept_: expected at most {m} (n_components_), got {kept}")
        dtype = reader.dtype(prefix + "dtype_")
        idx = reader.array(prefix + "component_indices_", (m,), kinds="iu").astype(np.intp, copy=False)
        C = reader.array(prefix + "components_", (m, d), dtype=dtype)
        N = reader.array(prefix + "normalization_", (m, m), dtype=np.float64)
        kernel = reader.string(prefix + "kernel_")
        if kernel not in ("ntk", "nngp"):
            reader.fail(f"{prefix}kernel_: expected 'ntk' or 'nngp', got {kernel!r}")
        depth = reader.integer(prefix + "depth_", 1)
        if depth > MAX_DEPTH:
            reader.fail(f"{prefix}depth_: expected at most {MAX_DEPTH}, got {depth}")
        bias = float(reader.array(prefix + "bias_", (), dtype=np.float64))
        if not bias >= 0:
            reader.fail(f"{prefix}bias_: expected a number >= 0, got {bias}")
        a = dict(n_features_in_=d, dtype_=dtype, n_components_=m, n_kept_=kept, component_indices_=idx,
                 components_=C, normalization_=N, kernel_=kernel, depth_=depth, bias_=bias,
                 _feature_names_in=cls._load_feature_names(reader, prefix, d))
        return _restore_or_fail(est, a, reader, prefix)


def nystroem_normalization(C, kernel, depth, bias, dtype, n_threads=None):
    """``(N, kept)``: the Nystroem normalisation of the landmark rows ``C`` (see
    :class:`NTKNystroem`): ``K_CC`` in float64, its eigenpairs in decreasing order, columns
    ``u_j / sqrt(s_j)`` for ``s_j > s_max * m * eps(dtype)``, zero columns for the others."""
    m = C.shape[0]
    K = exact_kernel(np.asarray(C, dtype=np.float64), None, kernel, depth, bias, n_threads)
    # On one BLAS thread: LAPACK's result depends (at 1e-12) on BLAS's thread count, and the
    # features must not.  Measured at m = 4,000 on 2 cores: 10.6 s against 7.6 s threaded.
    with threadpool_limits(1, user_api="blas"):
        s, U = scipy.linalg.eigh(K, overwrite_a=True, check_finite=False, driver="evd")
    s, U = s[::-1], U[:, ::-1]
    cut = max(s[0], 0.0) * m * np.finfo(dtype).eps
    keep = s > cut
    N = np.zeros((m, m))
    if keep.any():
        N[:, keep] = U[:, keep] / np.sqrt(s[keep])
    return N, int(keep.sum())
