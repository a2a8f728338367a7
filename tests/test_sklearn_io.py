"""ntkfast's estimators as scikit-learn citizens (issue 16, items 1 and 2).

Each behaviour is checked against scikit-learn's own estimators on the same calls
(``RBFSampler`` for a transformer, ``Ridge`` / ``RidgeClassifier`` for the learners): the same
exception types, the same ``get_feature_names_out`` convention, the same output containers;
and the numbers against the dense float64 results.

* column names: ``feature_names_in_``, the order check, ``get_feature_names_out``;
* output containers: ``set_output`` and ``sklearn.set_config(transform_output=...)``;
* pandas frames, nullable dtypes included;
* sparse X (densified one batch of rows at a time) and integer X (cast to float64);
* parameter errors are ``InvalidParameterError``;
* model files keep the column names.
"""
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.kernel_approximation import RBFSampler
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import ntkfast
from ntkfast.io import ModelFileError, load_model, save_model

N, D = 40, 5
COLUMNS = ["age", "height", "weight", "score", "rank"]


def _X(n=N, d=D, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, (n, 1))).astype(dtype)


def _y(n):
    # Targets depend on the row count only: the same for every container of X.
    return np.sin(np.arange(n) * 0.7) + 0.1 * np.arange(n) % 1.3


TRANSFORMERS = {
    "ArcCosineFeatures": lambda: ntkfast.ArcCosineFeatures(order=1, n_components=16, random_state=0),
    "NTKRandomFeatures": lambda: ntkfast.NTKRandomFeatures(depth=2, n_components=32, random_state=0),
}
LEARNERS = {
    "NTKRidge": lambda: ntkfast.NTKRidge(n_components=32, random_state=0),
    "NTKRidgeClassifier": lambda: ntkfast.NTKRidgeClassifier(n_components=32, random_state=0),
    "ExactNTKRidge": lambda: ntkfast.ExactNTKRidge(depth=2),
}
ESTIMATORS = {**TRANSFORMERS, **LEARNERS}
# scikit-learn's counterpart of each kind, fitted on the same calls.
SKLEARN = {"transformer": lambda: RBFSampler(n_components=16, random_state=0),
           "NTKRidgeClassifier": RidgeClassifier, "regressor": Ridge}


def _sklearn_twin(name):
    if name in TRANSFORMERS:
        return SKLEARN["transformer"]()
    return SKLEARN["NTKRidgeClassifier" if name == "NTKRidgeClassifier" else "regressor"]()


def _fit(est, X):
    y = _y(X.shape[0])
    if isinstance(est, (ntkfast.NTKRidgeClassifier, RidgeClassifier)):
        return est.fit(X, (y > 0).astype(int))
    if hasattr(est, "predict"):
        return est.fit(X, y)
    return est.fit(X)


def _apply(est, X):
    return est.transform(X) if hasattr(est, "transform") else est.predict(X)


