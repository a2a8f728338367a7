"""Nothing a caller or a file can do crashes the process, hangs it, or returns garbage in silence.

Each case that used to crash the interpreter runs in a subprocess and must end with a clean
Python exception (exit code 1 and the expected message), never a signal.
"""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import warnings

import numpy as np
import pytest

import ntkfast
from ntkfast.io import load_model, save_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ntkfast.__file__)))


def _run(code, timeout=120):
    """Run ``code`` in a fresh interpreter that imports this ntkfast; return the process."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _assert_clean_error(proc, pattern):
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # not a signal (< 0)
    last = proc.stderr.strip().splitlines()[-1]
    assert "Error" in last and pattern in proc.stderr, proc.stderr[-2000:]


def _data(n=200, d=5, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


# --------------------------------------------------------------------------------------------
# 1. Fitted attributes cannot reach out-of-bounds memory
# --------------------------------------------------------------------------------------------

EDITS = {
    # attribute edits that used to be an out-of-bounds write in the compiled layer loop
    "in place (read-only)": ("rf.step_indices_[0][:] = 10**7", "read-only"),
    "replaced array": ("rf.step_indices_[0] = np.full(rf.n_relu_, 10**7)", "step_indices_[0]: expected values in"),
    "replaced list": ("rf.sketch_indices_ = [np.full(5, -3)] * 2", "sketch_indices_[0]: expected values in"),
    "wrong length": ("rf.step_signs_[1] = np.ones(3, dtype=np.int8)", "step_signs_[1]: expected shape"),
    "wrong weights": ("rf.relu_weights_[1] = np.zeros((3, 3))", "relu_weights_[1]: expected shape"),
    "wrong dtype": ("rf.relu_weights_[0] = rf.relu_weights_[0].astype(np.float32)", "expected dtype float64"),
    "widths": ("rf.n_relu_ = 10**6", "expected shape"),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_edited_fitted_attributes_raise_not_crash(case):
    edit, message = EDITS[case]
    proc = _run(f"""
        import numpy as np, ntkfast
        X = np.random.default_rng(0).standard_normal((300, 5))
        rf = ntkfast.NTKRandomFeatures(depth=2, n_components=256, random_state=0).fit(X)
        {edit}
        rf.transform(X)
    """)
    _assert_clean_error(proc, message)


def test_forcing_a_fitted_array_writeable_cannot_reach_memory():
    # The compiled code runs validated private copies: an in-place edit of a fitted array
    # forced writeable changes nothing the kernels read (documented: assign new arrays).
    X = _data()
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=128, random_state=0).fit(X)
    Z = rf.transform(X)
    idx = rf.step_indices_[0]
    idx.flags.writeable = True
    idx[:] = 10**7
    np.testing.assert_array_equal(rf.transform(X), Z)


def test_packed_weights_from_python_are_checked():
    # A PackedWeights that claims more data than it holds must be refused before any kernel
    # reads it (it used to be read out of bounds).
    proc = _run("""
        import numpy as np
        from ntkfast import _sketch
        w = _sketch.PackedWeights(1000, 1000, np.zeros(10))
        _sketch.dense_activation(np.ones((64, 1000)), w, _sketch.ACT_RELU, np.empty((64, 1000)), 2)
    """)
    _assert_clean_error(proc, "PackedWeights")


@pytest.mark.parametrize("change", ["refit", "set_params+refit", "other shape"])
def test_refit_while_transforming_gives_rows_of_one_model(change):
    # Each transform must return the rows of exactly one fitted model, whatever another
    # thread fits meanwhile (a same-shape refit used to give rows of neither; a reshaping
    # one wrote out of bounds).  In a subprocess: a regression would be a crash.
    proc = _run(f"""
        import threading, numpy as np, ntkfast
        X = np.random.default_rng(0).standard_normal((3000, 6))
        make = lambda s, m: ntkfast.NTKRandomFeatures(depth=2, n_components=m, random_state=s)
        widths = [256, 256] if "{change}" != "other shape" else [256, 192]
        refs = [make(s, widths[s]).fit(X).transform(X) for s in (0, 1)]
        rf = make(0, widths[0]).fit(X)
        stop = threading.Event()
        def refit():
            k = 0
            while not stop.is_set():
                k += 1
                s = k % 2
                if "{change}" == "set_params+refit":
                    rf.set_params(random_state=s, n_components=widths[s])
                    rf.fit(X)
                else:
                    rf.set_params(n_components=widths[s], random_state=s).fit(X[:5])
        t = threading.Thread(target=refit)
        t.start()
        seen = set()
        try:
            for i in range(12):
                Z = rf.transform(X, batch_size=97)
                match = [s for s in (0, 1) if Z.shape == refs[s].shape and np.array_equal(Z, refs[s])]
                assert match, "rows of neither model"
                seen.add(match[0])
        finally:
            stop.set()
            t.join()
        print("ok", sorted(seen))
    """, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ok" in proc.stdout


# --------------------------------------------------------------------------------------------
# 2. A refused fit leaves the previous fitted state
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda **p: ntkfast.ArcCosineFeatures(n_components=64, random_state=0, **p),
    lambda **p: ntkfast.NTKRandomFeatures(n_components=64, random_state=0, **p),
    lambda **p: ntkfast.NTKRidge(n_components=64, random_state=0, **p),
    lambda **p: ntkfast.ExactNTKRidge(**p),
], ids=["arccos", "ntk", "ridge", "exact"])
def test_refused_refit_keeps_previous_state(make, monkeypatch):
    X5, X8 = _data(d=5), _data(d=8, seed=1)
    y = X5[:, 0]
    est = make()
    est.fit(X5, y)
    before = {k: v for k, v in vars(est).items() if k.endswith("_")}
    out_before = est.transform(X5) if hasattr(est, "transform") else est.predict(X5)
    for bad in ({"random_state": "evil"}, {"n_threads": 0}, {"depth": 10**6}):
        if bad.keys() - est.get_params().keys():
            continue
        est.set_params(**bad)
        with pytest.raises((TypeError, ValueError)):
            est.fit(X8, X8[:, 0])
        est.set_params(**{k: make().get_params()[k] for k in bad})
    # the size check (memory) refuses too, after the parameters were fine
    monkeypatch.setattr(ntkfast._engine.validation, "available_memory", lambda: 1)
    with pytest.raises(MemoryError):
        est.fit(X8, X8[:, 0])
    monkeypatch.undo()
    after = {k: v for k, v in vars(est).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    assert est.n_features_in_ == 5
    with pytest.raises(ValueError, match="expected 5 features"):
        (est.transform if hasattr(est, "transform") else est.predict)(X8)
    again = est.transform(X5) if hasattr(est, "transform") else est.predict(X5)
    np.testing.assert_array_equal(again, out_before)


# --------------------------------------------------------------------------------------------
# 3. Depth is bounded; nothing overflows a C int
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda d: ntkfast.ntk_kernel(_data(n=3), depth=d),
    lambda d: ntkfast.nngp_kernel(_data(n=3), depth=d),
    lambda d: ntkfast.NTKRandomFeatures(depth=d, n_components=16).fit(_data(n=3)),
    lambda d: ntkfast.NTKRidge(depth=d, n_components=16).fit(_data(n=3), np.zeros(3)),
    lambda d: ntkfast.ExactNTKRidge(depth=d).fit(_data(n=3), np.zeros(3)),
])
def test_depth_is_bounded(call):
    assert ntkfast.MAX_DEPTH == 1000
    for depth in (ntkfast.MAX_DEPTH + 1, 2**31 - 1, 2**63):
        with pytest.raises(ValueError, match=r"^depth: expected an integer <= 1000"):
            call(depth)


def test_depth_at_the_bound_matches_the_closed_form_diagonal():
    # Theta_L(x, x) = (L + 1) ||x||^2 without bias (SPEC 2): no int overflow at the bound.
    X = _data(n=2, d=3)
    K = ntkfast.ntk_kernel(X, depth=ntkfast.MAX_DEPTH)
    np.testing.assert_allclose(np.diag(K), (ntkfast.MAX_DEPTH + 1) * np.sum(X**2, axis=1), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# 4. Model files
# --------------------------------------------------------------------------------------------

def _npy_header(shape, descr="<f8", fortran=False):
    header = {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}
    text = repr(header)
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


@pytest.fixture
def saved(tmp_path):
    X = _data(n=50, d=4)
    model = ntkfast.NTKRidge(depth=2, n_components=40, random_state=0).fit(X, X[:, 0])
    path = tmp_path / "model.npz"
    save_model(model, path)
    return path


def _rewrite(src, dst, replace=None, raw=None):
    """Copy the archive ``src`` to ``dst``, replacing members by arrays (``replace``) or by raw
    bytes (``raw``: name -> bytes, added when new)."""
    replace, raw = replace or {}, raw or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            key = info.filename[:-4]
            if key in replace:
                import io
                buf = io.BytesIO()
                np.save(buf, replace[key], allow_pickle=False)
                zout.writestr(info.filename, buf.getvalue())
            elif info.filename not in raw:
                zout.writestr(info, zin.read(info.filename))
        for name, data in raw.items():
            zout.writestr(name, data)
    return dst


def _load_in_subprocess(path, limit_mb=600):
    """load_model in a fresh interpreter under an address-space limit: a reader that
    allocated what a member declares would fail with MemoryError, not a ValueError."""
    return _run(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({limit_mb} << 20, {limit_mb} << 20))
        from ntkfast.io import load_model
        load_model({str(path)!r})
    """)


