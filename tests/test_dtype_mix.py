"""Fit in one float dtype, transform or predict in the other, in memory and through dask.

The documented rule (README): features are computed in ``numpy.result_type(X, dtype_)``, so
float32 only when both the fit and ``X`` are float32; ridge predictions are float64.  Both
mixes therefore compute in float64, and the values are checked against float64 references
recomputed from the fitted attributes with plain numpy (helpers of tests/reference.py) at a tolerance
(1e-10 relative) far below float32 rounding (6e-8): a path that casts ``X`` to float32 fails.
The dask path must give the in-memory result of the same rows.
"""
import numpy as np
import pytest

import ntkfast
import reference as R

FLOAT64_RTOL = 1e-10   # float64 arithmetic on these sizes: ~1e-14; float32 rounding: ~1e-7
MIXES = [(np.float32, np.float64), (np.float64, np.float32)]   # (fit dtype, input dtype)
MIX_IDS = ["fit32-input64", "fit64-input32"]


def _data(dtype, n=40, d=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def _estimators():
    return {
        "ArcCosineFeatures": ntkfast.ArcCosineFeatures(order=1, n_components=64, random_state=0),
        "NTKRandomFeatures": ntkfast.NTKRandomFeatures(depth=2, n_components=96, sketch_components=32,
                                                       random_state=0),
        "NTKRidge": ntkfast.NTKRidge(depth=2, n_components=96, sketch_components=32, alpha=0.1,
                                     random_state=0),
        "NTKRidgeClassifier": ntkfast.NTKRidgeClassifier(n_components=64, alpha=0.1, random_state=0),
        "ExactNTKRidge": ntkfast.ExactNTKRidge(depth=2, alpha=0.1),
    }


NAMES = sorted(_estimators())


def _fit(name, fit_dtype):
    est = _estimators()[name]
    X = _data(fit_dtype)
    if name in ("ArcCosineFeatures", "NTKRandomFeatures"):
        return est.fit(X)
    y = np.sin(X.astype(np.float64).sum(axis=1))
    return est.fit(X, (y > 0).astype(int) if name == "NTKRidgeClassifier" else y)


def _features_reference(est, X):
    """The features of float64 ``X`` from the fitted attributes, in float64 (the ReLU scales
    are the fitted ``scales_`` / ``relu_scales_``, in ``dtype_``; the step scale sqrt(2/m)
    is a constant of the compute dtype)."""
    if isinstance(est, ntkfast.ArcCosineFeatures):
        assert est.order == 1
        return np.maximum(X @ est.weights_.astype(np.float64).T, 0) * est.scales_.astype(np.float64)
    phi = psi = X
    for h in range(est.depth):
        step = R._step_features(phi, est.step_weights_[h])
        phi = np.maximum(phi @ est.relu_weights_[h].astype(np.float64).T, 0) * est.relu_scales_[h].astype(np.float64)
        ms = est.n_sketch_
        c1 = R.count_sketch(psi, est.sketch_indices_[h], est.sketch_signs_[h], ms)
        c2 = R.count_sketch(step, est.step_indices_[h], est.step_signs_[h], ms)
        psi = np.concatenate([phi, R.tensor_sketch_fft(c1, c2)], axis=1)
    return psi


def _output(est, X):
    """What the estimator returns for X: features, regression values or decision values."""
    if hasattr(est, "transform"):
        return est.transform(X)
    if hasattr(est, "decision_function"):
        return est.decision_function(X)
    return est.predict(X)


def _reference(est, X):
    """(float64 reference, elementwise magnitude bounding the rounding) from fitted attributes."""
    X = np.asarray(X, dtype=np.float64)
    if hasattr(est, "transform"):
        P = _features_reference(est, X)
        return P, np.abs(P)
    if isinstance(est, ntkfast.ExactNTKRidge):
        K = R.exact_kernels(X, est.X_fit_, depth=est.depth, bias=est.bias)[0].astype(np.float64)
        A = est.dual_coef_
        return K @ A + est.intercept_, np.abs(K) @ np.abs(A) + np.abs(est.intercept_)
    P = _features_reference(est.features_, X)
    W, b = est.coef_, est.intercept_
    if isinstance(est, ntkfast.NTKRidgeClassifier) and W.shape[0] == 1:   # two classes: 1-D
        W, b = W[0], b[0]
    return P @ W.T + b, np.abs(P) @ np.abs(W).T + np.abs(b)


def _assert_float64_close(got, ref, magnitude):
    assert got.dtype == np.float64
    assert got.shape == ref.shape
    err = np.abs(got - ref)
    bound = FLOAT64_RTOL * (magnitude + magnitude.max())
    assert np.all(err <= bound), f"worst error {np.max(err / (magnitude + magnitude.max())):.3g} (relative)"


@pytest.mark.parametrize("fit_dtype, in_dtype", MIXES, ids=MIX_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_mixed_dtypes_in_memory(name, fit_dtype, in_dtype):
    est = _fit(name, fit_dtype)
    X = _data(in_dtype, n=13, seed=1)
    got = _output(est, X)
    ref, magnitude = _reference(est, X)
    _assert_float64_close(got, ref, magnitude)
    if name == "NTKRidgeClassifier":
        np.testing.assert_array_equal(est.predict(X), est.classes_[(ref > 0).astype(int)])


@pytest.mark.parametrize("name", NAMES)
def test_float64_input_is_not_rounded_to_float32(name):
    # Fitted on float32, given float64 rows that round to the same float32 rows: the outputs
    # must differ (a float32 path would return equal ones).
    est = _fit(name, np.float32)
    X = _data(np.float64, n=13, seed=1)
    X2 = X * (1 + 2.0**-40)
    assert np.array_equal(X.astype(np.float32), X2.astype(np.float32)) and not np.array_equal(X, X2)
    assert not np.array_equal(_output(est, X), _output(est, X2))


@pytest.mark.parametrize("fit_dtype, in_dtype", MIXES, ids=MIX_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_mixed_dtypes_through_dask(name, fit_dtype, in_dtype):
    da = pytest.importorskip("dask.array")
    est = _fit(name, fit_dtype)
    X = _data(in_dtype, n=13, seed=1)
    lazy = _output(est, da.from_array(X, chunks=(5, -1)))   # uneven blocks: 5, 5, 3
    got = lazy.compute(scheduler="synchronous") if hasattr(lazy, "compute") else np.asarray(lazy)
    ref, magnitude = _reference(est, X)
    _assert_float64_close(got, ref, magnitude)
    # the same rows in memory (when that path works): same values to float64 rounding
    try:
        in_memory = _output(est, X)
    except Exception:   # reported by test_mixed_dtypes_in_memory
        return
    np.testing.assert_allclose(got, in_memory, rtol=1e-12, atol=1e-12 * np.abs(in_memory).max())
