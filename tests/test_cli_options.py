"""``ntkfast`` options: combinations that would be ignored are refused, -q silences every
command, help texts say what the code does, the demo's speed-up line is always meaningful."""
import re

import numpy as np
import pytest

import ntkfast
from ntkfast.cli.demo import times_faster
from ntkfast.io import load_model

from test_cli import _assert_clean_error, _run, _write_csv


@pytest.fixture
def files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    _write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"], [(*x, x[0] * x[1]) for x in X])
    np.save(tmp_path / "X.npy", X)
    assert _run(capsys, "transform", "--data", tmp_path / "X.npy", "--out", tmp_path / "F.npy",
                "--n-components", 32, "--save-model", tmp_path / "rf.npz", "-q")[0] == 0
    return tmp_path


@pytest.mark.parametrize("extra, given", [
    (("--depth", "3"), "--depth"),
    (("--n-components", "64", "--kernel", "nngp"), "--n-components, --kernel"),
    (("--random-state", "0"), "--random-state"),  # the default's value, but given
    (("--no-leverage",), "--no-leverage"),
    (("--step-components", "40"), "--step-components"),
    (("--bias", "0.5"), "--bias"),
    (("--save-model", "again.npz"), "--save-model"),
])
def test_transform_feature_options_with_model_are_refused(files, capsys, extra, given):
    code, _, err = _run(capsys, "transform", "--data", files / "X.npy", "--out", files / "G.npy",
                        "--model", files / "rf.npz", *extra)
    _assert_clean_error(code, err, f"{given}: cannot be combined with --model", status=2)
    assert not (files / "G.npy").exists()


@pytest.mark.parametrize("extra, message", [
    (("--exact", "--n-components", "64"), "--n-components: random-feature options do not apply to --exact"),
    (("--exact", "--batch-size", "8", "--kernel", "ntk"), "--kernel, --batch-size: random-feature options"),
    (("--exact", "--step-components", "8"), "--step-components: random-feature options do not apply"),
])
def test_fit_options_that_would_be_ignored_are_refused(files, capsys, extra, message):
    code, _, err = _run(capsys, "fit", "--data", files / "d.csv", "--target", "y",
                        "--model", files / "m.npz", *extra)
    _assert_clean_error(code, err, message, status=2)


def test_quiet_silences_every_command(files, capsys):
    runs = [
        ("fit", "--data", files / "d.csv", "--target", "y", "--n-components", 32, "--model", files / "m.npz"),
        ("predict", "--model", files / "m.npz", "--data", files / "d.csv", "--out", files / "p.csv"),
        ("transform", "--data", files / "X.npy", "--out", files / "F2.npy", "--model", files / "rf.npz"),
        ("demo", "--quick", "--task", "regression", "--error-rows", 50),
    ]
    expected = ["fitted NTKRidge on 120 rows", "predicted 120 rows", "transformed 120 rows", "ntkfast demo:"]
    for argv, summary in zip(runs, expected):
        code, _, err = _run(capsys, *argv, "-q")
        assert code == 0 and err == "", (argv[0], err)
        code, _, err = _run(capsys, *argv)
        assert code == 0 and summary in err, (argv[0], err)
    # fit says what it read and that it standardised.
    code, _, err = _run(capsys, *runs[0])
    assert "read " in err and "120 rows x 4 columns" in err and "standardised 3 feature column(s)" in err


def test_help_texts(capsys):
    code, out, _ = _run(capsys, "fit", "--help")
    text = " ".join(out.split())
    assert "60% of --n-components" in text and "about half" not in text
    assert "--no-standardize" in text and "standardised" in text
    assert "ridge penalty, > 0" in text
    for cmd in ("fit", "predict", "transform", "demo"):
        code, out, _ = _run(capsys, cmd, "--help")
        text = " ".join(out.split())
        assert "exit status 141" in text and "143" in text, cmd


def test_sketch_help_matches_the_library():
    # "60%" in the help is the library's default split.
    assert ntkfast.default_sketch_components(1000) <= 600 < ntkfast.default_sketch_components(1000) + 50


@pytest.mark.parametrize("t_exact, t_rf, expected", [
    (2.0, 1.0, "random features 2x faster"),
    (0.01, 0.12, "exact kernel 12x faster"),
    (0.003, 0.4, "exact kernel 133x faster"),
    (1.0, 1.0, "random features 1x faster"),
    (0.0, 0.5, "exact kernel 500000000x faster"),
])
def test_times_faster(t_exact, t_rf, expected):
    assert times_faster(t_exact, t_rf) == expected


