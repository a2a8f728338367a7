"""Feature maps as the compiled kernels take them: validated, immutable snapshots.

A fitted transformer (``ntkfast.features``) keeps its random draws as public attributes; the
compiled kernels never read those.  They read a *feature map* built from them here, once per
fit (or whenever an attribute is replaced): every array is checked against the others
(shapes, dtypes, finite weights, hash indices inside their sketch, +1/-1 signs) and copied
into what the kernels read (packed weights, hash arrays), so that nothing a caller does to the
attributes afterwards can make a kernel read or write out of bounds, and a transform that
took a map computes every row with the same model even when the estimator is refitted
meanwhile.

A map knows how to compute one batch of rows (:meth:`FeatureMap.run`) in a given dtype; the
batch loop around it is :mod:`ntkfast._engine.batches`.
"""
import threading

import numpy as np

from .. import _exact, _polysketch, _sketch
from .exact import KERNEL_KINDS, norms_and_unit_rows
from .fft import complex_dtype, fft_threads, irfft_rows, multiply_spectra, rfft_rows
from .validation import MAX_DEPTH, STRUCTURED_STAGES, check_hash, check_rotation, check_srht, check_structured, check_weights

__all__ = ["ArcCosineMap", "NTKMap", "NTKSketchMap", "NystroemMap", "FeatureMap", "polysketch_plan", "structured_row_norms"]


class FeatureMap:
    """Base of the compiled feature maps.

    Attributes
    ----------
    n_features : int
        Columns of the input.
    n_output : int
        Columns of the features.
    dtype : numpy.dtype
        The dtype of the fit (weights); features of other inputs are computed in
        ``feature_dtype(X.dtype, dtype)``.
    elements_per_row : int
        Working memory per row of a batch, in elements (sizes the batches).
    """

    def __init__(self, n_features, n_output, dtype, elements_per_row):
        self.n_features = n_features
        self.n_output = n_output
        self.dtype = np.dtype(dtype)
        self.elements_per_row = elements_per_row
        self._compiled = {}
        self._lock = threading.Lock()

    def compiled(self, dtype):
        """The kernels' inputs in ``dtype`` (packed weights...), made once per dtype."""
        dtype = np.dtype(dtype)
        entry = self._compiled.get(dtype.str)
        if entry is None:
            with self._lock:
                entry = self._compiled.get(dtype.str)
                if entry is None:
                    entry = self._compiled[dtype.str] = self._compile(dtype)
        return entry

    def workspace_key(self, dtype, n_threads):
        return (id(self), np.dtype(dtype).str, n_threads)

    def __getstate__(self):
        # Pickled (e.g. sent to dask workers) without the packed copies: they are remade
        # once per process at first use.
        state = self.__dict__.copy()
        state["_compiled"] = {}
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # Subclasses: _compile(dtype), workspace(rows, dtype, n_threads), run(...)