def _raised(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return exc
    return None


# --------------------------------------------------------------------------------------------
# Column names
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pd():
    return pytest.importorskip("pandas")


@pytest.fixture
def frame(pd):
    return pd.DataFrame(_X(), columns=COLUMNS)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_feature_names_in_as_sklearn(name, frame):
    est, twin = _fit(ESTIMATORS[name](), frame), _fit(_sklearn_twin(name), frame)
    assert est.feature_names_in_.dtype == twin.feature_names_in_.dtype == object
    np.testing.assert_array_equal(est.feature_names_in_, twin.feature_names_in_)
    # Same numbers as the plain array.
    np.testing.assert_array_equal(_apply(est, frame), _apply(_fit(ESTIMATORS[name](), frame.to_numpy()),
                                                             frame.to_numpy()))
    # Refitted on an array without names: the attribute goes, as in scikit-learn.
    _fit(est, frame.to_numpy())
    _fit(twin, frame.to_numpy())
    assert not hasattr(est, "feature_names_in_") and not hasattr(twin, "feature_names_in_")


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_reordered_columns_raise_as_sklearn(name, frame):
    est, twin = _fit(ESTIMATORS[name](), frame), _fit(_sklearn_twin(name), frame)
    reordered = frame[frame.columns[::-1]]
    ours, theirs = _raised(lambda: _apply(est, reordered)), _raised(lambda: _apply(twin, reordered))
    assert type(ours) is type(theirs) is ValueError
    assert "Feature names must be in the same order as they were in fit" in str(ours)
    renamed = frame.rename(columns={"age": "AGE"})
    ours, theirs = _raised(lambda: _apply(est, renamed)), _raised(lambda: _apply(twin, renamed))
    assert type(ours) is type(theirs) is ValueError and "Feature names unseen at fit time" in str(ours)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_names_on_one_side_only_warn_as_sklearn(name, frame):
    for fit_on, apply_on in ((frame, frame.to_numpy()), (frame.to_numpy(), frame)):
        caught = []
        for est in (_fit(ESTIMATORS[name](), fit_on), _fit(_sklearn_twin(name), fit_on)):
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                _apply(est, apply_on)
            caught.append([(x.category, str(x.message).replace(type(est).__name__, "<est>"))
                           for x in w if "feature names" in str(x.message)])
        assert caught[0] == caught[1] and len(caught[0]) == 1


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_get_feature_names_out_as_sklearn(name, frame):
    est = TRANSFORMERS[name]()
    twin = _sklearn_twin(name)
    assert type(_raised(est.get_feature_names_out)) is type(_raised(twin.get_feature_names_out)) is NotFittedError
    est.fit(frame)
    twin.fit(frame)
    out, ref = est.get_feature_names_out(), twin.get_feature_names_out()
    n_out = est.transform(frame).shape[1]
    assert out.dtype == ref.dtype == object and out.shape == (n_out,)
    # scikit-learn's convention: "<lowercase class name><index>".
    prefix = name.lower()
    np.testing.assert_array_equal(out, [f"{prefix}{i}" for i in range(n_out)])
    assert [str(r)[: len("rbfsampler")] for r in ref[:1]] == ["rbfsampler"]
    # input_features are checked against feature_names_in_ the same way.
    np.testing.assert_array_equal(est.get_feature_names_out(COLUMNS), out)
    ours = _raised(lambda: est.get_feature_names_out(COLUMNS[::-1]))
    theirs = _raised(lambda: twin.get_feature_names_out(COLUMNS[::-1]))
    assert type(ours) is type(theirs) is ValueError and str(ours) == str(theirs)


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_column_transformer_feature_names(name, frame):
    ct = ColumnTransformer([("ntk", TRANSFORMERS[name](), COLUMNS[:3]), ("keep", "passthrough", COLUMNS[3:])])
    out = ct.fit_transform(frame)
    names = ct.get_feature_names_out()
    assert names.shape == (out.shape[1],)
    assert names[0] == f"ntk__{name.lower()}0" and list(names[-2:]) == ["keep__score", "keep__rank"]


# --------------------------------------------------------------------------------------------
# Output containers
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_set_output_pandas_as_sklearn(name, frame, pd):
    frame = frame.set_axis(np.arange(100, 100 + N))  # an index of its own, kept
    pipe = make_pipeline(StandardScaler(), TRANSFORMERS[name]()).set_output(transform="pandas")
    twin = make_pipeline(StandardScaler(), _sklearn_twin(name)).set_output(transform="pandas")
    out, ref = pipe.fit_transform(frame), twin.fit_transform(frame)
    assert type(out) is type(ref) is pd.DataFrame
    np.testing.assert_array_equal(out.index, frame.index)
    np.testing.assert_array_equal(out.columns, pipe[-1].get_feature_names_out())
    plain = make_pipeline(StandardScaler(), TRANSFORMERS[name]()).fit(frame.to_numpy())
    np.testing.assert_array_equal(out.to_numpy(), plain.transform(frame.to_numpy()))
    np.testing.assert_array_equal(pipe.transform(frame).to_numpy(), out.to_numpy())


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_global_transform_output_config(name, frame, pd):
    est = TRANSFORMERS[name]().fit(frame)
    with sklearn.config_context(transform_output="pandas"):
        out = est.transform(frame)
        ref = _sklearn_twin(name).fit(frame).transform(frame)
    assert type(out) is type(ref) is pd.DataFrame
    np.testing.assert_array_equal(out.to_numpy(), est.transform(frame))
    assert type(est.transform(frame)) is type(_sklearn_twin(name).fit(frame).transform(frame)) is np.ndarray


def test_set_output_keeps_float32_out_and_batch_size(frame, pd):
    rf = TRANSFORMERS["NTKRandomFeatures"]().set_output(transform="pandas")
    f32 = frame.astype(np.float32)
    out = rf.fit_transform(f32)
    assert isinstance(out, pd.DataFrame) and (out.dtypes == np.float32).all()
    buf = np.empty((N, 32), dtype=np.float32)
    again = rf.transform(f32, out=buf, batch_size=7)
    np.testing.assert_array_equal(again.to_numpy(), buf)
    np.testing.assert_array_equal(buf, out.to_numpy())


# --------------------------------------------------------------------------------------------
# pandas dtypes
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_nullable_pandas_dtypes(name, pd):
    X = np.round(_X() * 4)  # integers, so that Int64 columns hold the same values
    frame = pd.DataFrame({c: pd.array(X[:, j], dtype="Float64" if j % 2 else "Int64")
                          for j, c in enumerate(COLUMNS)})
    ref = _apply(_fit(ESTIMATORS[name](), X), X)
    got = _apply(_fit(ESTIMATORS[name](), frame), frame)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)
    # pd.NA becomes NaN, refused with the row, as scikit-learn refuses it (ValueError).
    holes = frame.copy()
    holes.iloc[7, 2] = pd.NA
    ours = _raised(lambda: _fit(ESTIMATORS[name](), holes))
    theirs = _raised(lambda: _fit(_sklearn_twin(name), holes))
    assert type(ours) is type(theirs) is ValueError
    assert str(ours).startswith("X: expected finite values, got NaN or infinity (first in row 7)")


