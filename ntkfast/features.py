"""Random features for the arc-cosine kernels and the NTK (SPEC sections 3 and 5).

Both transformers draw every random quantity in ``fit`` from ``random_state`` and store it
as a trailing-underscore attribute; ``transform`` is deterministic and its output does not
depend on the number of threads or on how the rows are split into batches.
"""
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _dask, _sketch
from ._validation import (
    as_float_array,
    check_2d_shape,
    check_allocation,
    check_array,
    check_finite,
    check_int,
    check_random_state,
    float_dtype,
    resolve_n_threads,
)
from ._fft import irfft_rows, rfft_rows
from .sketch import _multiply_spectra, fft_threads

__all__ = ["ArcCosineFeatures", "NTKRandomFeatures", "default_sketch_components"]

# Working memory per batch of rows in transform, in array elements (about 128 MiB of float64,
# 64 MiB of float32).  Every batch wakes the OpenMP and FFT thread pools a few times; twice
# larger batches than 1 << 23 made the two-thread NTK transform 5-10% faster (fewer wake-ups).
_BATCH_ELEMENTS = 1 << 24

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


def _feature_scales(W, leverage):
    """Per-feature scale of Phi0/Phi1: sqrt(2/m), or sqrt(2 d / m) / ||w_j|| with leverage."""
    m, d = W.shape
    if not leverage:
        return np.full(m, np.sqrt(2.0 / m))
    return np.sqrt(2.0 * d / m) / np.sqrt(np.einsum("ij,ij->i", W, W))


