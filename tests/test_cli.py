"""The ``ntkfast`` command: round trips on tiny files, and clean failures on bad ones."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ntkfast
from ntkfast.cli import main
from ntkfast.io import load_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# Status lines a command prints on stderr (without -q) before it may fail.
STATUS = ("read ", "standardised ", "constant column")


def _assert_clean_error(code, err, *fragments, status=1):
    """One error line, last, after nothing but status lines; exit ``status``."""
    assert code == status, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("ntkfast: error: "), err
    assert all(ln.startswith(STATUS) for ln in lines[:-1]), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[-1], lines[-1]


def _write_csv(path, header, rows):
    with open(path, "w") as f:
        if header:
            f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")


@pytest.fixture
def regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X[:, 0] - 2 * X[:, 1] + 0.5 * X[:, 2] ** 2
    path = tmp_path / "train.csv"
    # The target sits between feature columns, so dropping it by name matters.
    _write_csv(path, ["a", "y", "b", "c"], [(x[0], t, x[1], x[2]) for x, t in zip(X, y)])
    return path, X, y


def test_module_help_subprocess():
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "ntkfast", "--help"], capture_output=True, text=True,
                       cwd=REPO, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    for cmd in ("demo", "fit", "predict", "transform"):
        assert cmd in r.stdout


@pytest.mark.parametrize("cmd", ["demo", "fit", "predict", "transform"])
def test_subcommand_help(capsys, cmd):
    code, out, _ = _run(capsys, cmd, "--help")
    assert code == 0
    assert "--help" in out and f"ntkfast {cmd}" in out


def test_usage_errors(capsys):
    code, _, err = _run(capsys)
    assert code == 2 and "ntkfast: error:" in err
    code, _, err = _run(capsys, "fit", "--data", "x.csv")
    assert code == 2 and "required" in err
    code, _, err = _run(capsys, "fit", "--data", "x.csv", "--target", "0", "--model", "m.npz", "--alpha", "-1")
    assert code == 2 and "> 0" in err and ">= 0" not in err
    # The ridge needs alpha > 0: the parser refuses 0 itself (fit and demo).
    code, _, err = _run(capsys, "fit", "--data", "x.csv", "--target", "0", "--model", "m.npz", "--alpha", "0")
    assert code == 2 and "--alpha: expected a finite number > 0, got 0" in err
    code, _, err = _run(capsys, "demo", "--alpha", "0")
    assert code == 2 and "--alpha: expected a finite number > 0, got 0" in err


def test_fit_predict_csv_round_trip(tmp_path, capsys, regression):
    path, X, y = regression
    model_path = tmp_path / "model.npz"
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "y", "--n-components", 64,
                        "--alpha", 0.01, 0.1, 1, "--random-state", 5, "--model", model_path, "-q",
                        "--no-standardize")
    assert code == 0, err
    model, meta = load_model(model_path, return_metadata=True)
    assert meta["target"] == "y" and meta["columns"] == ["a", "b", "c"]
    # Same estimator fitted through the Python API on the same columns.
    ref = ntkfast.NTKRidge(n_components=64, alpha=[0.01, 0.1, 1.0], random_state=5).fit(X, y)
    assert model.alpha_ == ref.alpha_

    out_csv = tmp_path / "pred.csv"
    code, _, err = _run(capsys, "predict", "--model", model_path, "--data", path, "--out", out_csv, "-q")
    assert code == 0, err
    pred = np.loadtxt(out_csv, delimiter=",", skiprows=1)
    np.testing.assert_allclose(pred, ref.predict(X), rtol=1e-12, atol=1e-12)
    assert open(out_csv).readline().strip() == "y"
    assert np.corrcoef(pred, y)[0, 1] > 0.9  # the target column was not used as a feature

    # Data without the target column, columns in another order: same predictions (.npy out).
    other = tmp_path / "new.csv"
    _write_csv(other, ["c", "a", "b"], [(x[2], x[0], x[1]) for x in X])
    out_npy = tmp_path / "pred.npy"
    code, _, err = _run(capsys, "predict", "--model", model_path, "--data", other, "--out", out_npy, "-q")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(out_npy), pred)

    # No --out: one prediction per line on stdout.
    code, out, _ = _run(capsys, "predict", "--model", model_path, "--data", other, "-q")
    assert code == 0
    np.testing.assert_array_equal(np.array(out.split(), dtype=float), pred)


def test_fit_predict_npy_classification(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((240, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    data = np.c_[labels, X]
    np.save(tmp_path / "train.npy", data)
    model_path = tmp_path / "clf.npz"
    code, _, err = _run(capsys, "fit", "--data", tmp_path / "train.npy", "--target", 0,
                        "--task", "classification", "--n-components", 128, "--alpha", 0.1,
                        "--model", model_path, "-q")
    assert code == 0, err
    model = load_model(model_path)
    assert isinstance(model, ntkfast.NTKRidgeClassifier)
    assert list(model.classes_) == [0, 1, 2]
    # The saved file holds the target column: it is dropped again (by index) in predict.
    for data_file in ("train.npy", "features.npy"):
        np.save(tmp_path / "features.npy", X)
        code, _, err = _run(capsys, "predict", "--model", model_path, "--data", tmp_path / data_file,
                            "--out", tmp_path / "p.npy", "-q")
        assert code == 0, err
        pred = np.load(tmp_path / "p.npy")
        assert np.mean(pred == labels) > 0.9


def test_fit_csv_string_labels(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((150, 2))
    names = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path / "d.csv"
    _write_csv(path, ["x1", "x2", "label"], [(a, b, c) for (a, b), c in zip(X, names)])
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "label", "--task", "classification",
                        "--n-components", 64, "--model", tmp_path / "m.npz", "-q")
    assert code == 0, err
    code, out, err = _run(capsys, "predict", "--model", tmp_path / "m.npz", "--data", path, "-q")
    assert code == 0, err
    pred = np.array(out.split())
    assert set(pred) <= {"yes", "no"} and np.mean(pred == names) > 0.9


def test_fit_exact(tmp_path, capsys, regression):
    path, X, y = regression
    code, _, err = _run(capsys, "fit", "--data", path, "--target", 1, "--exact", "--depth", 2,
                        "--alpha", 0.5, "--model", tmp_path / "e.npz", "-q", "--no-standardize")
    assert code == 0, err
    model = load_model(tmp_path / "e.npz")
    ref = ntkfast.ExactNTKRidge(depth=2, alpha=0.5).fit(X, y)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_streams_like_in_memory(tmp_path, capsys, dtype):
    X = np.random.default_rng(3).standard_normal((157, 5)).astype(dtype)
    np.save(tmp_path / "in.npy", X)
    code, _, err = _run(capsys, "transform", "--data", tmp_path / "in.npy", "--out", tmp_path / "out.npy",
                        "--depth", 2, "--n-components", 96, "--random-state", 7, "--batch-size", 19,
                        "--save-model", tmp_path / "rf.npz", "-q")
    assert code == 0, err
    out = np.load(tmp_path / "out.npy")
    ref = ntkfast.NTKRandomFeatures(depth=2, n_components=96, random_state=7).fit(X)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, ref.transform(X))
    # The saved features reproduce it; so does a ridge model's features_.
    code, _, err = _run(capsys, "transform", "--data", tmp_path / "in.npy", "--out", tmp_path / "out2.npy",
                        "--model", tmp_path / "rf.npz", "-q")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "out2.npy"), out)


def _files(folder):
    return sorted(os.listdir(folder))


def test_bad_files(tmp_path, capsys, regression):
    path, X, y = regression
    model_path = tmp_path / "model.npz"
    assert _run(capsys, "fit", "--data", path, "--target", "y", "--n-components", 32,
                "--model", model_path, "-q")[0] == 0
    before = _files(tmp_path)

    code, _, err = _run(capsys, "fit", "--data", tmp_path / "nope.csv", "--target", "y", "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, "nope.csv", "does not exist")

    code, _, err = _run(capsys, "fit", "--data", path, "--target", "zz", "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, "no column named 'zz'", "a, y, b, c")

    bad = tmp_path / "text.csv"
    _write_csv(bad, ["a", "y"], [(1.0, 2.0), ("cat", 3.0)])
    code, _, err = _run(capsys, "fit", "--data", bad, "--target", "y", "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, "text.csv", "cat")

    nan = tmp_path / "nan.csv"
    _write_csv(nan, ["a", "y"], [(1.0, 2.0), (2.0, 1.0), ("nan", 3.0)])
    code, _, err = _run(capsys, "fit", "--data", nan, "--target", "y", "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, "NaN", "column 'a'", "line 4")  # header = line 1

    np.save(tmp_path / "vec.npy", np.zeros(5))
    code, _, err = _run(capsys, "fit", "--data", tmp_path / "vec.npy", "--target", 0, "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, "2-D", "(5,)")

    np.save(tmp_path / "obj.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    code, _, err = _run(capsys, "predict", "--model", model_path, "--data", tmp_path / "obj.npy")
    _assert_clean_error(code, err, "obj.npy")

    np.save(tmp_path / "wide.npy", np.zeros((4, 7)))
    code, _, err = _run(capsys, "predict", "--model", model_path, "--data", tmp_path / "wide.npy")
    _assert_clean_error(code, err, "expected 3 feature columns", "got 7")

    (tmp_path / "fake.npz").write_bytes(b"not a model")
    code, _, err = _run(capsys, "predict", "--model", tmp_path / "fake.npz", "--data", path)
    _assert_clean_error(code, err, "fake.npz", "not an ntkfast model")

    code, _, err = _run(capsys, "fit", "--data", tmp_path / "x.txt", "--target", 0, "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, "does not exist")
    (tmp_path / "x.txt").write_text("1,2\n")
    code, _, err = _run(capsys, "fit", "--data", tmp_path / "x.txt", "--target", 0, "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, ".npy or .csv")
    os.unlink(tmp_path / "x.txt")

    code, _, err = _run(capsys, "predict", "--model", model_path, "--data", path, "--out", tmp_path / "no" / "p.npy")
    _assert_clean_error(code, err, "does not exist")
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "y", "--model", tmp_path / "no" / "m.npz")
    _assert_clean_error(code, err, "does not exist")

    # Nothing was written by the failed commands (no model, no half-written file).
    created = set(_files(tmp_path)) - set(before)
    assert created <= {"text.csv", "nan.csv", "vec.npy", "obj.npy", "wide.npy", "fake.npz"}, created


def test_transform_failure_leaves_no_output(tmp_path, capsys):
    X = np.random.default_rng(4).standard_normal((100, 3))
    X[77, 1] = np.nan
    np.save(tmp_path / "in.npy", X)
    out = tmp_path / "out.npy"
    code, _, err = _run(capsys, "transform", "--data", tmp_path / "in.npy", "--out", out,
                        "--n-components", 16, "--batch-size", 10, "-q")
    _assert_clean_error(code, err, "in.npy", "NaN", "row 77")
    assert _files(tmp_path) == ["in.npy"]

    # An existing output survives a failed run untouched.
    out.write_bytes(b"previous")
    code, _, err = _run(capsys, "transform", "--data", tmp_path / "in.npy", "--out", out,
                        "--n-components", 16, "-q")
    assert code == 1
    assert out.read_bytes() == b"previous"
    assert _files(tmp_path) == ["in.npy", "out.npy"]

    np.save(tmp_path / "ok.npy", np.zeros((3, 4)))
    code, _, err = _run(capsys, "transform", "--data", tmp_path / "ok.npy", "--out", tmp_path / "o.npy",
                        "--model", tmp_path / "missing.npz")
    _assert_clean_error(code, err, "missing.npz", "does not exist")


def test_demo_quick(capsys):
    code, out, err = _run(capsys, "demo", "--quick", "-q", "--error-rows", 300)
    assert code == 0, err
    assert "NTKRidgeClassifier" in out and "ExactNTKRidge" in out and "speed-up" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| NTKRidge") or ln.startswith("| Exact")]
    accuracy = [float(r.split("|")[2]) for r in rows]
    assert len(accuracy) == 2 and min(accuracy) > 0.9  # digits: both models are far above chance
    error = float(rows[0].split("|")[5].split()[0])
    assert 0 < error < 0.5


def test_csv_numeric_labels_stay_numbers(tmp_path, capsys):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 2))
    labels = np.where(X[:, 0] > 0, 3, 7)
    path = tmp_path / "d.csv"
    _write_csv(path, None, [(a, c, b) for (a, b), c in zip(X, labels)])
    code, _, err = _run(capsys, "fit", "--data", path, "--target", 1, "--task", "classification",
                        "--n-components", 64, "--model", tmp_path / "m.npz", "-q")
    assert code == 0, err
    assert load_model(tmp_path / "m.npz").classes_.tolist() == [3, 7]
    # No header: the file has the model's column count plus one, so column 1 is dropped.
    code, out, err = _run(capsys, "predict", "--model", tmp_path / "m.npz", "--data", path, "-q")
    assert code == 0, err
    assert np.mean(np.array(out.split(), dtype=int) == labels) > 0.9
    _write_csv(path, ["a", "label"], [(1.0, "x"), (2.0, "")])
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "label", "--task", "classification",
                        "--model", tmp_path / "m2.npz")
    _assert_clean_error(code, err, "empty label", "line 3", "column 'label'")