def test_float32_frames_stay_float32(pd):
    frame = pd.DataFrame({c: pd.array(_X()[:, j].astype(np.float32), dtype="Float32")
                          for j, c in enumerate(COLUMNS)})
    rf = TRANSFORMERS["NTKRandomFeatures"]().fit(frame)
    assert rf.dtype_ == np.float32 and rf.transform(frame).dtype == np.float32


def test_object_and_string_columns_refused(pd):
    frame = pd.DataFrame(_X(), columns=COLUMNS)
    frame["rank"] = frame["rank"].astype(object)
    with pytest.raises(TypeError, match=r"^X: expected an array of real numbers.*got dtype object.*column 'rank'"):
        TRANSFORMERS["ArcCosineFeatures"]().fit(frame)
    frame["rank"] = "a"
    with pytest.raises(TypeError, match=r"^X: expected an array of real numbers.*column 'rank'"):
        LEARNERS["NTKRidge"]().fit(frame, np.zeros(N))


# --------------------------------------------------------------------------------------------
# Sparse and integer X
# --------------------------------------------------------------------------------------------

def _sparse_X(seed=0, dtype=np.float64):
    X = _X(seed=seed, dtype=dtype)
    X[np.random.default_rng(seed).uniform(size=X.shape) < 0.6] = 0
    X[3] = 0  # an empty row
    return X


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "csr_array"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_sparse_transform_is_bit_identical_to_dense(name, dtype, fmt):
    X = _sparse_X(dtype=dtype)
    S = sp.csr_array(X) if fmt == "csr_array" else sp.csr_matrix(X).asformat(fmt)
    dense = TRANSFORMERS[name]().fit(X)
    est = TRANSFORMERS[name]().fit(S)
    assert est.dtype_ == dense.dtype_ == np.dtype(dtype)
    ref = dense.transform(X)
    for got in (est.transform(S), est.transform(S, batch_size=3), dense.transform(S),
                est.transform(S, out=np.empty_like(ref))):
        assert type(got) is np.ndarray and got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)
    # RBFSampler too takes sparse X and returns a dense ndarray.
    assert type(SKLEARN["transformer"]().fit(S).transform(S)) is np.ndarray


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_sparse_learners_match_dense(name):
    X = _sparse_X(seed=1)
    S = sp.csc_matrix(X)
    ref = _fit(LEARNERS[name](), X)
    est = _fit(LEARNERS[name](), S)
    np.testing.assert_array_equal(_apply(est, S), _apply(ref, X))
    if hasattr(est, "decision_function"):
        np.testing.assert_array_equal(est.decision_function(S), ref.decision_function(X))
    # scikit-learn's counterpart also fits and predicts on the same sparse X.
    _apply(_fit(_sklearn_twin(name), S), S)


def test_sparse_nan_names_the_row():
    X = _sparse_X()
    X[11, 1] = np.nan
    rf = TRANSFORMERS["NTKRandomFeatures"]().fit(_sparse_X())
    for call in (lambda S: rf.transform(S), lambda S: TRANSFORMERS["ArcCosineFeatures"]().fit(S),
                 lambda S: LEARNERS["NTKRidge"]().fit(S, np.zeros(N)),
                 lambda S: LEARNERS["ExactNTKRidge"]().fit(S, np.zeros(N))):
        with pytest.raises(ValueError, match=r"^X: expected finite values, got NaN or infinity \(first in row 11\)"):
            call(sp.csr_matrix(X))


def test_sparse_integer_X():
    X = np.round(_sparse_X() * 3).astype(np.int32)
    rf = TRANSFORMERS["NTKRandomFeatures"]().fit(sp.csr_matrix(X))
    assert rf.dtype_ == np.float64
    np.testing.assert_array_equal(rf.transform(sp.csr_matrix(X)), rf.transform(X.astype(np.float64)))