def _rows_per_batch(elements_per_row):
    """Rows per batch for a working memory near _BATCH_ELEMENTS: at least one full block of
    the dense kernels (the kernels share any batch out evenly between the threads)."""
    return max(_sketch.ROW_BLOCK_SIZE, _BATCH_ELEMENTS // max(elements_per_row, 1))


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


class _BatchedTransformer(TransformerMixin, BaseEstimator):
    """Shared ``transform`` loop: validates once, then works through the rows in batches.

    Subclasses set ``dtype_`` in ``fit`` and implement:

    * ``_n_output()`` and ``_batch_rows()``;
    * ``_kernel_sources()``, the fitted arrays the kernels' inputs are made from, and
      ``_kernel_arrays(dtype)``, those inputs (packed weights...) in ``dtype``; ``fit`` ends
      by building them for ``dtype_``, so that ``transform`` changes no attribute;
    * ``_workspace(rows, dtype, n_threads)``, work arrays reused by every batch of a call;
    * ``_transform_batch(X_batch, out_batch, arrays, n_threads, workspace)``.

    The features are computed in ``result_type(X, dtype_)``, as numpy would multiply ``X`` by
    the weights: never a silent loss of precision.  When that differs from ``dtype_`` the
    fitted arrays are cast and packed once more and cached (the cache is not pickled).
    """

    def _arrays_for(self, dtype):
        # The kernel arrays (weights packed for the dense kernels, cast to ``dtype``) are
        # made once per fit and dtype: NTKRidge and dask call _transform batch by batch.
        # The cache holds one packed copy of the weights; it is dropped by fit, not pickled,
        # and rebuilt if a fitted array it was made from has been replaced since.
        sources = self._kernel_sources()
        cache = self.__dict__.setdefault("_kernel_cache", {})
        entry = cache.get(dtype.str)
        if entry is None or len(entry[0]) != len(sources) or any(
            a is not b for a, b in zip(entry[0], sources)
        ):
            entry = cache[dtype.str] = (sources, self._kernel_arrays(dtype))
        return entry[1]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_kernel_cache", None)
        return state

    def _check_fit_input(self, X):
        self.__dict__.pop("_kernel_cache", None)  # arrays of a previous fit
        if _dask.is_dask_array(X):
            # fit needs only the number of columns and the dtype: the rows are not computed.
            self.n_features_in_, self.dtype_ = _dask.fit_input(X)
            return X
        X = check_array(X, "X")
        self.n_features_in_ = X.shape[1]
        self.dtype_ = X.dtype
        return X

    def transform(self, X, out=None, batch_size=None):
        """Random features of ``X``, computed batch by batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Any float array, including a ``numpy.memmap`` or an array opened with
            ``np.load(..., mmap_mode="r")``: it is read one batch of rows at a time.  A
            ``dask.array.Array`` (rows in chunks; several chunks of columns are merged)
            gives a lazy dask array with the same row chunks, bit-identical to the
            in-memory transform of the same rows (README section "Scaling out with Dask").
        out : ndarray of shape (n_samples, n_output), optional
            C-contiguous, writeable, of the output dtype (a writeable memmap works); the
            features are written into it and it is returned.  Must not overlap ``X``.
        batch_size : int, optional
            Rows per batch; the default keeps the working memory near 128 MiB (64 MiB in
            float32).  The result does not depend on it.

        Returns
        -------
        ndarray of shape (n_samples, n_output)
            float32 when both ``X`` and the fit were float32, else float64.  A
            ``dask.array.Array`` when ``X`` is one.
        """
        if _dask.is_dask_array(X):
            return _dask.transform(self, X, out, batch_size)
        return self._transform(X, out, batch_size, row_offset=0)

    def _transform(self, X, out, batch_size, row_offset, workspaces=None):
        # row_offset: absolute index of X's first row in a larger data set (dask blocks,
        # NTKRidge batches), for the row numbers in error messages; the features of a row
        # depend on nothing but its values.  workspaces: a dict that callers transforming
        # chunk after chunk pass to every call, so that the work arrays are made once.
        check_is_fitted(self, "n_features_in_")
        X = as_float_array(X, "X")
        check_2d_shape(X, "X", self.n_features_in_)
        n = X.shape[0]
        n_out = self._n_output()
        dtype = np.result_type(float_dtype(X.dtype, "X"), self.dtype_)
        arrays = self._arrays_for(dtype)
        if out is None:
            check_allocation(n * n_out * dtype.itemsize, f"X: a {n} x {n_out} {dtype.name} feature matrix")
            out = np.empty((n, n_out), dtype=dtype)
        else:
            _check_out(out, X, (n, n_out), dtype)
        rows = self._batch_rows() if batch_size is None else check_int(batch_size, "batch_size", 1)
        n_threads = resolve_n_threads(getattr(self, "n_threads", None))
        workspace = None
        if n:
            key = (dtype.str, n_threads)
            cached = workspaces.get(key) if workspaces is not None else None
            if cached is not None and cached[0] >= min(rows, n):
                workspace = cached[1]
            else:
                ws_rows = rows if workspaces is not None else min(rows, n)
                workspace = self._workspace(ws_rows, dtype, n_threads)
                if workspaces is not None:
                    workspaces[key] = (ws_rows, workspace)
        for i0 in range(0, n, rows):
            i1 = min(n, i0 + rows)
            Xb = np.ascontiguousarray(X[i0:i1], dtype=dtype)
            check_finite(Xb, "X", row_offset=i0 + row_offset)
            self._transform_batch(Xb, out[i0:i1], arrays, n_threads, workspace)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _check_out(out, X, shape, dtype):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out: expected shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"out: expected dtype {dtype.name} (that of the features of X), got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("out: expected a C-contiguous array, got a non-contiguous one")
    if not out.flags.writeable:
        raise ValueError("out: expected a writeable array, got a read-only one")
    if isinstance(X, np.ndarray) and np.shares_memory(out, X):
        raise ValueError("out: expected an array that does not overlap X, got one that shares its memory")


class ArcCosineFeatures(_BatchedTransformer):
    """Random features of the arc-cosine kernel of order 0 (step) or 1 (ReLU).

    ``Phi0(x) = sqrt(2/m) step(W x)`` estimates ``kappa0(rho)`` and
    ``Phi1(x) = sqrt(2/m) relu(W x)`` estimates ``||x|| ||y|| kappa1(rho)``
    (:func:`ntkfast.arccos_kernel`), with the rows of ``W`` i.i.d. ``N(0, I_d)``.  With
    ``leverage=True`` the rows are drawn from ``q(w) ∝ ||w||^2 N(w; 0, I_d)`` and each
    feature is reweighted by ``sqrt(d) / ||w_j||``: still unbiased, with lower variance for
    order 1 (the leverage-score sampling of Han et al.).

    The transform is one pass over the output: the weights are packed once (in ``fit``),
    then every tile of features is accumulated in registers, activated there and stored
    (the compiled kernels of ``ntkfast/_dense.h``); it runs faster than numpy's own
    ``X @ W.T`` without the activation.

    Parameters
    ----------
    order : {0, 1}, default=0
    n_components : int >= 2, default=1024
        Number of features ``m``.
    leverage : bool, default=False
    random_state : None, int or numpy.random.Generator
    n_threads : int, optional
        OpenMP threads; default: the current OpenMP limit.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components, n_features_in_), dtype ``dtype_``
        The sampled rows ``w_j``.
    scales_ : ndarray of shape (n_components,), dtype ``dtype_``
        Factor of each feature (``sqrt(2/m)``, or ``sqrt(2 d/m) / ||w_j||`` with leverage).
    n_features_in_ : int
    dtype_ : numpy.dtype
        float32 if fitted on float32 data, else float64 (the dtype of the weights).
        ``transform`` returns ``result_type(X, dtype_)``.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> phi = ntkfast.ArcCosineFeatures(order=1, n_components=20000, random_state=0).fit_transform(X)
    >>> K = ntkfast.arccos_kernel(X, order=1)
    >>> bool(np.abs(phi @ phi.T - K).max() < 0.1 * np.abs(K).max())
    True
    """

    def __init__(self, order=0, n_components=1024, leverage=False, random_state=None, n_threads=None):
        self.order = order
        self.n_components = n_components
        self.leverage = leverage
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, X, y=None):
        """Draw the random weights for data with ``X``'s number of features and dtype.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        if isinstance(self.order, (bool, np.bool_)) or self.order not in (0, 1):
            raise ValueError(f"order: expected 0 or 1, got {self.order!r}")
        m = check_int(self.n_components, "n_components", 2)
        leverage = _check_bool(self.leverage, "leverage")
        resolve_n_threads(self.n_threads)
        X = self._check_fit_input(X)
        d = X.shape[1]
        check_allocation(2 * m * d * 8, f"n_components: weights of shape ({m}, {d})")
        rng = check_random_state(self.random_state)
        W = _leverage_rows(rng, m, d) if leverage else _gaussian_rows(rng, m, d)
        self.weights_ = W.astype(self.dtype_)
        self.scales_ = _feature_scales(W, leverage).astype(self.dtype_)
        self._arrays_for(self.dtype_)
        return self

    def _n_output(self):
        return self.weights_.shape[0]

    def _batch_rows(self):
        return _rows_per_batch(self.weights_.shape[0])

    def _kernel_sources(self):
        return (self.weights_, self.scales_)

    def _kernel_arrays(self, dtype):
        W = self.weights_.astype(dtype, copy=False)
        return _sketch.packed_weights(W, self.scales_.astype(dtype, copy=False))

    def _workspace(self, rows, dtype, n_threads):
        return None

    def _transform_batch(self, Xb, out, packed, n_threads, workspace):
        _sketch.dense_activation(Xb, packed, (_sketch.ACT_STEP, _sketch.ACT_RELU)[self.order], out, n_threads)


class NTKRandomFeatures(_BatchedTransformer):
    """Random features of the Neural Tangent Kernel of a ReLU network (Han et al., 2021).

    Layer by layer (SPEC section 5): ``phi_h = Phi1(phi_{h-1})`` (ReLU features),
    ``a_h = Phi0(phi_{h-1})`` (step features), and
    ``psi_h = [phi_h, TensorSketch(psi_{h-1}, a_h)]``, so that
    ``<psi_L(x), psi_L(y)>`` estimates :func:`ntkfast.ntk_kernel` and ``<phi_L(x), phi_L(y)>``
    estimates :func:`ntkfast.nngp_kernel` (both without bias).  The step features are never
    stored: each one is hashed into the CountSketch as soon as its pre-activation is
    computed.  Cost per row: ``O(d m + L (m^2 + ms log ms))``, linear in ``n`` and ``d``.

    Parameters
    ----------
    depth : int >= 1, default=1
        Number of hidden ReLU layers ``L``.
    n_components : int >= 2, default=4096
        Output width: ``m1 + ms`` for ``kernel="ntk"``, ``m1`` for ``kernel="nngp"``.
    sketch_components : int, optional
        TensorSketch width ``ms`` (``1 <= ms < n_components``); the ReLU and step feature
        counts are ``m1 = m0 = n_components - ms``.  Default:
        :func:`default_sketch_components`.  Ignored for ``kernel="nngp"``.
    leverage : bool, default=True
        Draw the ReLU weights by leverage scores (lower variance, SPEC section 3).
    kernel : {"ntk", "nngp"}, default="ntk"
    random_state : None, int or numpy.random.Generator
    n_threads : int, optional
        OpenMP (and FFT) threads; default: the current OpenMP limit.

    Attributes
    ----------
    n_features_in_ : int
    dtype_ : numpy.dtype
        float32 if fitted on float32 data, else float64 (the dtype of the weights).
        ``transform`` returns ``result_type(X, dtype_)``.
    n_relu_ : int
        ``m1`` (equal to the number of step features ``m0``).
    n_sketch_ : int
        ``ms`` (0 for ``kernel="nngp"``).
    relu_weights_, step_weights_ : lists of ``depth`` arrays
        Sampled rows of each layer, shapes ``(m1, d_h)`` and ``(m0, d_h)`` with
        ``d_1 = n_features_in_`` and ``d_h = m1`` after.  ``step_weights_`` is empty for NNGP.
    relu_scales_ : list of ``depth`` arrays of shape (m1,)
    sketch_indices_, sketch_signs_ : lists of ``depth`` arrays
        CountSketch of ``psi_{h-1}`` into ``ms`` buckets (length ``n_features_in_`` for the
        first layer, ``m1 + ms`` after).  Empty for NNGP.
    step_indices_, step_signs_ : lists of ``depth`` arrays of length m0
        CountSketch of the step features ``a_h``.  Empty for NNGP.

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

    def __init__(self, depth=1, n_components=4096, sketch_components=None, leverage=True,
                 kernel="ntk", random_state=None, n_threads=None):
        self.depth = depth
        self.n_components = n_components
        self.sketch_components = sketch_components
        self.leverage = leverage
        self.kernel = kernel
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self):
        depth = check_int(self.depth, "depth", 1)
        nc = check_int(self.n_components, "n_components", 2)
        if self.kernel not in ("ntk", "nngp"):
            raise ValueError(f"kernel: expected 'ntk' or 'nngp', got {self.kernel!r}")
        leverage = _check_bool(self.leverage, "leverage")
        resolve_n_threads(self.n_threads)
        if self.kernel == "nngp":
            return depth, nc, 0, leverage
        if self.sketch_components is None:
            ms = default_sketch_components(nc)
        else:
            ms = check_int(self.sketch_components, "sketch_components", 1, nc - 1)
        return depth, nc - ms, ms, leverage

    def fit(self, X, y=None):
        """Draw every random quantity (weights, hashes, signs) for ``X``'s shape and dtype.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        depth, m1, ms, leverage = self._check_params()
        X = self._check_fit_input(X)
        d = X.shape[1]
        ntk = ms > 0
        n_weights = (d + (depth - 1) * m1) * m1 * (2 if ntk else 1)
        check_allocation(
            2 * 8 * n_weights, f"n_components: {depth} layer(s) of {m1} features on {d} inputs"
        )
        rng = check_random_state(self.random_state)
        dtype = self.dtype_
        self.n_relu_, self.n_sketch_ = m1, ms
        self.relu_weights_, self.relu_scales_, self.step_weights_ = [], [], []
        self.sketch_indices_, self.sketch_signs_ = [], []
        self.step_indices_, self.step_signs_ = [], []
        d_in, d_psi = d, d
        for _ in range(depth):
            if ntk:
                self.step_weights_.append(_gaussian_rows(rng, m1, d_in).astype(dtype))
            W = _leverage_rows(rng, m1, d_in) if leverage else _gaussian_rows(rng, m1, d_in)
            self.relu_weights_.append(W.astype(dtype))
            self.relu_scales_.append(_feature_scales(W, leverage).astype(dtype))
            if ntk:
                self.sketch_indices_.append(rng.integers(0, ms, size=d_psi).astype(np.intp))
                self.sketch_signs_.append((2 * rng.integers(0, 2, size=d_psi) - 1).astype(np.int8))
                self.step_indices_.append(rng.integers(0, ms, size=m1).astype(np.intp))
                self.step_signs_.append((2 * rng.integers(0, 2, size=m1) - 1).astype(np.int8))
            d_in, d_psi = m1, m1 + ms
        self._arrays_for(dtype)
        return self

    def _n_output(self):
        return self.n_relu_ + self.n_sketch_

    def _batch_rows(self):
        # Per row: two layer buffers, two CountSketches and their spectra.
        return _rows_per_batch(4 * self._n_output())

    def _kernel_sources(self):
        return (*self.relu_weights_, *self.relu_scales_, *self.step_weights_, *self.sketch_signs_,
                *self.step_signs_)

    def _kernel_arrays(self, dtype):
        """Per layer: (packed relu weights and scales, packed step weights, sketch signs,
        step signs) in ``dtype``; the last three are None for NNGP."""
        def cast(a):
            return a.astype(dtype, copy=False)

        layers = []
        for h in range(len(self.relu_weights_)):
            relu = _sketch.packed_weights(cast(self.relu_weights_[h]), cast(self.relu_scales_[h]))
            if self.n_sketch_:
                step = _sketch.packed_weights(cast(self.step_weights_[h]), None)
                layers.append((relu, step, cast(self.sketch_signs_[h]), cast(self.step_signs_[h])))
            else:
                layers.append((relu, None, None, None))
        return layers

    def _workspace(self, rows, dtype, n_threads):
        """Arrays reused by every batch of one transform (none is allocated per batch): the
        inner layers' psi_h, the two CountSketches and their spectra, the step features of
        one block per thread."""
        m1, ms, depth = self.n_relu_, self.n_sketch_, len(self.relu_weights_)
        layers = [np.empty((rows, m1 + ms), dtype=dtype) for _ in range(min(depth - 1, 2))]
        if not ms:
            return layers, None
        cdtype = np.complex64 if dtype == np.float32 else np.complex128
        sketch = (np.empty((rows, ms), dtype=dtype), np.empty((rows, ms), dtype=dtype),
                  np.empty((rows, ms // 2 + 1), dtype=cdtype), np.empty((rows, ms // 2 + 1), dtype=cdtype),
                  np.empty((n_threads, _sketch.ROW_BLOCK_SIZE * m1), dtype=dtype))
        return layers, sketch

    def _transform_batch(self, Xb, out, arrays, n_threads, workspace):
        dtype = Xb.dtype
        m1, ms, depth = self.n_relu_, self.n_sketch_, len(arrays)
        R = Xb.shape[0]
        layers, sketch = workspace
        step_scale = dtype.type(np.sqrt(2.0 / m1))
        fft_workers = fft_threads(n_threads, R, ms)
        psi = Xb  # psi_{h-1}; phi_{h-1} is its first d_h columns
        for h, (relu, step, sketch_s, step_s) in enumerate(arrays):
            dest = out if h == depth - 1 else layers[h % 2][:R]
            if not ms:
                _sketch.dense_activation(psi, relu, _sketch.ACT_RELU, dest, n_threads)
            else:
                # phi_h and the CountSketches of psi_{h-1} and a_h in one parallel loop; then
                # TS(psi_{h-1}, a_h) = irfft(rfft(CS(psi_{h-1})) * rfft(CS(a_h))), written
                # straight into the last ms columns of psi_h.
                cs_psi, cs_step, spec_psi, spec_step = (a[:R] for a in sketch[:4])
                _sketch.ntk_layer_inputs(psi, relu, step, step_scale, self.step_indices_[h], step_s,
                                         self.sketch_indices_[h], sketch_s, dest, cs_psi, cs_step,
                                         sketch[4], n_threads)
                rfft_rows(cs_psi, spec_psi, fft_workers)
                rfft_rows(cs_step, spec_step, fft_workers)
                _multiply_spectra(spec_psi, spec_step, n_threads)
                irfft_rows(spec_psi, ms, dest[:, m1:], fft_workers)
            psi = dest