def test_member_declaring_a_huge_string_is_refused_before_reading(saved, tmp_path):
    # A 0-d '<U268435456' __format__ (1 GiB declared) in a small file.
    bad = _rewrite(saved, tmp_path / "bad.npz",
                   raw={"__format__.npy": _npy_header((), "<U268435456") + b"x" * 100})
    assert os.path.getsize(bad) < 2 << 20
    with pytest.raises(ValueError, match=r"bad\.npz.*__format__"):
        load_model(bad)
    _assert_clean_error(_load_in_subprocess(bad), "__format__")


@pytest.mark.parametrize("shape", [(1 << 40,), (1 << 20, 1 << 20)])
def test_member_declaring_terabytes_is_refused(saved, tmp_path, shape):
    bad = _rewrite(saved, tmp_path / "bad.npz", raw={"coef_.npy": _npy_header(shape) + b"\0" * 64})
    with pytest.raises(ValueError, match=r"bad\.npz.*'coef_'"):
        load_model(bad)
    _assert_clean_error(_load_in_subprocess(bad), "coef_")


def test_exact_model_with_forged_row_count_is_refused(tmp_path):
    # X_fit_ has a free row count: the size the member really holds decides.
    X = _data(n=20, d=3)
    path = tmp_path / "exact.npz"
    save_model(ntkfast.ExactNTKRidge().fit(X, X[:, 0]), path)
    bad = _rewrite(path, tmp_path / "bad.npz", raw={"X_fit_.npy": _npy_header((10**12, 3)) + b"\0" * 480})
    with pytest.raises(ValueError, match=r"bad\.npz.*'X_fit_'.*declares"):
        load_model(bad)