def test_demo_regression_speed_line(capsys):
    code, out, err = _run(capsys, "demo", "--quick", "--task", "regression", "-q", "--error-rows", 100)
    assert code == 0, err
    line = [ln for ln in out.splitlines() if ln.startswith("speed-up")][0]
    assert not re.search(r"\b0\.0x", line), line
    assert re.search(r"fit: (random features|exact kernel) [0-9.]+x faster; predict: "
                     r"(random features|exact kernel) [0-9.]+x faster", line), line


def test_usage_errors_are_one_line(capsys):
    code, _, err = _run(capsys, "fit", "--data", "x.csv", "--target", "y", "--model", "m.npz", "--alpha", "-1")
    _assert_clean_error(code, err, "argument --alpha: expected a finite number > 0, got -1",
                        "(see 'ntkfast fit --help')", status=2)
    code, _, err = _run(capsys, "predict", "--model", "m.npz")
    _assert_clean_error(code, err, "required: --data", status=2)


def test_step_components_reaches_the_features(files, capsys):
    # transform: the saved features have m0 step features; their output is the library's
    X = np.load(files / "X.npy")
    assert _run(capsys, "transform", "--data", files / "X.npy", "--out", files / "S.npy",
                "--n-components", 32, "--step-components", 50, "--save-model", files / "s.npz",
                "-q")[0] == 0
    rf = load_model(files / "s.npz")
    assert rf.step_components == 50 and rf.n_step_ == 50
    np.testing.assert_array_equal(np.load(files / "S.npy"), rf.transform(X))
    same = ntkfast.NTKRandomFeatures(n_components=32, step_components=50, random_state=0).fit(X)
    np.testing.assert_array_equal(np.load(files / "S.npy"), same.transform(X))
    # fit: the ridge model's features too
    assert _run(capsys, "fit", "--data", files / "d.csv", "--target", "y", "--model", files / "m.npz",
                "--n-components", 32, "--step-components", 7, "-q")[0] == 0
    model = load_model(files / "m.npz")
    assert model.step_components == 7 and model.features_.n_step_ == 7


@pytest.mark.parametrize("value", ["0", "-2", "1.5"])
def test_step_components_must_be_a_positive_integer(files, capsys, value):
    code, _, err = _run(capsys, "transform", "--data", files / "X.npy", "--out", files / "B.npy",
                        "--step-components", value)
    assert code == 2 and "--step-components" in err
    assert not (files / "B.npy").exists()


def test_bias_reaches_the_features_and_the_exact_model(files, capsys):
    # transform: the features of a network with bias variance b (an extra constant column)
    X = np.load(files / "X.npy")
    assert _run(capsys, "transform", "--data", files / "X.npy", "--out", files / "B.npy",
                "--n-components", 32, "--bias", 0.5, "--save-model", files / "b.npz", "-q")[0] == 0
    rf = load_model(files / "b.npz")
    assert rf.bias == 0.5 and rf.bias_ == 0.5
    same = ntkfast.NTKRandomFeatures(n_components=32, bias=0.5, random_state=0).fit(X)
    np.testing.assert_array_equal(np.load(files / "B.npy"), same.transform(X))
    # their inner products estimate ntk_kernel(X, bias=0.5), not the kernel without bias:
    # a wide map is much closer to the former (an independent check of what --bias means)
    wide = ntkfast.NTKRandomFeatures(n_components=8192, bias=0.5, random_state=1).fit(X)
    F = wide.transform(X)
    err = lambda K: np.linalg.norm(F @ F.T - K) / np.linalg.norm(K)  # noqa: E731
    assert err(ntkfast.ntk_kernel(X, bias=0.5)) < 0.5 * err(ntkfast.ntk_kernel(X))
    # fit: the ridge model's features; --exact: the exact model's bias
    assert _run(capsys, "fit", "--data", files / "d.csv", "--target", "y", "--model", files / "m.npz",
                "--n-components", 32, "--bias", 0.25, "-q")[0] == 0
    assert load_model(files / "m.npz").features_.bias_ == 0.25
    assert _run(capsys, "fit", "--data", files / "d.csv", "--target", "y", "--model", files / "e.npz",
                "--exact", "--bias", 0.25, "-q")[0] == 0
    assert load_model(files / "e.npz").bias == 0.25
