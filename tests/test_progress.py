"""Every stage a user waits on shows a bar or a status line with verbose=True, and nothing
is printed with verbose=False."""
import numpy as np

import ntkfast


def _data(n=200, d=4):
    X = np.random.default_rng(0).standard_normal((n, d))
    return X, X[:, 0] - X[:, 1] ** 2


def test_exact_ridge_reports_kernel_and_solve(capsys):
    X, y = _data()
    ntkfast.ExactNTKRidge(verbose=True).fit(X, y).predict(X)
    err = capsys.readouterr().err
    assert "ExactNTKRidge kernel" in err
    assert "Cholesky solve of the 200 x 200 kernel ..." in err
    assert "Cholesky solve of the 200 x 200 kernel:" in err and " s" in err
    assert "ExactNTKRidge predict" in err


def test_ntk_ridge_reports_the_pass_over_the_rows(capsys):
    X, y = _data()
    ntkfast.NTKRidge(n_components=64, verbose=True, random_state=0).fit(X, y).predict(X)
    err = capsys.readouterr().err
    assert "NTKRidge.fit" in err and "NTKRidge.predict" in err


def test_quiet_by_default(capsys):
    X, y = _data()
    for model in (ntkfast.ExactNTKRidge(), ntkfast.NTKRidge(n_components=64, alpha=[0.1, 1.0], random_state=0)):
        model.fit(X, y).predict(X)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