def test_deeply_nested_json_is_a_value_error(saved, tmp_path):
    nested = "[" * 100000 + "]" * 100000
    bad = _rewrite(saved, tmp_path / "bad.npz", replace={"__metadata__": np.array(nested)})
    with pytest.raises(ValueError, match=r"__metadata__.*nested"):
        load_model(bad)


def test_member_that_is_not_npy(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.npz", raw={"notes.txt": b"hello"})
    with pytest.raises(ValueError, match=r"bad\.npz.*'notes\.txt' is not a \.npy"):
        load_model(bad)


def test_fortran_ordered_member_is_refused_naming_it(saved, tmp_path):
    with zipfile.ZipFile(saved) as z:
        import io
        W = np.load(io.BytesIO(z.read("features_.relu_weights_.1.npy")))
    bad = _rewrite(saved, tmp_path / "bad.npz", replace={"features_.relu_weights_.1": np.asfortranarray(W)})
    with pytest.raises(ValueError, match=r"bad\.npz.*features_\.relu_weights_\.1.*Fortran"):
        load_model(bad)


@pytest.mark.parametrize("param, value, message", [
    ("alpha", -1, "alpha"), ("alpha", "x", "alpha"), ("depth", 2**31 - 1, "depth"),
    ("bias", -2.0, "bias"), ("fit_intercept", 3, "fit_intercept"),
])
def test_exact_model_parameters_are_checked_on_load(tmp_path, param, value, message):
    X = _data(n=20, d=3)
    path = tmp_path / "exact.npz"
    model = ntkfast.ExactNTKRidge().fit(X, X[:, 0])
    save_model(model, path)
    params = model.get_params()
    params[param] = value
    bad = _rewrite(path, tmp_path / "bad.npz", replace={"__params__": np.array(json.dumps(params))})
    with pytest.raises(ValueError, match=rf"bad\.npz.*__params__.*{message}"):
        load_model(bad)


def test_random_state_of_wrong_kind_is_refused_on_load(saved, tmp_path):
    with zipfile.ZipFile(saved) as z:
        import io
        params = json.loads(str(np.load(io.BytesIO(z.read("__params__.npy")))))
    params["random_state"] = "evil"
    bad = _rewrite(saved, tmp_path / "bad.npz", replace={"__params__": np.array(json.dumps(params))})
    with pytest.raises(ValueError, match=r"__params__.*random_state"):
        load_model(bad)


def test_model_file_with_huge_depth_is_refused_quickly(tmp_path):
    # A 12 KB file with depth = 2**31 - 1 made `ntkfast predict` run forever.
    X = _data(n=20, d=3)
    path = tmp_path / "exact.npz"
    model = ntkfast.ExactNTKRidge(depth=2).fit(X, X[:, 0])
    save_model(model, path)
    params = dict(model.get_params(), depth=2**31 - 1)
    bad = _rewrite(path, tmp_path / "bad.npz", replace={"__params__": np.array(json.dumps(params))})
    with pytest.raises(ValueError, match=r"depth: expected an integer <= 1000"):
        load_model(bad)


# --------------------------------------------------------------------------------------------
# 5. Results that cannot be represented are errors, never silent NaN/inf
# --------------------------------------------------------------------------------------------

def test_ridge_on_huge_X_is_an_error():
    X, y = _data(), _data()[:, 0]
    for model in (ntkfast.NTKRidge(n_components=64, random_state=0), ntkfast.ExactNTKRidge()):
        with pytest.raises(ValueError, match="overflow"):
            model.fit(X * 1e200, y)
    # A model fitted on sane data predicts huge inputs as long as the values are finite (the
    # features are positively homogeneous), and refuses once they are not.
    model = ntkfast.NTKRidge(n_components=64, random_state=0).fit(X, y)
    assert np.isfinite(model.predict(X * 1e200)).all()
    with pytest.raises(ValueError, match="overflow"):
        model.predict(X * 1e307)


def test_ridge_on_huge_targets_is_an_error():
    X = _data()
    y = np.where(X[:, 0] > 0, 1e308, -1e308)
    models = [ntkfast.NTKRidge(n_components=64, random_state=0),
              ntkfast.NTKRidge(n_components=64, alpha=[0.1, 1.0], random_state=0),
              ntkfast.ExactNTKRidge()]
    if X.shape[0] < 4096:  # fewer rows than features: the dual route too
        models += [ntkfast.NTKRidge(n_components=4096, random_state=0),
                   ntkfast.NTKRidge(n_components=4096, alpha=[0.1, 1.0], random_state=0)]
    for model in models:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # one clear error, no RuntimeWarning before it
            with pytest.raises(ValueError, match="overflow"):
                model.fit(X, y)


def test_float32_features_that_overflow_are_an_error():
    X = _data(dtype=np.float32) * np.float32(1e37)
    rf = ntkfast.NTKRandomFeatures(n_components=64, random_state=0).fit(X)
    with pytest.raises(ValueError, match="overflows float32"):
        rf.transform(X)
    # in float64 the same rows are fine
    assert np.isfinite(rf.transform(X.astype(np.float64))).all()


@pytest.mark.parametrize("kernel", [ntkfast.ntk_kernel, ntkfast.nngp_kernel])
def test_exact_kernel_with_bias_overflowing_is_an_error(kernel):
    X = np.array([[1e200, 0.0], [0.0, 1e200]])
    with pytest.raises(ValueError, match="overflows float64"):
        kernel(X, depth=2, bias=1.0)


# --------------------------------------------------------------------------------------------
# 6. Aliasing through two memory maps of one file
# --------------------------------------------------------------------------------------------

def test_out_mapping_the_same_file_as_X_is_refused(tmp_path):
    path = tmp_path / "data.npy"
    X = _data(n=300, d=4)
    rf = ntkfast.NTKRandomFeatures(n_components=16, random_state=0).fit(X)
    # X at the start of the file, out over the same bytes (a second map of the file)
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(300 * 4 + 300 * 16,))
    big[:1200] = X.ravel()
    big.flush()
    del big
    whole = np.load(path, mmap_mode="r+")
    Xm = whole[:1200].reshape(300, 4)
    out = np.load(path, mmap_mode="r+")[:4800].reshape(300, 16)   # overlaps Xm's bytes
    assert not np.shares_memory(Xm, out)
    with pytest.raises(ValueError, match="same bytes of the same file"):
        rf.transform(Xm, out=out)
    # disjoint byte ranges of the same file are fine
    out2 = np.load(path, mmap_mode="r+")[1200:].reshape(300, 16)
    rf.transform(Xm, out=out2)
    np.testing.assert_array_equal(out2, rf.transform(X))


def test_fitted_arrays_stay_read_only_through_pickle_and_assignment():
    import pickle

    X = _data()
    rf = ntkfast.NTKRandomFeatures(depth=2, n_components=64, random_state=0).fit(X)
    back = pickle.loads(pickle.dumps(rf))
    assert not back.relu_weights_[0].flags.writeable and not back.step_indices_[1].flags.writeable
    np.testing.assert_array_equal(back.transform(X), rf.transform(X))
    new = np.array(rf.relu_weights_[1]) * 2
    rf.relu_weights_ = [rf.relu_weights_[0], new]
    rf.transform(X)
    assert not new.flags.writeable


def test_dask_predictions_that_overflow_are_an_error_too():
    # The dask blocks run the same prediction loop as the in-memory predict.
    da = pytest.importorskip("dask.array")
    X, y = _data(), _data()[:, 0]
    model = ntkfast.NTKRidge(n_components=64, random_state=0).fit(X, y)
    np.testing.assert_allclose(model.predict(da.from_array(X * 1e200, chunks=50)).compute(),
                               model.predict(X * 1e200), rtol=1e-12)
    with pytest.raises(ValueError, match="overflow"):
        model.predict(da.from_array(X * 1e307, chunks=50)).compute(scheduler="sync")
