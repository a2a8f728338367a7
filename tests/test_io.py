"""Saving and loading models (ntkfast.io): round trips and refusal of corrupt or foreign files."""
import json
import os
import pickle

import numpy as np
import pytest

import ntkfast
from ntkfast.io import FORMAT_VERSION, load_model, save_model


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    return X, y


def _rewrite(path, new_path, **changes):
    """Copy an .npz with some keys replaced (value None: key removed)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(new_path, **arrays)
    return new_path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,depth", [("ntk", 1), ("ntk", 3), ("nngp", 2)])
def test_features_round_trip(tmp_path, data, dtype, kernel, depth):
    X = data[0].astype(dtype)
    rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=48, kernel=kernel, random_state=3).fit(X)
    path = tmp_path / "rf.npz"
    save_model(rf, path, metadata={"note": "x"})
    loaded, meta = load_model(path, return_metadata=True)
    assert meta == {"note": "x"}
    assert type(loaded) is ntkfast.NTKRandomFeatures
    assert loaded.get_params() == rf.get_params()
    out = loaded.transform(X)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, rf.transform(X))


def _fitted_models(X, y):
    labels3 = np.array(["low", "mid", "high"])[np.digitize(y, [-0.5, 0.5])]
    return [
        (ntkfast.NTKRidge(n_components=40, random_state=0), y),
        (ntkfast.NTKRidge(depth=2, n_components=40, alpha=[0.01, 0.1, 1.0], random_state=1),
         np.c_[y, y ** 2]),
        (ntkfast.NTKRidgeClassifier(n_components=40, random_state=2), (y > 0).astype(int)),
        (ntkfast.NTKRidgeClassifier(n_components=40, random_state=2), labels3),
        (ntkfast.NTKRidgeClassifier(n_components=40, random_state=2), labels3.astype(object)),
        (ntkfast.ExactNTKRidge(depth=2, alpha=0.5), y),
        (ntkfast.ExactNTKRidge(depth=1, bias=0.3), np.c_[y, -y]),
    ]


def test_estimators_round_trip(tmp_path, data):
    X, y = data
    for k, (model, target) in enumerate(_fitted_models(X, y)):
        model.fit(X, target)
        path = tmp_path / f"m{k}.npz"
        save_model(model, path)
        loaded = load_model(path)
        assert type(loaded) is type(model)
        assert loaded.get_params() == model.get_params()
        np.testing.assert_array_equal(np.asarray(loaded.predict(X)), np.asarray(model.predict(X)))
        if hasattr(model, "decision_function"):
            np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
            assert list(loaded.classes_) == list(model.classes_)


def test_generator_random_state_saved_as_none(tmp_path, data):
    X = data[0]
    rf = ntkfast.NTKRandomFeatures(n_components=16, random_state=np.random.default_rng(0)).fit(X)
    save_model(rf, tmp_path / "rf.npz")
    loaded = load_model(tmp_path / "rf.npz")
    assert loaded.random_state is None
    np.testing.assert_array_equal(loaded.transform(X), rf.transform(X))


def test_save_refuses_unfitted_and_foreign(tmp_path):
    with pytest.raises(ValueError, match="fitted"):
        save_model(ntkfast.NTKRandomFeatures(), tmp_path / "a.npz")
    with pytest.raises(TypeError, match="model: expected one of"):
        save_model(object(), tmp_path / "a.npz")
    assert os.listdir(tmp_path) == []


@pytest.fixture
def saved_rf(tmp_path, data):
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=32, sketch_components=12, random_state=0)
    rf.fit(data[0])
    path = tmp_path / "rf.npz"
    save_model(rf, path)
    return path


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"__format__": np.array("something-else")}, "not an ntkfast model"),
        ({"__version__": np.array(FORMAT_VERSION + 1)}, "format version"),
        ({"__class__": np.array("os.system")}, "unknown model class"),
        ({"relu_weights_.1": None}, "missing key 'relu_weights_.1'"),
        ({"extra": np.zeros(3)}, "unexpected keys"),
        ({"sketch_indices_.0": np.full(4, 12)}, r"sketch_indices_\[0\]: expected values in \[0, 12\)"),
        ({"step_indices_.1": np.full(20, -1)}, r"step_indices_\[1\]: expected values in \[0, 12\)"),
        ({"relu_weights_.1": np.zeros((20, 21))}, r"expected shape \(20, 20\)"),
        ({"relu_weights_.0": np.zeros((20, 4), dtype=np.float32)}, "expected dtype float64"),
        ({"relu_scales_.0": np.full(20, np.nan)}, "finite"),
        ({"sketch_signs_.0": np.array([1, -1, 2, 1], dtype=np.int8)}, r"\+1 or -1"),
        ({"n_sketch_": np.array(11)}, "n_relu_/n_sketch_"),
        ({"dtype_": np.array("int64")}, "dtype_"),
        ({"__params__": np.array("{not json")}, "expected JSON"),
        ({"__params__": np.array(json.dumps({"depth": 2}))}, "expected the parameters"),
        ({"__version__": np.array(1.0)}, "expected an integer"),
    ],
)
def test_load_refuses_corrupt_files(tmp_path, saved_rf, changes, message):
    bad = _rewrite(saved_rf, tmp_path / "bad.npz", **changes)
    with pytest.raises(ValueError, match=message):
        load_model(bad)


def test_load_refuses_inconsistent_ridge(tmp_path, data):
    X, y = data
    model = ntkfast.NTKRidgeClassifier(n_components=24, random_state=0).fit(X, np.digitize(y, [0.0, 1.0]))
    path = tmp_path / "c.npz"
    save_model(model, path)
    cases = [
        ({"coef_": np.zeros((2, 24))}, r"expected shape \(3, 24\)"),
        ({"classes_": np.array([0, 0, 1])}, "distinct labels"),
        ({"features_.relu_weights_.0": np.zeros((12, 5))}, r"expected shape \(12, 4\)"),
        ({"alpha_": np.array(3.0)}, "alpha_"),
        ({"n_features_in_": np.array(5)}, "n_features_in_"),
    ]
    for k, (changes, message) in enumerate(cases):
        bad = _rewrite(path, tmp_path / f"bad{k}.npz", **changes)
        with pytest.raises(ValueError, match=message):
            load_model(bad)


class _Payload:
    """Unpickling this would create a file: loading must never do it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_never_unpickles(tmp_path, saved_rf):
    marker = tmp_path / "executed"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(str(marker))
    with np.load(saved_rf, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["relu_scales_.0"] = payload
    bad = tmp_path / "pickled.npz"
    np.savez(bad, **arrays)  # the object array is pickled inside the archive
    with pytest.raises(ValueError, match="without pickle"):
        load_model(bad)
    assert not marker.exists()
    # A plain pickle is not a model file either.
    with open(tmp_path / "model.pkl", "wb") as f:
        pickle.dump(_Payload(str(marker)), f)
    with pytest.raises(ValueError, match="not an ntkfast model"):
        load_model(tmp_path / "model.pkl")
    assert not marker.exists()


def test_load_refuses_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ValueError, match="not an ntkfast model"):
        load_model(tmp_path / "junk.npz")
    np.save(tmp_path / "array.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="single array"):
        load_model(tmp_path / "array.npy")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an ntkfast model"):
        load_model(tmp_path / "other.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="not an ntkfast model"):
        load_model(tmp_path / "empty.npz")
