"""Plain, slow, independent numpy reference for ntkfast.

Written directly from the mathematics (arc-cosine kernels, the NTK/NNGP recursion,
CountSketch / TensorSketch and the NTK random-feature construction).  Nothing here is
meant to be fast; everything is meant to be obviously correct.
"""
import numpy as np

LD = np.longdouble
PI_LD = np.arccos(LD(-1))


# ---------------------------------------------------------------------------
# Arc-cosine functions
# ---------------------------------------------------------------------------
def kappa0(t):
    """kappa0(t) = 1 - arccos(t)/pi, with t clipped to [-1, 1]."""
    t = np.asarray(t)
    dt = t.dtype if t.dtype == LD else np.float64
    pi = PI_LD if dt == LD else np.pi
    t = np.clip(t.astype(dt), -1, 1)
    return 1 - np.arccos(t) / pi


def kappa1(t):
    """kappa1(t) = (sqrt(1 - t^2) + t (pi - arccos t)) / pi, with t clipped to [-1, 1]."""
    t = np.asarray(t)
    dt = t.dtype if t.dtype == LD else np.float64
    pi = PI_LD if dt == LD else np.pi
    t = np.clip(t.astype(dt), -1, 1)
    return (np.sqrt(np.maximum(1 - t * t, 0)) + t * (pi - np.arccos(t))) / pi


# ---------------------------------------------------------------------------
# Exact kernels (longdouble)
# ---------------------------------------------------------------------------
def _gram_and_norms(X, Y):
    X = np.asarray(X, dtype=LD)
    if Y is None:
        G = X @ X.T
        nx = np.diag(G).copy()
        ny = nx.copy()
    else:
        Y = np.asarray(Y, dtype=LD)
        G = X @ Y.T
        nx = np.sum(X * X, axis=1)
        ny = np.sum(Y * Y, axis=1)
    return G, nx, ny


def _safe_rho(S, sxx, syy):
    """rho = S / sqrt(sxx syy), with rho = 0 where the denominator is 0."""
    den = np.sqrt(np.multiply.outer(sxx, syy))
    rho = np.zeros_like(S)
    nz = den > 0
    rho[nz] = S[nz] / den[nz]
    return np.clip(rho, -1, 1), den


def exact_kernels(X, Y=None, depth=1, bias=0.0):
    """Return (ntk, nngp) of a depth-`depth` ReLU network, as longdouble arrays.

    bias is the bias *variance* b^2, added to every Sigma_h including Sigma_0.
    """
    depth = int(depth)
    assert depth >= 1
    b = LD(bias)
    G, nx, ny = _gram_and_norms(X, Y)
    sigma = G + b            # Sigma_0(x, y)
    sxx = nx + b             # Sigma_0(x, x)
    syy = ny + b
    theta = sigma.copy()     # Theta_0
    for _ in range(depth):
        rho, den = _safe_rho(sigma, sxx, syy)
        sigma_dot = kappa0(rho)
        sigma = den * kappa1(rho) + b
        theta = theta * sigma_dot + sigma
        sxx = sxx + b
        syy = syy + b
    return theta, sigma


def arccos_kernel(X, Y=None, order=0):
    """Arc-cosine kernel of order 0 (kappa0(rho)) or 1 (||x|| ||y|| kappa1(rho)).

    Order 0: any pair involving a zero row gives 0 (step(0) = 0 in the features).
    """
    G, nx, ny = _gram_and_norms(X, Y)
    rho, den = _safe_rho(G, nx, ny)
    if order == 0:
        K = kappa0(rho)
        K[den == 0] = 0
        return K
    if order == 1:
        return den * kappa1(rho)
    raise ValueError("order must be 0 or 1")


# ---------------------------------------------------------------------------
# Sketches
# ---------------------------------------------------------------------------
def count_sketch(X, indices, signs, D):
    """out[:, b] = sum_{j : indices[j] == b} signs[j] * X[:, j]  (plain loop)."""
    X = np.asarray(X, dtype=np.float64)
    indices = np.asarray(indices).astype(np.int64)
    signs = np.asarray(signs).astype(np.float64)
    outT = np.zeros((int(D), X.shape[0]), dtype=np.float64)
    np.add.at(outT, indices, (X * signs[None, :]).T)
    return outT.T.copy()