def _cast(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


class ArcCosineMap(FeatureMap):
    """``act(scale * X @ W.T)``, act the step (order 0) or the ReLU (order 1)."""

    def __init__(self, weights, scales, order, dtype):
        dtype = np.dtype(dtype)
        if order not in (0, 1):
            raise ValueError(f"order: expected 0 or 1, got {order!r}")
        self.activation = (_sketch.ACT_STEP, _sketch.ACT_RELU)[order]
        if not isinstance(weights, np.ndarray) or weights.ndim != 2 or 0 in weights.shape:
            raise ValueError(f"weights_: expected a non-empty 2-D array, got {getattr(weights, 'shape', weights)!r}")
        m, d = weights.shape
        check_weights(weights, (m, d), dtype, "weights_")
        check_weights(scales, (m,), dtype, "scales_")
        if order == 1 and not np.all(scales > 0):
            raise ValueError("scales_: expected values > 0")
        super().__init__(d, m, dtype, m)
        self.order = order
        self._weights, self._scales = weights, scales
        self.compiled(dtype)  # packed now: a transform never repacks the fitted dtype

    def _compile(self, dtype):
        return _sketch.packed_weights(_cast(self._weights, dtype), _cast(self._scales, dtype))

    def workspace(self, rows, dtype, n_threads):
        return None

    def run(self, Xb, out, packed, workspace, n_threads):
        _sketch.dense_activation(Xb, packed, self.activation, out, n_threads)


class NTKMap(FeatureMap):
    """The NTK (or NNGP) random features of ``depth`` layers (SPEC section 5).

    Per layer: ``phi_h = Phi1(phi_{h-1})`` and, for the NTK,
    ``psi_h = [phi_h, TS(psi_{h-1}, a_h)]`` with ``a_h = Phi0(phi_{h-1})`` hashed straight into
    its CountSketch (never stored).

    With a bias variance ``b > 0`` a constant column ``sqrt(b)`` follows the input and the
    ReLU features of every layer: ``phi_0 = psi_0 = [x, sqrt(b)]``,
    ``phi_h = [Phi1(phi_{h-1}), sqrt(b)]`` (so the weights of layer h read ``d_h + 1``
    inputs and ``psi_h`` is ``m1 + 1 + ms`` wide).  ``b == 0`` adds no column.

    The step features ``a_h`` number ``n_step`` (``m0``; default ``n_relu``), scaled by
    ``sqrt(2 / m0)``; they only feed the CountSketch, so ``m0`` does not change the output
    width ``m1 + ms``.

    ``sketch="srht"`` replaces ``TS`` by TensorSRHT (SPEC section 4): ``sketch_indices`` /
    ``step_indices`` then hold ``ms / 2`` frequencies of the DFTs of ``psi_{h-1}`` and
    ``a_h`` (in ``[0, d_psi)`` and ``[0, m0)``), the signs one per column; ``a_h`` is
    stored for a batch of rows (its FFT needs the whole row).

    ``projection="fastfood"`` or ``"sorf"``: no weight matrices; per layer one structured
    projection ``z = M phi_{h-1}`` (``projection_diagonals`` and, for fastfood,
    ``projection_permutations``; sorf's first layer projects ``Q x``, ``Q`` the one array of
    ``projection_rotations``) gives both ``phi_h = relu_scales * relu(z[:m1])`` and
    ``a_h = sqrt(2 / m0) step(z[:m0])``; the TensorSketch is kept in the orthonormal real
    Fourier basis (no inverse FFT).
    """

    def __init__(self, n_features, n_relu, n_sketch, dtype, relu_weights, relu_scales,
                 step_weights, sketch_indices, sketch_signs, step_indices, step_signs, bias=0.0,
                 n_step=None, sketch="countsketch", projection="gaussian",
                 projection_diagonals=(), projection_permutations=(), projection_rotations=()):
        dtype = np.dtype(dtype)
        if projection not in STRUCTURED_STAGES and projection != "gaussian":
            raise ValueError(f"projection_: expected 'gaussian', 'fastfood' or 'sorf', got {projection!r}")
        structured = projection != "gaussian"
        if sketch not in ("countsketch", "srht"):
            raise ValueError(f"sketch_: expected 'countsketch' or 'srht', got {sketch!r}")
        srht = sketch == "srht"
        bias = float(bias)
        if not np.isfinite(bias) or bias < 0:
            raise ValueError(f"bias_: expected a finite number >= 0, got {bias}")
        e = 1 if bias > 0 else 0  # the bias column
        d, m1, ms = n_features, n_relu, n_sketch
        m0 = m1 if n_step is None else n_step
        if ms > 0 and (isinstance(m0, bool) or not isinstance(m0, (int, np.integer)) or m0 < 1):
            raise ValueError(f"n_step_: expected an integer >= 1, got {m0!r}")
        depth = len(relu_scales) if structured else len(relu_weights)
        if depth < 1:
            raise ValueError(f"{'relu_scales_' if structured else 'relu_weights_'}: expected at least "
                             f"one layer, got none")
        ntk = ms > 0
        lists = {"relu_weights_": relu_weights, "relu_scales_": relu_scales, "step_weights_": step_weights,
                 "sketch_indices_": sketch_indices, "sketch_signs_": sketch_signs,
                 "step_indices_": step_indices, "step_signs_": step_signs,
                 "projection_diagonals_": projection_diagonals,
                 "projection_permutations_": projection_permutations,
                 "projection_rotations_": projection_rotations}
        for name, values in lists.items():
            if name in ("relu_weights_", "step_weights_"):
                want = 0 if structured else (depth if ntk or name == "relu_weights_" else 0)
            elif name == "projection_diagonals_":
                want = depth if structured else 0
            elif name == "projection_permutations_":
                want = depth if projection == "fastfood" else 0
            elif name == "projection_rotations_":
                want = 1 if projection == "sorf" else 0
            else:
                want = depth if ntk or name == "relu_scales_" else 0
            if not isinstance(values, (list, tuple)) or len(values) != want:
                raise ValueError(f"{name}: expected a list of {want} arrays (one per layer), "
                                 f"got {type(values).__name__} of length {len(values) if hasattr(values, '__len__') else '?'}")
        self._layers = []
        d_in, d_psi = d + e, d + e
        # sorf: a rotation of the first layer's input (Haar, d + e square), so that the first
        # layer's rows have uniformly distributed directions (see features.py).
        self._rotation = (check_rotation(projection_rotations[0], d + e, dtype, "projection_rotations_[0]")
                          if projection == "sorf" else None)
        for h in range(depth):
            if structured:  # one projection of max(m1, m0) outputs, shared by ReLU and step
                relu_w = check_structured(
                    projection, projection_diagonals[h],
                    projection_permutations[h] if projection == "fastfood" else None,
                    d_in, max(m1, m0 if ntk else 0), dtype, h)
            else:
                relu_w = check_weights(relu_weights[h], (m1, d_in), dtype, f"relu_weights_[{h}]")
            relu_s = check_weights(relu_scales[h], (m1,), dtype, f"relu_scales_[{h}]")
            if not np.all(relu_s > 0):
                raise ValueError(f"relu_scales_[{h}]: expected values > 0")
            if ntk:
                step_w = None if structured else check_weights(step_weights[h], (m0, d_in), dtype,
                                                               f"step_weights_[{h}]")
                # Copies: the kernels read these, and nobody else can write them.
                if srht:  # ms / 2 frequencies of each factor's DFT, one sign per column
                    if ms % 2:
                        raise ValueError(f"n_sketch_: expected an even width with sketch 'srht', got {ms}")
                    si, ss = check_srht(sketch_indices[h], sketch_signs[h], d_psi, ms // 2,
                                        f"sketch_indices_[{h}]", f"sketch_signs_[{h}]")
                    ti, ts = check_srht(step_indices[h], step_signs[h], m0, ms // 2,
                                        f"step_indices_[{h}]", f"step_signs_[{h}]")
                else:
                    si, ss = check_hash(sketch_indices[h], sketch_signs[h], d_psi, ms,
                                        f"sketch_indices_[{h}]", f"sketch_signs_[{h}]")
                    ti, ts = check_hash(step_indices[h], step_signs[h], m0, ms,
                                        f"step_indices_[{h}]", f"step_signs_[{h}]")
                self._layers.append((relu_w, relu_s, step_w, si, ss, ti, ts))
            else:
                self._layers.append((relu_w, relu_s, None, None, None, None, None))
            d_in, d_psi = m1 + e, m1 + e + ms
        # Per row: two layer buffers, two CountSketches and their spectra (and the input
        # with its bias column); TensorSRHT: the signed psi_{h-1} and a_h and their spectra.
        per_row = 4 * (m1 + e + ms) + e * (d + 1)
        if srht and ntk:
            d_max = max(d + e, m1 + e + ms)
            per_row = 2 * (m1 + e + ms) + e * (d + 1) + 2 * (d_max + 2) + 2 * (m0 + 2)
        if projection == "sorf":  # the rotated input rows
            per_row += d + e
        super().__init__(d, m1 + e + ms, dtype, per_row)
        self.sketch = sketch
        self.projection = projection
        self.depth, self.n_relu, self.n_sketch = depth, m1, ms
        self.n_step = int(m0) if ms else 0
        self.bias, self.bias_columns = bias, e
        self.compiled(dtype)

    def _compile(self, dtype):
        """Per layer: (packed relu weights and scales, packed step weights, sketch hash,
        sketch signs, step hash, step signs) in ``dtype``; the step parts None for NNGP.
        With a structured projection the first entry is (the compiled projection, the ReLU
        scales, the packed rotation of sorf's first layer or None) and the second None."""
        layers = []
        rotation = None
        if self._rotation is not None:
            rotation = _sketch.packed_weights(_cast(self._rotation, dtype), None)
        for h, (relu_w, relu_s, step_w, si, ss, ti, ts) in enumerate(self._layers):
            if self.projection != "gaussian":
                # relu_w is (diagonals, permutations or None, inputs, outputs): one compiled
                # projection and the ReLU scales; the step needs no weights of its own.
                diag, perm, k, m = relu_w
                relu = (_sketch.StructuredProjection(k, m, _cast(diag, dtype), perm), _cast(relu_s, dtype),
                        rotation if h == 0 else None)
                if self.n_sketch == 0:
                    layers.append((relu, None, None, None, None, None))
                else:
                    layers.append((relu, None, si, ss.astype(dtype), ti, ts.astype(dtype)))
                continue
            relu = _sketch.packed_weights(_cast(relu_w, dtype), _cast(relu_s, dtype))
            if step_w is None:
                layers.append((relu, None, None, None, None, None))
            elif self.sketch == "srht":
                # a_h = sqrt(2 / m0) step(W x), stored for the FFT: the scale is packed in.
                scale = np.full(self.n_step, np.sqrt(2.0 / self.n_step), dtype=dtype)
                step = _sketch.packed_weights(_cast(step_w, dtype), scale)
                layers.append((relu, step, si, ss.astype(dtype), ti, ts.astype(dtype)))
            else:
                step = _sketch.packed_weights(_cast(step_w, dtype), None)
                layers.append((relu, step, si, ss.astype(dtype), ti, ts.astype(dtype)))
        return layers

    def workspace(self, rows, dtype, n_threads):
        """Arrays reused by every batch of one transform (none is allocated per batch): the
        inner layers' psi_h, the two CountSketches and their spectra, the step features of
        one block per thread; with a bias, the input rows and their bias column."""
        m1, m0, ms, depth, e = self.n_relu, self.n_step, self.n_sketch, self.depth, self.bias_columns
        layers = [np.empty((rows, m1 + e + ms), dtype=dtype) for _ in range(min(depth - 1, 2))]
        if e:  # then: the input rows and their bias column
            layers.append(np.empty((rows, self.n_features + 1), dtype=dtype))
        if self._rotation is not None:  # last: the rotated input rows
            layers.append(np.empty((rows, self.n_features + e), dtype=dtype))
        if not ms:
            return layers, None
        cdtype = complex_dtype(dtype)
        if self.sketch == "srht":
            d_max = max(self.n_features + e, m1 + e + ms)
            # Flat: each layer views the first rows * k elements as a contiguous (rows, k).
            return layers, (np.empty(rows * d_max, dtype=dtype), np.empty((rows, m0), dtype=dtype),
                            np.empty(rows * (d_max // 2 + 1), dtype=cdtype),
                            np.empty((rows, m0 // 2 + 1), dtype=cdtype))
        sketch = (np.empty((rows, ms), dtype=dtype), np.empty((rows, ms), dtype=dtype),
                  np.empty((rows, ms // 2 + 1), dtype=cdtype), np.empty((rows, ms // 2 + 1), dtype=cdtype),
                  np.empty((n_threads, _sketch.ROW_BLOCK_SIZE * m0 if self.projection == "gaussian" else 0),
                           dtype=dtype))
        return layers, sketch

    def run(self, Xb, out, compiled, workspace, n_threads):
        dtype = Xb.dtype
        m1, ms, depth, e = self.n_relu, self.n_sketch, self.depth, self.bias_columns
        R = Xb.shape[0]
        layers, sketch = workspace
        step_scale = dtype.type(np.sqrt(2.0 / self.n_step)) if ms else None
        fft_workers = fft_threads(n_threads, R, ms)
        psi = Xb  # psi_{h-1}; phi_{h-1} is its first d_h columns
        root_bias = dtype.type(np.sqrt(self.bias))
        if e:
            psi = layers[len(layers) - 1 - (self._rotation is not None)][:R]  # psi_0 = [x, sqrt(b)]
            psi[:, :-1] = Xb
            psi[:, -1] = root_bias
        for h, (relu, step, si, ss, ti, ts) in enumerate(compiled):
            dest = out if h == depth - 1 else layers[h % 2][:R]
            if e:  # phi_h = [Phi1(phi_{h-1}), sqrt(b)]
                dest[:, m1] = root_bias
            if self.projection != "gaussian":
                phi = psi
                if relu[2] is not None:  # the first layer of sorf projects the rotated input
                    phi = layers[-1][:R]
                    _sketch.dense_activation(psi, relu[2], _sketch.ACT_IDENTITY, phi, n_threads)
                self._structured_layer(psi, phi, dest, relu, si, ss, ti, ts, sketch, step_scale, n_threads,
                                       fft_workers)
            elif not ms:
                _sketch.dense_activation(psi, relu, _sketch.ACT_RELU, dest, n_threads)
            elif self.sketch == "srht":
                self._srht_layer(psi, dest, relu, step, si, ss, ti, ts, sketch, n_threads)
            else:
                # phi_h and the CountSketches of psi_{h-1} and a_h in one parallel loop; then
                # TS(psi_{h-1}, a_h) = irfft(rfft(CS(psi_{h-1})) * rfft(CS(a_h))), written
                # straight into the last ms columns of psi_h.
                cs_psi, cs_step, spec_psi, spec_step = (a[:R] for a in sketch[:4])
                _sketch.ntk_layer_inputs(psi, relu, step, step_scale, ti, ts, si, ss, dest,
                                         cs_psi, cs_step, sketch[4], n_threads)
                rfft_rows(cs_psi, spec_psi, fft_workers)
                rfft_rows(cs_step, spec_step, fft_workers)
                multiply_spectra(spec_psi, spec_step, n_threads)
                irfft_rows(spec_psi, ms, dest[:, m1 + e:], fft_workers)
            psi = dest

    def _structured_layer(self, psi, phi, dest, relu, si, ss, ti, ts, work, step_scale, n_threads,
                          fft_workers):
        """One layer with the structured projection shared by the ReLU and step features
        (``projection="fastfood"`` or ``"sorf"``): as ``run``'s other paths, with the
        projection ``z = M phi`` computed once per row for both activations (``phi`` is
        ``psi``'s first columns, or the rotated input of sorf's first layer)."""
        proj, scales, _ = relu
        m1, ms, R = self.n_relu, self.n_sketch, psi.shape[0]
        if not ms:
            _sketch.structured_activation(phi, proj, scales, dest, 0.0, None, n_threads)
        elif self.sketch == "srht":
            self._srht_layer(psi, dest, (proj, scales, phi), None, si, ss, ti, ts, work, n_threads)
        else:
            cs_psi, cs_step, spec_psi, spec_step = (a[:R] for a in work[:4])
            _sketch.ntk_layer_inputs_structured(psi, phi, proj, scales, step_scale, ti, ts, si, ss, dest,
                                                cs_psi, cs_step, n_threads)
            rfft_rows(cs_psi, spec_psi, fft_workers)
            rfft_rows(cs_step, spec_step, fft_workers)
            multiply_spectra(spec_psi, spec_step, n_threads)
            # The TensorSketch in the orthonormal real Fourier basis (the same inner products
            # by Parseval, so the same kernel estimate), with no inverse FFT.
            real = np.float32 if psi.dtype == np.float32 else np.float64
            _sketch.spectrum_to_real_rows(spec_psi.view(real), ms, dest, m1 + self.bias_columns, n_threads)

    def _srht_layer(self, psi, dest, relu, step, si, ss, ti, ts, work, n_threads):
        """phi_h into dest[:, :m1] and TensorSRHT(psi_{h-1}, a_h) into its last ms columns:
        a_h is computed (scale packed in) then signed in place, psi_{h-1} signed into a
        buffer; both rfft'd; the sampled frequencies multiplied (SPEC section 4)."""
        R, k = psi.shape
        m0, ms, col0 = self.n_step, self.n_sketch, self.n_relu + self.bias_columns
        buf_psi, buf_step, spec_psi, spec_step = work
        buf_psi = buf_psi[:R * k].reshape(R, k)
        spec_psi = spec_psi[:R * (k // 2 + 1)].reshape(R, k // 2 + 1)
        buf_step, spec_step = buf_step[:R], spec_step[:R]
        if step is None:  # structured: one projection of phi for a_h (scaled) and phi_h
            proj, scales, phi = relu
            _sketch.structured_activation(phi, proj, scales, dest, np.sqrt(2.0 / m0), buf_step, n_threads)
        else:
            _sketch.dense_activation(psi, relu, _sketch.ACT_RELU, dest, n_threads)
            _sketch.dense_activation(psi, step, _sketch.ACT_STEP, buf_step, n_threads)
        _sketch.sign_rows(buf_step, ts, buf_step, n_threads)
        _sketch.sign_rows(psi, ss, buf_psi, n_threads)
        real = np.float32 if psi.dtype == np.float32 else np.float64
        rfft_rows(buf_psi, spec_psi, fft_threads(n_threads, R, k))
        rfft_rows(buf_step, spec_step, fft_threads(n_threads, R, m0))
        _sketch.srht_combine_rows(spec_psi.view(real), k, si, spec_step.view(real), m0, ti,
                                  np.sqrt(2.0 / ms), dest, col0, n_threads)


def structured_row_norms(diag, perm, k, m):
    """``||M_j[:k]||`` for the first ``m`` rows of the structured matrix of ``diag`` (blocks,
    stages, p) and ``perm`` (or None), in float64: the columns ``M e_c`` (c < k) computed by
    the compiled projection in chunks, squared and summed (``NTKRandomFeatures`` uses them
    for its leverage scales; tests/test_structured.py recomputes them from the explicit
    matrix)."""
    diag = np.ascontiguousarray(diag, dtype=np.float64)
    proj = _sketch.StructuredProjection(k, diag.shape[0] * diag.shape[2], diag, perm)
    sq = np.zeros(proj.m)
    for c0 in range(0, k, 512):
        c1 = min(k, c0 + 512)
        E = np.zeros((c1 - c0, k))
        E[np.arange(c1 - c0), np.arange(c0, c1)] = 1.0
        Z = np.empty((c1 - c0, proj.m))
        _sketch.structured_project(E, proj, Z, 1)
        sq += np.einsum("ij,ij->j", Z, Z)
    return np.sqrt(sq[:m])


def of(estimator):
    """The compiled feature map of a fitted transformer (its ``__ntkfast_feature_map__``)."""
    get = getattr(estimator, "__ntkfast_feature_map__", None)
    if get is None:
        raise TypeError(f"expected an ntkfast feature transformer, got {type(estimator).__name__}")
    return get()


def polysketch_plan(degrees, tree_depth):
    """The TensorSRHT products that PolySketch computes for the tensor powers ``degrees``.

    The tree has ``p = 2**tree_depth`` leaves; node ``(l, i)`` (level ``l >= 1``, index
    ``i < p / 2**l``) multiplies its children ``(l - 1, 2i)`` and ``(l - 1, 2i + 1)``.  The
    power ``x^(j)`` is the root with the input ``x`` at the first ``j`` leaves and the unit
    vector ``e1`` at the others; a subtree of ``e1`` leaves is ``e1`` itself (exactly:
    ``<e1, e1> = 1``), so a node whose right child is such a subtree is the SRHT of its left
    child alone.  A node value is named ``(l, i, a)``, ``a`` the number of ``x`` leaves in
    it: nodes full of ``x`` are shared by every power that needs them.

    Returns a list of ``(key, left, right)`` in the order of computation, ``right`` None for
    the SRHT of the left child alone; ``(0, i, 1)`` is the input.
    """
    ops, seen = [], set()

    def need(l, i, a):
        key = (l, i, a)
        if l == 0 or key in seen:
            return key
        half = 1 << (l - 1)
        left = need(l - 1, 2 * i, min(a, half))
        right = need(l - 1, 2 * i + 1, a - half) if a > half else None
        seen.add(key)
        ops.append((key, left, right))
        return key

    for j in degrees:
        need(tree_depth, 0, j)
    return ops


class NTKSketchMap(FeatureMap):
    """NTK Sketch (SPEC section 8): the NTK recursion on unit vectors with the arc-cosine
    functions replaced by polynomials with non-negative coefficients, whose features are
    PolySketches; the row is then multiplied by ``||x||``.

    Per layer ``h`` (``phi_0 = psi_0 = x / ||x||``, ``k`` the width of ``phi_{h-1}``):

    * ``Q^j(phi_{h-1})``, ``j <= q``: PolySketch of the j-th tensor power, the root of a
      binary tree of TensorSRHTs of width ``s`` (:func:`polysketch_plan`), with the signs
      and frequencies ``leaf_*`` (level 1, factors of width ``k``) and ``node_*`` (levels
      2.., factors of width ``s``), ``(n_nodes, 2, ...)``: left and right factor;
    * ``z = [1, Q^1, ..., Q^q]`` and ``phi_h = CS_1(sqrt(c) z)``, ``a_h = CS_0(sqrt(b) z)``:
      two CountSketches to ``m1`` buckets whose weights carry the square roots of the
      coefficients of ``P1`` (``c``) and ``P0`` (``b``) per block of ``z``;
    * ``psi_h = [phi_h, TensorSRHT(psi_{h-1}, a_h)]`` (width ``m1 + ms``).

    Degrees whose coefficients are zero in both polynomials are not computed.

    ``n_sketch == 0`` is the direct map (``NTKSketch(method="direct")``, the authors'
    ``ntk_sketch.py``): one polynomial ``relu_coefs`` of the whole NTK on unit rows, one tree
    and ``phi = CS(sqrt(c) z)`` of width ``n_relu``, times ``||x||``; ``step_coefs`` is
    empty, the per-layer lists hold one entry and the lists of the tangent term none.
    """

    def __init__(self, n_features, n_relu, n_sketch, n_poly, dtype, relu_coefs, step_coefs,
                 leaf_signs, leaf_freqs, node_signs, node_freqs, relu_hash, relu_signs,
                 step_hash, step_signs, sketch_signs, sketch_freqs, step_sketch_signs,
                 step_sketch_freqs):
        dtype = np.dtype(dtype)
        d, m1, ms, s = n_features, n_relu, n_sketch, n_poly
        for name, v, lo in (("n_relu_", m1, 1), ("n_sketch_", ms, 0), ("n_poly_", s, 2)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")
        if ms % 2 or s % 2:
            raise ValueError(f"n_sketch_, n_poly_: expected even widths (TensorSRHT), got {ms}, {s}")
        direct = ms == 0
        c = np.array(relu_coefs, dtype=np.float64)
        if c.ndim != 1 or c.shape[0] < 3 or not np.all(np.isfinite(c)) or np.any(c < 0):
            raise ValueError(f"relu_coefs_: expected a 1-D array of at least 3 finite values >= 0 "
                             f"(degree >= 2), got {c!r}")
        q = c.shape[0] - 1
        b = np.array(step_coefs, dtype=np.float64)
        want = 0 if direct else q + 1
        if b.shape != (want,) or not np.all(np.isfinite(b)) or np.any(b < 0):
            raise ValueError(f"step_coefs_: expected a 1-D array of {want} finite values >= 0 "
                             f"({'none for the direct map' if direct else 'the degree of relu_coefs_'}), got {b!r}")
        coefs = [c, b if not direct else np.zeros(q + 1)]
        T = (q - 1).bit_length()
        p = 1 << T
        depth = len(relu_hash) if isinstance(relu_hash, (list, tuple)) else 0
        if depth < 1 or (direct and depth != 1):
            raise ValueError(f"relu_hash_: expected {'one layer (the direct map)' if direct else 'at least one layer'}, "
                             f"got {depth}")
        lists = dict(leaf_signs_=leaf_signs, leaf_freqs_=leaf_freqs, node_signs_=node_signs,
                     node_freqs_=node_freqs, relu_signs_=relu_signs, step_hash_=step_hash,
                     step_signs_=step_signs, sketch_signs_=sketch_signs, sketch_freqs_=sketch_freqs,
                     step_sketch_signs_=step_sketch_signs, step_sketch_freqs_=step_sketch_freqs)
        tangent = ("step_hash_", "step_signs_", "sketch_signs_", "sketch_freqs_", "step_sketch_signs_",
                   "step_sketch_freqs_")
        for name, values in lists.items():
            n_lists = 0 if direct and name in tangent else depth
            if not isinstance(values, (list, tuple)) or len(values) != n_lists:
                raise ValueError(f"{name}: expected a list of {n_lists} arrays (one per layer), got "
                                 f"{type(values).__name__} of length {len(values) if hasattr(values, '__len__') else '?'}")
        self.degrees = [j for j in range(1, q + 1) if coefs[0][j] > 0 or coefs[1][j] > 0]
        self.plan = polysketch_plan(self.degrees, T)
        width_z = 1 + q * s
        self._layers = []
        k, k_psi = d, d
        for h in range(depth):
            leaves = self._tree_level(leaf_signs[h], leaf_freqs[h], p // 2, k, s, f"[{h}]", "leaf")
            nodes = self._tree_level(node_signs[h], node_freqs[h], p // 2 - 1, s, s, f"[{h}]", "node")
            ri, rs = check_hash(relu_hash[h], relu_signs[h], width_z, m1,
                                f"relu_hash_[{h}]", f"relu_signs_[{h}]")
            if direct:
                self._layers.append((leaves, nodes, ri, rs) + (None,) * 6 + (k, k_psi))
                break
            ti, ts = check_hash(step_hash[h], step_signs[h], width_z, m1,
                                f"step_hash_[{h}]", f"step_signs_[{h}]")
            si, ss = check_srht(sketch_freqs[h], sketch_signs[h], k_psi, ms // 2,
                                f"sketch_freqs_[{h}]", f"sketch_signs_[{h}]")
            ai, as_ = check_srht(step_sketch_freqs[h], step_sketch_signs[h], m1, ms // 2,
                                 f"step_sketch_freqs_[{h}]", f"step_sketch_signs_[{h}]")
            self._layers.append((leaves, nodes, ri, rs, ti, ts, si, ss, ai, as_, k, k_psi))
            k, k_psi = m1, m1 + ms
        # The weights of the two CountSketches: sign * sqrt(coefficient) per block of z.
        block = np.concatenate([[0], np.repeat(np.arange(1, q + 1), s)])
        self._roots = (np.sqrt(coefs[0])[block], np.sqrt(coefs[1])[block])
        n_values = len(self.plan)
        d_max = max(d, m1 + ms)
        # z, the tree's node values and their signed spectra (at most two per node), phi,
        # a_h, psi, the unit rows, the signed rows and spectra of the TensorSRHT.
        per_row = (width_z + n_values * s + 2 * n_values * (max(d, m1, s) + 2) + 2 * m1
                   + 2 * (m1 + ms) + d + 3 * (d_max + 2))
        super().__init__(d, m1 + ms, dtype, per_row)
        self.depth, self.degree, self.n_relu, self.n_sketch, self.n_poly = depth, q, m1, ms, s
        self.tree_depth, self.direct = T, direct
        self.compiled(dtype)

    @staticmethod
    def _tree_level(signs, freqs, n_nodes, k, s, where, what):
        """Validated ``(signs (n_nodes, 2, k) as float64, freqs (n_nodes, 2, s/2) intp)``."""
        signs_name, freqs_name = f"{what}_signs_{where}", f"{what}_freqs_{where}"
        for name, a, shape in ((signs_name, signs, (n_nodes, 2, k)), (freqs_name, freqs, (n_nodes, 2, s // 2))):
            if not isinstance(a, np.ndarray) or a.shape != shape:
                raise ValueError(f"{name}: expected an array of shape {shape}, got "
                                 f"{getattr(a, 'shape', type(a).__name__)}")
        out_s = np.empty((n_nodes, 2, k))
        out_f = np.empty((n_nodes, 2, s // 2), dtype=np.intp)
        for i in range(n_nodes):
            for side in range(2):
                out_f[i, side], out_s[i, side] = check_srht(freqs[i, side], signs[i, side], k, s // 2,
                                                            freqs_name, signs_name)
        return out_s, out_f

    def _compile(self, dtype):
        wa, wb = self._roots
        layers = []
        for leaves, nodes, ri, rs, ti, ts, si, ss, ai, as_, k, k_psi in self._layers:
            tree = ((leaves[0].astype(dtype), leaves[1]), (nodes[0].astype(dtype), nodes[1]),
                    ri, (rs * wa).astype(dtype))
            if self.direct:
                layers.append(tree + (None,) * 6 + (k, k_psi))
                continue
            layers.append(tree + (ti, (ts * wb).astype(dtype),
                                  si, ss.astype(dtype), ai, as_.astype(dtype), k, k_psi))
        return layers

    def workspace(self, rows, dtype, n_threads):
        """Arrays made on first use by each batch size (a dict: name -> array), reused by
        every batch of a transform."""
        return {"rows": rows}

    @staticmethod
    def _buffer(ws, name, R, width, dtype):
        a = ws.get(name)
        if a is None or a.shape[1] != width or a.dtype != dtype:
            a = ws[name] = np.empty((ws["rows"], width), dtype=dtype)
        return a[:R]

    def _spectrum(self, ws, name, value, signs, n_threads):
        """rfft of ``signs * value`` (rows), in work arrays named after ``name`` and the width
        (each spectrum is consumed before the next one of its name is computed)."""
        R, k = value.shape
        dtype = value.dtype
        buf = self._buffer(ws, ("signed", k), R, k, dtype)
        _sketch.sign_rows(value, signs, buf, n_threads)
        spec = self._buffer(ws, ("spec", name, k), R, k // 2 + 1, complex_dtype(dtype))
        rfft_rows(buf, spec, fft_threads(n_threads, R, k))
        real = np.float32 if dtype == np.float32 else np.float64
        return spec.view(real)

    def polysketch(self, x, layer, ws, n_threads, z):
        """The PolySketch powers of ``x`` (rows) into ``z[:, 1 + (j - 1) s: 1 + j s]``."""
        (leaf_s, leaf_f), (node_s, node_f) = layer[0], layer[1]
        s, T, R = self.n_poly, self.tree_depth, x.shape[0]
        values, spectra = {}, {}
        scale = np.sqrt(2.0 / s)

        def spectrum(name, value, signs):
            # A child's signed spectrum is computed once per batch: the leaves x of a node
            # and its full subtrees feed several powers (e.g. (1, 0, 2) feeds x^2, x^3, x^4).
            if name not in spectra:
                spectra[name] = self._spectrum(ws, name, value, signs, n_threads)
            return spectra[name]

        for key, left, right in self.plan:
            l, i, a = key
            # the node's factors: level 1 in leaf_*, levels 2.. in node_* (level by level)
            if l == 1:
                signs, freqs = leaf_s[i], leaf_f[i]
            else:
                off = sum((1 << T) >> ll for ll in range(2, l))
                signs, freqs = node_s[off + i], node_f[off + i]
            if l == T:
                dest, col0 = z, 1 + (a - 1) * s
            else:
                dest, col0 = self._buffer(ws, ("value",) + key, R, s, x.dtype), 0
            lv = x if left[0] == 0 else values[left]
            spec_l = spectrum((l, i, 0, left), lv, signs[0])
            if right is None:  # the right subtree is e1: its signed DFT is signs[1][0]
                _polysketch.srht_sample_rows(spec_l, lv.shape[1], freqs[0], scale * signs[1][0],
                                             dest, col0, n_threads)
            else:
                rv = x if right[0] == 0 else values[right]
                spec_r = spectrum((l, i, 1, right), rv, signs[1])
                _sketch.srht_combine_rows(spec_l, lv.shape[1], freqs[0], spec_r, rv.shape[1], freqs[1],
                                          scale, dest, col0, n_threads)
            values[key] = dest[:, col0:col0 + s] if l == T else dest
        return z

    def run(self, Xb, out, compiled, ws, n_threads):
        dtype = Xb.dtype
        R = Xb.shape[0]
        m1, ms, s, q = self.n_relu, self.n_sketch, self.n_poly, self.degree
        norms = np.sqrt(np.add.reduce(Xb * Xb, axis=1))
        x = self._buffer(ws, "unit", R, self.n_features, dtype)
        np.divide(Xb, np.where(norms > 0, norms, 1)[:, None], out=x)
        z = self._buffer(ws, "z", R, 1 + q * s, dtype)
        z[:, 0] = 1
        for j in range(1, q + 1):
            if j not in self.degrees:  # weight zero in both sketches: any finite value
                z[:, 1 + (j - 1) * s:1 + j * s] = 0
        if self.direct:  # one polynomial of the whole NTK, one CountSketch
            ri, rw = compiled[0][2:4]
            self.polysketch(x, compiled[0], ws, n_threads, z)
            _sketch.count_sketch_rows(z, ri, rw, out, m1, n_threads)
            out *= norms.astype(dtype, copy=False)[:, None]
            return
        step = self._buffer(ws, "step", R, m1, dtype)
        phi, psi = x, x
        for h, layer in enumerate(compiled):
            ri, rw, ti, tw, si, ss, ai, as_, k, k_psi = layer[2:]
            dest = out if h == self.depth - 1 else self._buffer(ws, ("psi", h % 2), R, m1 + ms, dtype)
            self.polysketch(phi, layer, ws, n_threads, z)
            _polysketch.dual_count_sketch_rows(z, ri, rw, dest, m1, ti, tw, step, m1, n_threads)
            spec_psi = self._spectrum(ws, "L", psi, ss, n_threads)
            spec_step = self._spectrum(ws, "R", step, as_, n_threads)
            _sketch.srht_combine_rows(spec_psi, k_psi, si, spec_step, m1, ai, np.sqrt(2.0 / ms),
                                      dest, m1, n_threads)
            if h < self.depth - 1:  # the next PolySketch signs and FFTs contiguous rows
                phi = self._buffer(ws, "phi", R, m1, dtype)
                phi[...] = dest[:, :m1]
            psi = dest
        out *= norms.astype(dtype, copy=False)[:, None]


class NystroemMap(FeatureMap):
    """Nystroem features of an exact kernel: ``kernel(X, C) @ N``, ``C`` the ``m`` landmark
    rows and ``N`` (``m x r``) the normalisation, so that the features' inner products are
    ``K_xC N N^T K_Cy``.

    Per batch: the cosines to the landmarks by the fused dense kernel (as the exact kernels
    compute them, :mod:`ntkfast._engine.exact`), the kernel recursion in place
    (``_exact.exact_kernel_block``), then the product with ``N`` by the same dense kernel.
    Every output element is computed by the same operations wherever its row falls, so
    neither the batch nor the thread count changes a bit.
    """

    def __init__(self, components, normalization, kind, depth, bias, dtype):
        dtype = np.dtype(dtype)
        if kind not in ("ntk", "nngp"):
            raise ValueError(f"kernel_: expected 'ntk' or 'nngp', got {kind!r}")
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth_: expected an integer in [1, {MAX_DEPTH}], got {depth!r}")
        if isinstance(bias, bool) or not isinstance(bias, (int, float, np.integer, np.floating)) \
                or not 0 <= bias < np.inf:
            raise ValueError(f"bias_: expected a finite number >= 0, got {bias!r}")
        if not isinstance(components, np.ndarray) or components.ndim != 2 or 0 in components.shape:
            raise ValueError(f"components_: expected a non-empty 2-D array, got "
                             f"{getattr(components, 'shape', type(components).__name__)!r}")
        m, d = components.shape
        check_weights(components, (m, d), dtype, "components_")
        if not isinstance(normalization, np.ndarray) or normalization.ndim != 2 \
                or normalization.shape[0] != m or normalization.shape[1] < 1:
            raise ValueError(f"normalization_: expected an array of shape ({m}, r), r >= 1 (one row "
                             f"per landmark), got {getattr(normalization, 'shape', type(normalization).__name__)!r}")
        r = normalization.shape[1]
        check_weights(normalization, (m, r), np.float64, "normalization_")
        super().__init__(d, r, dtype, m)
        self.kind, self.depth, self.bias, self.n_landmarks = kind, int(depth), float(bias), m
        self._kind_code = KERNEL_KINDS[kind]
        # The landmarks' norms (float64) and unit rows, as the exact kernels normalise rows.
        self._norms, self._unit = norms_and_unit_rows(components, np.float64)
        self._normalization = normalization
        self.compiled(dtype)

    def _compile(self, dtype):
        return (_sketch.packed_weights(_cast(self._unit, dtype), None),
                _sketch.packed_weights(_cast(self._normalization.T, dtype), None))

    def workspace(self, rows, dtype, n_threads):
        """The kernel values of one batch against the landmarks (reused by every batch)."""
        return np.empty((rows, self.n_landmarks), dtype=dtype)

    def run(self, Xb, out, compiled, workspace, n_threads):
        landmarks, normalization = compiled
        R = Xb.shape[0]
        norms, unit = norms_and_unit_rows(Xb, Xb.dtype)
        K = workspace[:R]
        _sketch.dense_activation(unit, landmarks, _sketch.ACT_IDENTITY, K, n_threads)
        # A kernel value that is not finite reaches the features, which the batch loop checks.
        _exact.exact_kernel_block(K, norms, self._norms, -1, self._kind_code, self.depth, self.bias,
                                  n_threads)
        _sketch.dense_activation(K, normalization, _sketch.ACT_IDENTITY, out, n_threads)