def test_sparse_is_densified_one_batch_at_a_time():
    # 8,000 x 20,000: dense, 1.3 GB of float64; 4,000 stored values.  A batch of rows
    # densified by fit's value check is the engine's budget (BATCH_ELEMENTS, 128 MiB).
    n, d, nnz = 8_000, 20_000, 4_000
    rng = np.random.default_rng(0)
    S = sp.csr_matrix((rng.standard_normal(nnz), (rng.integers(0, n, nnz), rng.integers(0, d, nnz))),
                      shape=(n, d))
    rf = ntkfast.ArcCosineFeatures(n_components=4, random_state=0).fit(S[:10])
    tracemalloc.start()
    try:
        rf2 = ntkfast.ArcCosineFeatures(n_components=4, random_state=0).fit(S)
        out = rf.transform(S, batch_size=500)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20, f"peak traced allocation {peak / 2**20:.0f} MiB"
    np.testing.assert_array_equal(out[:500], rf.transform(S[:500].toarray()))
    np.testing.assert_array_equal(rf2.weights_, rf.weights_)


def test_exact_kernel_functions_refuse_sparse():
    with pytest.raises(TypeError, match=r"^X: expected a dense array, got a scipy sparse csr_matrix.*the estimators take sparse input"):
        ntkfast.ntk_kernel(sp.csr_matrix(_X()))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_uint8_X_as_sklearn(name):
    X = np.random.default_rng(2).integers(0, 256, size=(N, D)).astype(np.uint8)
    got = _apply(_fit(ESTIMATORS[name](), X), X)
    ref = _apply(_fit(ESTIMATORS[name](), X.astype(np.float64)), X.astype(np.float64))
    np.testing.assert_array_equal(got, ref)
    # scikit-learn casts it too: no error on the same call.
    _apply(_fit(_sklearn_twin(name), X), X)


# --------------------------------------------------------------------------------------------
# Parameter errors
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params, match", [
    ({"n_components": 64.0}, r"^n_components: expected an integer, got 64.0 \(float\)$"),
    ({"n_components": 0}, r"^n_components: expected an integer >= 2, got 0$"),
    ({"random_state": "a"}, r"^random_state: expected None"),
])
@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_parameter_errors_are_invalid_parameter_error(name, params, match):
    est = TRANSFORMERS[name]().set_params(**params)
    exc = _raised(lambda: est.fit(_X()))
    assert type(exc) is InvalidParameterError and isinstance(exc, ValueError) and isinstance(exc, TypeError)
    assert type(_raised(lambda: RBFSampler().set_params(**params).fit(_X()))) is InvalidParameterError
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(_X())


@pytest.mark.parametrize("name, params", [("NTKRidge", {"alpha": -1.0}), ("ExactNTKRidge", {"depth": 0}),
                                          ("NTKRidgeClassifier", {"fit_intercept": "yes"})])
def test_learner_parameter_errors(name, params):
    with pytest.raises(InvalidParameterError, match=rf"^{next(iter(params))}: expected"):
        _fit(LEARNERS[name]().set_params(**params), _X())


# --------------------------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_model_files_keep_feature_names(name, frame, tmp_path):
    est = _fit(ESTIMATORS[name](), frame)
    save_model(est, tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.feature_names_in_, est.feature_names_in_)
    assert back.feature_names_in_.dtype == object
    np.testing.assert_array_equal(_apply(back, frame), _apply(est, frame))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        _apply(back, frame[frame.columns[::-1]])


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_model_files_without_names_still_load(name, tmp_path):
    # A fit on a plain array writes exactly the members of the files written before
    # column names were kept: such files load, without the attribute.
    est = _fit(ESTIMATORS[name](), _X())
    save_model(est, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        assert not any("feature_names_in_" in k for k in z.files)
    back = load_model(tmp_path / "m.npz")
    assert not hasattr(back, "feature_names_in_")
    np.testing.assert_array_equal(_apply(back, _X()), _apply(est, _X()))


def test_model_file_with_wrong_number_of_names_is_refused(frame, tmp_path):
    est = _fit(TRANSFORMERS["ArcCosineFeatures"](), frame)
    save_model(est, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        members = dict(z)
    members["feature_names_in_"] = members["feature_names_in_"][:-1]
    np.savez(tmp_path / "forged.npz", **members)
    with pytest.raises(ModelFileError, match=r"'feature_names_in_': expected shape \(5,\)"):
        load_model(tmp_path / "forged.npz")


def test_integer_dask_blocks_are_cast_like_numpy():
    da = pytest.importorskip("dask.array")
    X = np.random.default_rng(3).integers(0, 256, size=(N, D)).astype(np.uint8)
    rf = TRANSFORMERS["NTKRandomFeatures"]().fit(da.from_array(X, chunks=(15, D)))
    assert rf.dtype_ == np.float64
    got = rf.transform(da.from_array(X, chunks=(15, D))).compute(scheduler="synchronous")
    np.testing.assert_array_equal(got, rf.transform(X.astype(np.float64)))