def tensor_sketch_explicit(U, V, iu, su, iv, sv, D):
    """CountSketch of the explicit row-wise tensor product u (x) v.

    Coordinate (i, j) of u (x) v is hashed to (iu[i] + iv[j]) mod D with sign su[i] sv[j].
    """
    U = np.asarray(U, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    n, ku = U.shape
    kv = V.shape[1]
    T = (U[:, :, None] * V[:, None, :]).reshape(n, ku * kv)
    idx = ((np.asarray(iu, dtype=np.int64)[:, None] + np.asarray(iv, dtype=np.int64)[None, :]) % D).ravel()
    sg = (np.asarray(su, dtype=np.float64)[:, None] * np.asarray(sv, dtype=np.float64)[None, :]).ravel()
    return count_sketch(T, idx, sg, D)


def tensor_sketch_product_explicit(factors, indices, signs, D):
    """CountSketch of the explicit p-fold row-wise tensor product of `factors`."""
    factors = [np.asarray(F, dtype=np.float64) for F in factors]
    n = factors[0].shape[0]
    T = np.ones((n, 1))
    idx = np.zeros(1, dtype=np.int64)
    sg = np.ones(1)
    for F, ii, ss in zip(factors, indices, signs):
        T = (T[:, :, None] * F[:, None, :]).reshape(n, -1)
        idx = (idx[:, None] + np.asarray(ii, dtype=np.int64)[None, :]).ravel()
        sg = (sg[:, None] * np.asarray(ss, dtype=np.float64)[None, :]).ravel()
    return count_sketch(T, idx % D, sg, D)


def circular_convolution(A, B):
    """Row-wise length-D circular convolution, computed by the O(D^2) definition."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    D = A.shape[1]
    out = np.zeros_like(A)
    for s in range(D):
        out += A[:, [s]] * np.roll(B, s, axis=1)
    return out


def tensor_sketch_fft(A_cs, B_cs):
    """irfft(rfft(a) * rfft(b), n=D) with numpy.fft."""
    D = A_cs.shape[1]
    return np.fft.irfft(np.fft.rfft(A_cs, axis=1) * np.fft.rfft(B_cs, axis=1), n=D, axis=1)


# ---------------------------------------------------------------------------
# Random features, recomputed from fitted attributes
# ---------------------------------------------------------------------------
def _relu_features(Z, W, leverage):
    """sqrt(2/m) relu(Z W^T), or its leverage-reweighted version."""
    W = np.asarray(W, dtype=np.float64)
    m, dim_in = W.shape
    P = np.maximum(Z @ W.T, 0.0) * np.sqrt(2.0 / m)
    if leverage:
        P = P * (np.sqrt(dim_in) / np.linalg.norm(W, axis=1))[None, :]
    return P


def _step_features(Z, W, leverage=False):
    W = np.asarray(W, dtype=np.float64)
    m, dim_in = W.shape
    P = (Z @ W.T > 0).astype(np.float64) * np.sqrt(2.0 / m)
    if leverage:
        P = P * (np.sqrt(dim_in) / np.linalg.norm(W, axis=1))[None, :]
    return P


def arccos_leverage(leverage, order):
    """The documented meaning of ArcCosineFeatures(leverage=...): "auto" is leverage
    sampling for order 1 (ReLU) only."""
    return order == 1 if isinstance(leverage, str) and leverage == "auto" else bool(leverage)


def arccos_features_reference(X, est):
    X = np.asarray(X, dtype=np.float64)
    leverage = arccos_leverage(est.leverage, est.order)
    if est.order == 0:
        return _step_features(X, est.weights_, leverage)
    return _relu_features(X, est.weights_, leverage)


def ntk_features_reference(X, est, use_fft=True):
    """Recompute NTKRandomFeatures.transform(X) from the fitted attributes, float64."""
    X = np.asarray(X, dtype=np.float64)
    ntk = est.kernel == "ntk"
    phi = X
    psi = X
    for h in range(est.depth):
        a = _step_features(phi, est.step_weights_[h]) if ntk else None
        phi_new = _relu_features(phi, est.relu_weights_[h], est.leverage)
        if ntk:
            ms = est.n_sketch_
            c1 = count_sketch(psi, est.sketch_indices_[h], est.sketch_signs_[h], ms)
            c2 = count_sketch(a, est.step_indices_[h], est.step_signs_[h], ms)
            ts = tensor_sketch_fft(c1, c2) if use_fft else circular_convolution(c1, c2)
            psi = np.concatenate([phi_new, ts], axis=1)
        phi = phi_new
    return psi if ntk else phi


def preactivation_margin(X, est):
    """Smallest |w . z| / (||w|| ||z||) over all step pre-activations of the reference.

    Used by float32 tests to make sure no step activation sits on a rounding tie.
    """
    X = np.asarray(X, dtype=np.float64)
    margins = []
    if hasattr(est, "weights_"):
        Ws, inputs = ([est.weights_], [X]) if est.order == 0 else ([], [])
    else:
        Ws, inputs = [], []
        phi = X
        for h in range(est.depth):
            if est.kernel == "ntk":
                Ws.append(est.step_weights_[h])
                inputs.append(phi)
            phi = _relu_features(phi, est.relu_weights_[h], est.leverage)
    for W, Z in zip(Ws, inputs):
        W = np.asarray(W, dtype=np.float64)
        den = np.outer(np.linalg.norm(Z, axis=1), np.linalg.norm(W, axis=1))
        num = np.abs(Z @ W.T)
        ok = den > 0
        if ok.any():
            margins.append(np.min(num[ok] / den[ok]))
    return min(margins) if margins else np.inf


# ---------------------------------------------------------------------------
# NTK Sketch (SPEC section 8)
# ---------------------------------------------------------------------------
def poly_ntk_kernel(X, relu_coefs, step_coefs, depth):
    """The NTK recursion of SPEC section 2 on the unit rows with kappa1 -> P1 and
    kappa0 -> P0 (dot-product kernels, composed exactly), times ||x|| ||y||: the kernel that
    NTK Sketch estimates.  float64."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    U = X / np.where(norms > 0, norms, 1)[:, None]
    P1 = np.polynomial.Polynomial(relu_coefs)
    P0 = np.polynomial.Polynomial(step_coefs)
    sigma = U @ U.T
    theta = sigma.copy()
    for _ in range(depth):
        sigma, dot = P1(sigma), P0(sigma)
        theta = theta * dot + sigma
    return theta * np.outer(norms, norms)


def tensor_srht_fft(U, V, su, fu, sv, fv, D):
    """TensorSRHT of rows U and V (SPEC section 4) with full complex FFTs:
    sqrt(2/D) [Re, Im] of FFT(su U)[:, fu] * FFT(sv V)[:, fv]."""
    Z = np.fft.fft(U * su, axis=1)[:, fu] * np.fft.fft(V * sv, axis=1)[:, fv]
    return np.sqrt(2.0 / D) * np.concatenate([Z.real, Z.imag], axis=1)


def polysketch_reference(X, j, q, leaf_signs, leaf_freqs, node_signs, node_freqs, s):
    """PolySketch of the j-th tensor power of the rows of X (SPEC section 8): the binary tree
    of p = 2**ceil(log2 q) leaves, x at the first j leaves and e1 at the others; a subtree
    of e1 leaves is e1; node (l, i) multiplies its children by TensorSRHT with the signs and
    frequencies of node i of level l (level 1: leaf_*, levels 2..: node_*, level by level)."""
    n, k = X.shape
    T = (q - 1).bit_length()

    def e1(width):
        out = np.zeros((n, width))
        out[:, 0] = 1.0
        return out

    def node(l, i, a):
        if a == 0:
            return e1(k if l == 0 else s)
        if l == 0:
            return X
        half = 2 ** (l - 1)
        left, right = node(l - 1, 2 * i, min(a, half)), node(l - 1, 2 * i + 1, max(0, a - half))
        if l == 1:
            sg, fr = leaf_signs[i], leaf_freqs[i]
        else:
            off = sum(2 ** T // 2 ** ll for ll in range(2, l))
            sg, fr = node_signs[off + i], node_freqs[off + i]
        return tensor_srht_fft(left, right, sg[0], fr[0], sg[1], fr[1], s)

    return node(T, 0, j)


def ntk_on_unit_rows(t, depth):
    """Theta_L of two unit rows with cosine t (SPEC section 2, no bias), float64."""
    t = np.clip(np.asarray(t, dtype=np.float64), -1, 1)
    sigma = theta = t
    for _ in range(depth):
        sigma, dot = kappa1(sigma).astype(np.float64), kappa0(sigma).astype(np.float64)
        theta = theta * dot + sigma
    return theta


def ntk_sketch_reference(X, est):
    """Recompute NTKSketch.transform(X) from the fitted attributes, float64."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    U = X / np.where(norms > 0, norms, 1)[:, None]
    c, b = est.relu_coefs_, est.step_coefs_
    q, s, m1, ms = len(c) - 1, est.n_poly_, est.n_relu_, est.n_sketch_
    if ms == 0:  # method="direct": one polynomial of the whole NTK, one tree, one CountSketch
        Z = np.concatenate([np.ones((X.shape[0], 1))] + [
            polysketch_reference(U, j, q, est.leaf_signs_[0], est.leaf_freqs_[0],
                                 est.node_signs_[0], est.node_freqs_[0], s) for j in range(1, q + 1)], axis=1)
        weights = np.sqrt(c[np.concatenate([[0], np.repeat(np.arange(1, q + 1), s)])])
        return count_sketch(Z * weights, est.relu_hash_[0], est.relu_signs_[0], m1) * norms[:, None]
    phi = psi = U
    for h in range(est.depth):
        blocks = [np.ones((X.shape[0], 1))]
        for j in range(1, q + 1):
            blocks.append(polysketch_reference(phi, j, q, est.leaf_signs_[h], est.leaf_freqs_[h],
                                               est.node_signs_[h], est.node_freqs_[h], s))
        coef_of_column = np.concatenate([[0], np.repeat(np.arange(1, q + 1), s)])
        Z = np.concatenate(blocks, axis=1)
        phi_new = count_sketch(Z * np.sqrt(c[coef_of_column]), est.relu_hash_[h], est.relu_signs_[h], m1)
        a = count_sketch(Z * np.sqrt(b[coef_of_column]), est.step_hash_[h], est.step_signs_[h], m1)
        ts = tensor_srht_fft(psi, a, est.sketch_signs_[h], est.sketch_freqs_[h],
                             est.step_sketch_signs_[h], est.step_sketch_freqs_[h], ms)
        psi = np.concatenate([phi_new, ts], axis=1)
        phi = phi_new
    return psi * norms[:, None]
