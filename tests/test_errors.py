"""Every public entry point against every kind of bad input: one table.

Each row is (entry point, what is wrong, expected exception, regex that the message must
match).  The regex always starts with the name of the offending argument, so that a
message that does not say *which* argument is wrong fails the test.  The README's
"Errors" section is the compact form of this table.

A second table checks the inputs that must *work*: Fortran-ordered, strided and read-only
arrays give exactly the result of a C-contiguous copy.
"""
import tracemalloc

import numpy as np
import pytest

import ntkfast
from ntkfast.cli import main as cli_main

N, D = 12, 3


def _X(n=N, d=D, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, (n, 1))).astype(dtype)


X = _X()
IDX = np.array([0, 2, 1])
SGN = np.array([1.0, -1.0, 1.0])


def _fitted(name):
    est = {
        "ArcCosineFeatures": lambda: ntkfast.ArcCosineFeatures(order=1, n_components=16, random_state=0),
        "NTKRandomFeatures": lambda: ntkfast.NTKRandomFeatures(depth=2, n_components=32, random_state=0),
        "NTKNystroem": lambda: ntkfast.NTKNystroem(depth=2, n_components=8, random_state=0),
        "NTKRidge": lambda: ntkfast.NTKRidge(n_components=32, random_state=0),
        "NTKRidgeClassifier": lambda: ntkfast.NTKRidgeClassifier(n_components=32, random_state=0),
        "ExactNTKRidge": lambda: ntkfast.ExactNTKRidge(depth=2),
    }[name]()
    if name.startswith("NTKRidgeC"):
        return est.fit(X, (X[:, 0] > 0).astype(int))
    if "Ridge" in name:
        return est.fit(X, X[:, 0])
    return est.fit(X)


# Entry points taking one data array: name -> (argument name, call(array)).
def _data_entry_points():
    # Targets always have N rows: X is validated before y, so its error comes first.
    y = lambda A: np.arange(N, dtype=float)  # noqa: E731
    return {
        "ntk_kernel(X)": ("X", lambda A: ntkfast.ntk_kernel(A, depth=2)),
        "ntk_kernel(X, Y)": ("Y", lambda A: ntkfast.ntk_kernel(X, A)),
        "nngp_kernel(X)": ("X", lambda A: ntkfast.nngp_kernel(A, bias=0.5)),
        "arccos_kernel(X)": ("X", lambda A: ntkfast.arccos_kernel(A, order=1)),
        "arccos_kernel(X, Y)": ("Y", lambda A: ntkfast.arccos_kernel(X, A, order=0)),
        "count_sketch": ("X", lambda A: ntkfast.count_sketch(A, IDX, SGN, 4)),
        "tensor_sketch(U)": ("U", lambda A: ntkfast.tensor_sketch(A, X, IDX, SGN, IDX, SGN, 4)),
        "tensor_sketch(V)": ("V", lambda A: ntkfast.tensor_sketch(X, A, IDX, SGN, IDX, SGN, 4)),
        "tensor_sketch_product": (r"factors\[1\]",
                                  lambda A: ntkfast.tensor_sketch_product([X, A], [IDX, IDX], [SGN, SGN], 4)),
        "ArcCosineFeatures.fit": ("X", lambda A: ntkfast.ArcCosineFeatures(n_components=8).fit(A)),
        "ArcCosineFeatures.transform": ("X", lambda A: _fitted("ArcCosineFeatures").transform(A)),
        "NTKRandomFeatures.fit": ("X", lambda A: ntkfast.NTKRandomFeatures(n_components=16).fit(A)),
        "NTKRandomFeatures.transform": ("X", lambda A: _fitted("NTKRandomFeatures").transform(A)),
        "NTKRandomFeatures.transform(out=)": (
            "X", lambda A: _fitted("NTKRandomFeatures").transform(A, out=np.empty((N, 32)))),
        "NTKNystroem.fit": ("X", lambda A: ntkfast.NTKNystroem(n_components=8, random_state=0).fit(A)),
        "NTKNystroem.transform": ("X", lambda A: _fitted("NTKNystroem").transform(A)),
        "NTKRidge.fit": ("X", lambda A: ntkfast.NTKRidge(n_components=16).fit(A, y(A))),
        "NTKRidge.predict": ("X", lambda A: _fitted("NTKRidge").predict(A)),
        "NTKRidgeClassifier.fit": ("X", lambda A: ntkfast.NTKRidgeClassifier(n_components=16).fit(A, y(A) % 2)),
        "NTKRidgeClassifier.predict": ("X", lambda A: _fitted("NTKRidgeClassifier").predict(A)),
        "ExactNTKRidge.fit": ("X", lambda A: ntkfast.ExactNTKRidge().fit(A, y(A))),
        "ExactNTKRidge.predict": ("X", lambda A: _fitted("ExactNTKRidge").predict(A)),
    }


def _with(value, i, j):
    A = X.copy()
    A[i, j] = value
    return A


# What is wrong with the data -> (bad array, exception, message after "<name>: ").
BAD_DATA = {
    "1-D": (X[0], ValueError, "expected a 2-D array.*got a 1-D"),
    "3-D": (X[None], ValueError, "expected a 2-D array.*got a 3-D"),
    "0 rows": (np.empty((0, D)), ValueError, "expected at least 1 sample"),
    "0 columns": (np.empty((N, 0)), ValueError, "expected at least 1 feature"),
    "NaN": (_with(np.nan, 5, 1), ValueError, r"expected finite values.*row 5"),
    "inf": (_with(np.inf, 7, 0), ValueError, r"expected finite values.*row 7"),
    "-inf": (_with(-np.inf, 0, 2), ValueError, r"expected finite values.*row 0"),
    "complex": (X.astype(np.complex128), TypeError,
                r"expected an array of real numbers \(float, integer or bool\), got dtype complex128; "
                r"the kernels are defined for real vectors only"),
    "object": (X.astype(object), TypeError,
               r"expected an array of real numbers.*got dtype object; an object array may hold anything"),
    "strings": (np.full((N, D), "1.0"), TypeError, "expected an array of real numbers.*got dtype <U3"),
    "ragged list": ([[1.0, 2.0, 3.0], [1.0]], TypeError, "expected an array of real numbers"),
    # Only the functions: the estimators take sparse X (see test_sparse.py).
    "sparse": ("sparse", TypeError, "expected a dense array, got a scipy sparse"),
    "masked": (np.ma.masked_array(X, mask=X > 1), TypeError, "expected a plain array, got a masked array with masked entries"),
}

# Rows for the CLI (exit code 1, one line "ntkfast: error: <name>: ...").  Integer and
# boolean data are cast to float64 everywhere (scikit-learn's rule): not bad data.
CLI_BAD = ["1-D", "3-D", "0 rows", "0 columns", "NaN", "inf", "complex"]


def _bad_value(case):
    value = BAD_DATA[case][0]
    if isinstance(value, str) and value == "sparse":
        import scipy.sparse

        return scipy.sparse.csr_matrix(X)
    return value


def _table():
    rows = []
    for entry, (arg, call) in _data_entry_points().items():
        for case, (_, exc, msg) in BAD_DATA.items():
            if case == "sparse" and "." in entry:
                continue
            rows.append(pytest.param(call, case, exc, f"^{arg}: {msg}", id=f"{entry}-{case}"))
    return rows


@pytest.mark.parametrize("call, case, exc, match", _table())
def test_bad_data(call, case, exc, match):
    with pytest.raises(exc, match=match):
        call(_bad_value(case))


def _specific_cases():
    rf = _fitted("NTKRandomFeatures")
    ac = _fitted("ArcCosineFeatures")
    n_out = 32
    shared = np.zeros(N * n_out + N * D)
    X_alias = shared[: N * D].reshape(N, D)
    out_alias = shared[N * D - 4: N * D - 4 + N * n_out].reshape(N, n_out)  # overlaps X_alias
    ro = np.empty((N, n_out))
    ro.flags.writeable = False
    big_rows = np.broadcast_to(np.ones((1, D)), (10**7, D))  # 10^7 rows, no memory
    huge_rows = np.broadcast_to(np.ones((1, D)), (10**12, D))
    cases = {
        # feature count differs from fit
        "ArcCosineFeatures.transform-d": (lambda: ac.transform(_X(d=D + 1)), ValueError,
                                          r"^X: expected 3 features \(as seen in fit\), got 4"),
        "NTKRandomFeatures.transform-d": (lambda: rf.transform(_X(d=D - 1)), ValueError, r"^X: expected 3 features"),
        "NTKRidge.predict-d": (lambda: _fitted("NTKRidge").predict(_X(d=5)), ValueError, r"^X: expected 3 features"),
        "NTKRidgeClassifier.predict-d": (lambda: _fitted("NTKRidgeClassifier").predict(_X(d=5)), ValueError,
                                         r"^X: expected 3 features"),
        "ExactNTKRidge.predict-d": (lambda: _fitted("ExactNTKRidge").predict(_X(d=5)), ValueError,
                                    r"^X: expected 3 features"),
        "ntk_kernel-Y-d": (lambda: ntkfast.ntk_kernel(X, _X(d=4)), ValueError, r"^Y: expected 3 features"),
        "tensor_sketch-rows": (lambda: ntkfast.tensor_sketch(X, X[:5], IDX, SGN, IDX, SGN, 4), ValueError,
                               r"^V: expected 12 rows"),
        # out=
        "transform-out-shape": (lambda: rf.transform(X, out=np.empty((N, n_out + 1))), ValueError,
                                r"^out: expected shape \(12, 32\)"),
        "transform-out-rows": (lambda: rf.transform(X, out=np.empty((N - 1, n_out))), ValueError,
                               r"^out: expected shape"),
        "transform-out-dtype": (lambda: rf.transform(X, out=np.empty((N, n_out), np.float32)), ValueError,
                                r"^out: expected dtype float64"),
        "transform-out-int": (lambda: rf.transform(X, out=np.empty((N, n_out), np.int64)), ValueError,
                              r"^out: expected dtype float64"),
        "transform-out-F": (lambda: rf.transform(X, out=np.empty((N, n_out), order="F")), ValueError,
                            r"^out: expected a C-contiguous array"),
        "transform-out-strided": (lambda: rf.transform(X, out=np.empty((N, 2 * n_out))[:, ::2]), ValueError,
                                  r"^out: expected a C-contiguous array"),
        "transform-out-readonly": (lambda: rf.transform(X, out=ro), ValueError, r"^out: expected a writeable"),
        "transform-out-alias": (lambda: rf.transform(X_alias, out=out_alias), ValueError,
                                r"^out: expected an array that does not overlap X"),
        "transform-out-list": (lambda: rf.transform(X, out=[[0.0] * n_out] * N), TypeError,
                               r"^out: expected a numpy array"),
        "ArcCosineFeatures.transform-out-shape": (lambda: ac.transform(X, out=np.empty((N, 17))), ValueError,
                                                  r"^out: expected shape \(12, 16\)"),
        # absurd sizes, refused before allocating, the size in the message
        "ArcCosineFeatures-n_components": (lambda: ntkfast.ArcCosineFeatures(n_components=10**12).fit(X),
                                           MemoryError, r"^n_components: .*would need [\d.]+ TiB"),
        "NTKRandomFeatures-n_components": (lambda: ntkfast.NTKRandomFeatures(n_components=10**12).fit(X),
                                           MemoryError, r"^n_components: .*would need [\d.]+ TiB"),
        "NTKRidge-n_components": (lambda: ntkfast.NTKRidge(n_components=10**12).fit(X, X[:, 0]),
                                  MemoryError, r"^n_components: .*would need [\d.]+ TiB"),
        # at least as many rows as features: the m x m statistics; fewer: the n x n dual
        "NTKRidge-n_components-statistics": (
            lambda: ntkfast.NTKRidge(n_components=10**6, depth=1).fit(big_rows[:10**6], big_rows[:10**6, 0]),
            MemoryError, r"^n_components: ridge statistics.*would need"),
        "NTKRidge-n_components-dual": (
            lambda: ntkfast.NTKRidge(n_components=10**6, depth=1).fit(big_rows[:10**4], big_rows[:10**4, 0]),
            MemoryError, r"^n_components: the dual ridge system for 10000 rows and 1000000 features would need"),
        "ntk_kernel-10^7 rows": (lambda: ntkfast.ntk_kernel(big_rows), MemoryError,
                                 r"^X: a 10000000 x 10000000 float64 kernel matrix would need 727.6 TiB"),
        "nngp_kernel-10^7 rows Y": (lambda: ntkfast.nngp_kernel(big_rows, big_rows.astype(np.float32, copy=False)),
                                    MemoryError, r"^X, Y: a 10000000 x 10000000 float64 kernel matrix"),
        "arccos_kernel-10^7 rows f32": (
            lambda: ntkfast.arccos_kernel(np.broadcast_to(np.ones((1, D), np.float32), (10**7, D))),
            MemoryError, r"^X: a 10000000 x 10000000 float32 kernel matrix would need 363.8 TiB"),
        "ExactNTKRidge.fit-10^7 rows": (
            lambda: ntkfast.ExactNTKRidge().fit(big_rows, np.broadcast_to(np.ones(1), (10**7,))),
            MemoryError, r"^X: exact kernel ridge on 10000000 samples.*would need"),
        "transform-10^12 rows": (lambda: rf.transform(huge_rows), MemoryError,
                                 r"^X: a 1000000000000 x 32 float64 feature matrix would need"),
        "NTKRidge.predict-10^12 rows": (lambda: _fitted("NTKRidge").predict(huge_rows), MemoryError,
                                        r"^X: 1000000000000 x 1 float64 predictions would need"),
        "ExactNTKRidge.predict-10^12 rows": (lambda: _fitted("ExactNTKRidge").predict(huge_rows), MemoryError,
                                             r"^X: 1000000000000 rows .*would need"),
        "count_sketch-n_buckets": (lambda: ntkfast.count_sketch(X, IDX, SGN, 10**12), MemoryError,
                                   r"^n_buckets: a 12 x 1000000000000 float64 sketch would need"),
        "tensor_sketch-n_buckets": (lambda: ntkfast.tensor_sketch(X, X, IDX, SGN, IDX, SGN, 10**12), MemoryError,
                                    r"^n_buckets: .*would need"),
        # absurd parameters that would reach C ints or thread creation
        "ntk_kernel-n_threads": (lambda: ntkfast.ntk_kernel(X, n_threads=100_000), ValueError,
                                 r"^n_threads: expected an integer <="),
        "ntk_kernel-n_threads-2**40": (lambda: ntkfast.ntk_kernel(X, n_threads=2**40), ValueError,
                                       r"^n_threads: expected an integer <="),
        "NTKRandomFeatures-n_threads": (
            lambda: ntkfast.NTKRandomFeatures(n_components=16, n_threads=100_000).fit(X), ValueError,
            r"^n_threads: expected an integer <="),
        "ntk_kernel-n_threads-0": (lambda: ntkfast.ntk_kernel(X, n_threads=0), ValueError,
                                   r"^n_threads: expected an integer >= 1"),
        "ntk_kernel-depth-2**40": (lambda: ntkfast.ntk_kernel(X, depth=2**40), ValueError, r"^depth: expected an integer <="),
        "ntk_kernel-depth-0": (lambda: ntkfast.ntk_kernel(X, depth=0), ValueError, r"^depth: expected an integer >= 1"),
        "ntk_kernel-depth-float": (lambda: ntkfast.ntk_kernel(X, depth=1.5), TypeError, r"^depth: expected an integer"),
        "ntk_kernel-bias-negative": (lambda: ntkfast.ntk_kernel(X, bias=-1.0), ValueError, r"^bias: expected a finite"),
        "ntk_kernel-bias-nan": (lambda: ntkfast.ntk_kernel(X, bias=np.nan), ValueError, r"^bias: expected a finite"),
        "arccos_kernel-order": (lambda: ntkfast.arccos_kernel(X, order=2), ValueError, r"^order: expected 0 or 1"),
        "NTKRandomFeatures-kernel": (lambda: ntkfast.NTKRandomFeatures(kernel="rbf").fit(X), ValueError, r"^kernel: "),
        "NTKRandomFeatures-sketch": (
            lambda: ntkfast.NTKRandomFeatures(n_components=16, sketch_components=16).fit(X), ValueError,
            r"^sketch_components: expected an integer <= 15"),
        "ArcCosineFeatures-n_components-1": (lambda: ntkfast.ArcCosineFeatures(n_components=1).fit(X), ValueError,
                                             r"^n_components: expected an integer >= 2"),
        "transform-batch_size": (lambda: rf.transform(X, batch_size=0), ValueError, r"^batch_size: expected"),
        "random_state": (lambda: ntkfast.NTKRandomFeatures(random_state="a").fit(X), TypeError, r"^random_state: "),
        "NTKRidge-alpha": (lambda: ntkfast.NTKRidge(alpha=0.0).fit(X, X[:, 0]), ValueError, r"^alpha: "),
        # targets
        "NTKRidge-y-rows": (lambda: ntkfast.NTKRidge().fit(X, X[:5, 0]), ValueError, r"^y: expected 12 rows"),
        "NTKRidge-y-nan": (lambda: ntkfast.NTKRidge().fit(X, _with(np.nan, 3, 0)[:, 0]), ValueError,
                           r"^y: expected finite values"),
        "NTKRidge-y-str": (lambda: ntkfast.NTKRidge().fit(X, np.array(["a"] * N)), TypeError, r"^y: expected real"),
        "NTKRidgeClassifier-one-class": (lambda: ntkfast.NTKRidgeClassifier().fit(X, np.zeros(N)), ValueError,
                                         r"^y: expected at least 2 classes"),
        "NTKRidgeClassifier-continuous": (
            lambda: ntkfast.NTKRidgeClassifier().fit(X, X[:, 0]), ValueError,
            r"^y: expected class labels, got continuous values"),
        "NTKRidge-y-None": (lambda: ntkfast.NTKRidge().fit(X, None), ValueError, r"^y: expected an array of targets, got None"),
        "NTKRidgeClassifier-y-None": (lambda: ntkfast.NTKRidgeClassifier().fit(X, None), ValueError,
                                      r"^y: expected an array of targets, got None"),
        "ExactNTKRidge-y-None": (lambda: ntkfast.ExactNTKRidge().fit(X, None), ValueError, r"^y: expected an array"),
        "ExactNTKRidge-y-rows": (lambda: ntkfast.ExactNTKRidge().fit(X, X[:5, 0]), ValueError, r"^y: expected 12"),
        # tensor_sketch_product containers
        "tensor_sketch_product-factors-int": (lambda: ntkfast.tensor_sketch_product(5, [IDX], [SGN], 4), TypeError,
                                              r"^factors: expected a sequence"),
        "tensor_sketch_product-factors-array": (lambda: ntkfast.tensor_sketch_product(X, [IDX], [SGN], 4),
                                                TypeError, r"^factors: expected a sequence of 2-D arrays"),
        "tensor_sketch_product-factors-empty": (lambda: ntkfast.tensor_sketch_product([], [], [], 4), ValueError,
                                                r"^factors: expected at least one"),
        "tensor_sketch_product-indices-count": (
            lambda: ntkfast.tensor_sketch_product([X, X], [IDX], [SGN, SGN], 4), ValueError,
            r"^indices, signs: expected 2 of each"),
        "tensor_sketch_product-indices-None": (lambda: ntkfast.tensor_sketch_product([X], None, [SGN], 4),
                                               TypeError, r"^indices: expected a sequence"),
    }
    # bad hash arrays, for each sketch primitive and each of its hash arguments
    bad_hashes = {
        "index out of range": ("indices", np.array([0, 4, 1]), ValueError, r"expected values in \[0, 4\), got values in \[0, 4\]"),
        "negative index": ("indices", np.array([0, -1, 1]), ValueError, r"expected values in \[0, 4\)"),
        "huge uint64 index": ("indices", np.array([0, 2**64 - 1, 1], np.uint64), ValueError, r"expected values in"),
        "index too short": ("indices", np.array([0, 1]), ValueError, r"expected shape \(3,\), got \(2,\)"),
        "index too long": ("indices", np.array([0, 1, 2, 3]), ValueError, r"expected shape \(3,\), got \(4,\)"),
        "index 2-D": ("indices", IDX[None], ValueError, r"expected shape \(3,\), got \(1, 3\)"),
        "index float": ("indices", IDX.astype(float), TypeError, r"expected an integer array, got dtype float64"),
        "index bool": ("indices", np.array([True, False, True]), TypeError, r"expected an integer array"),
        "index object": ("indices", IDX.astype(object), TypeError, r"expected an integer array"),
        "sign 0": ("signs", np.array([1.0, 0.0, -1.0]), ValueError, r"expected values \+1 or -1"),
        "sign 2": ("signs", np.array([1, 2, -1]), ValueError, r"expected values \+1 or -1"),
        "sign nan": ("signs", np.array([1.0, np.nan, -1.0]), ValueError, r"expected values \+1 or -1"),
        "sign 0.5": ("signs", np.array([1.0, 0.5, -1.0]), ValueError, r"expected values \+1 or -1"),
        "sign length": ("signs", np.array([1.0, -1.0]), ValueError, r"expected shape \(3,\)"),
        "sign complex": ("signs", SGN.astype(complex), TypeError, r"expected a real array"),
        "sign bool": ("signs", SGN > 0, TypeError, r"expected a real array"),
    }
    for what, (kind, value, exc, msg) in bad_hashes.items():
        cs_args = {"indices": IDX, "signs": SGN, kind: value}
        cases[f"count_sketch-{what}"] = (
            lambda a=cs_args: ntkfast.count_sketch(X, a["indices"], a["signs"], 4), exc, f"^{kind}: {msg}")
        for side in ("u", "v"):
            ts = {"indices_u": IDX, "signs_u": SGN, "indices_v": IDX, "signs_v": SGN, f"{kind}_{side}": value}
            cases[f"tensor_sketch-{kind}_{side}-{what}"] = (
                lambda a=ts: ntkfast.tensor_sketch(X, X, a["indices_u"], a["signs_u"], a["indices_v"],
                                                   a["signs_v"], 4), exc, f"^{kind}_{side}: {msg}")
        tp = {"indices": [IDX, IDX], "signs": [SGN, SGN]}
        tp[kind] = [IDX if kind == "indices" else SGN, value]
        cases[f"tensor_sketch_product-{kind}[1]-{what}"] = (
            lambda a=tp: ntkfast.tensor_sketch_product([X, X], a["indices"], a["signs"], 4), exc,
            rf"^{kind}\[1\]: {msg}")
    return cases


SPECIFIC = _specific_cases()


@pytest.mark.parametrize("case", sorted(SPECIFIC))
def test_bad_argument(case):
    call, exc, match = SPECIFIC[case]
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda: ntkfast.ntk_kernel(np.broadcast_to(np.ones((1, D)), (10**7, D))),
    lambda: ntkfast.ExactNTKRidge().fit(np.broadcast_to(np.ones((1, D)), (10**7, D)), np.zeros(10**7)),
    lambda: _fitted("ExactNTKRidge").predict(np.broadcast_to(np.ones((1, D)), (10**12, D))),
    lambda: _fitted("NTKRandomFeatures").transform(np.broadcast_to(np.ones((1, D)), (10**12, D))),
], ids=["ntk_kernel", "ExactNTKRidge.fit", "ExactNTKRidge.predict", "transform"])
def test_huge_refused_before_any_large_allocation(call):
    # The input is a broadcast view (no memory); copying it to a C-contiguous array would
    # take 240 MB (10^7 x 3 float64) before the size of the result was even looked at.
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError, match="would need"):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak traced allocation {peak / 2**20:.0f} MiB before refusing"


@pytest.mark.parametrize("case", CLI_BAD)
def test_cli_bad_data(case, tmp_path, capsys):
    value = _bad_value(case)
    path = tmp_path / "X.npy"
    np.save(path, value)
    code = cli_main(["transform", "--data", str(path), "--out", str(tmp_path / "F.npy"),
                     "--n-components", "16", "-q"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("ntkfast: error: ")
    assert "X" in lines[0] or "X.npy" in lines[0], lines[0]
    assert not (tmp_path / "F.npy").exists()


def test_cli_absurd_n_components(tmp_path, capsys):
    np.save(tmp_path / "X.npy", X)
    code = cli_main(["transform", "--data", str(tmp_path / "X.npy"), "--out", str(tmp_path / "F.npy"),
                     "--n-components", str(10**12), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "n_components" in err and "would need" in err, err
    assert not (tmp_path / "F.npy").exists()


# --------------------------------------------------------------------------------------------
# Layouts that must work, and give exactly the result of a C-contiguous copy
# --------------------------------------------------------------------------------------------

def _layouts(A):
    fortran = np.asfortranarray(A)
    strided = np.empty((A.shape[0] * 2, A.shape[1] * 3), A.dtype)[::2, ::3]
    strided[...] = A
    reversed_ = A[::-1].copy()[::-1]
    readonly = A.copy()
    readonly.flags.writeable = False
    return {"fortran": fortran, "strided": strided, "negative strides": reversed_, "read-only": readonly,
            "list": A.tolist()}


def _working_calls():
    return {
        "ntk_kernel": lambda A: ntkfast.ntk_kernel(A, depth=2, bias=0.3),
        "ntk_kernel(X, Y)": lambda A: ntkfast.ntk_kernel(_X(seed=1), A),
        "nngp_kernel": lambda A: ntkfast.nngp_kernel(A, depth=3),
        "arccos_kernel": lambda A: ntkfast.arccos_kernel(A, order=1),
        "count_sketch": lambda A: ntkfast.count_sketch(A, IDX, SGN, 4),
        "tensor_sketch": lambda A: ntkfast.tensor_sketch(A, A, IDX, SGN, IDX[::-1], SGN, 5),
        "ArcCosineFeatures.fit_transform": lambda A: ntkfast.ArcCosineFeatures(n_components=16, random_state=0).fit_transform(A),
        "NTKRandomFeatures.transform": lambda A: _fitted("NTKRandomFeatures").transform(A),
        "NTKRandomFeatures.transform(out=)": lambda A: _fitted("NTKRandomFeatures").transform(A, out=np.empty((N, 32))),
        "NTKRandomFeatures.transform(batch_size=5)": lambda A: _fitted("NTKRandomFeatures").transform(A, batch_size=5),
        "NTKRidge.fit+predict": lambda A: ntkfast.NTKRidge(n_components=32, random_state=0).fit(A, X[:, 0]).predict(A),
        "NTKRidgeClassifier.decision_function": lambda A: _fitted("NTKRidgeClassifier").decision_function(A),
        "ExactNTKRidge.fit+predict": lambda A: ntkfast.ExactNTKRidge().fit(A, X[:, 1]).predict(A),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["fortran", "strided", "negative strides", "read-only", "list"])
@pytest.mark.parametrize("entry", sorted(_working_calls()))
def test_layouts_work_and_match_c_contiguous(entry, layout, dtype):
    call = _working_calls()[entry]
    A = _X(seed=3, dtype=dtype)
    if layout == "list" and dtype == np.float32:
        pytest.skip("a list carries no dtype (it becomes float64)")
    expected = call(np.ascontiguousarray(A))
    got = call(_layouts(A)[layout])
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("entry", sorted(_working_calls()))
def test_integer_and_bool_X_are_cast_to_float64(entry, dtype):
    """scikit-learn's rule: integer and boolean X are data, cast to float64 (uint8 images
    are the common case); every entry point gives exactly the result of the float64 cast."""
    call = _working_calls()[entry]
    A = np.random.default_rng(4).integers(0, 256 if dtype != np.bool_ else 2, size=(N, D)).astype(dtype)
    A[0] = 1  # no all-zero row (the NTK of a zero row is zero but the sketch asks for finite data)
    expected = call(A.astype(np.float64))
    got = call(A)
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


def test_integer_memmap_is_read_one_batch_at_a_time(tmp_path):
    path = tmp_path / "X.npy"
    A = np.random.default_rng(5).integers(0, 256, size=(N, D)).astype(np.uint8)
    np.save(path, A)
    Xm = np.load(path, mmap_mode="r")
    rf = _fitted("NTKRandomFeatures")
    np.testing.assert_array_equal(rf.transform(Xm, batch_size=5), rf.transform(A.astype(np.float64)))
    assert isinstance(Xm, np.memmap)


def test_read_only_hash_and_memmap(tmp_path):
    idx, sgn = IDX.copy(), SGN.copy()
    idx.flags.writeable = sgn.flags.writeable = False
    np.testing.assert_array_equal(ntkfast.count_sketch(X, idx, sgn, 4), ntkfast.count_sketch(X, IDX, SGN, 4))
    path = tmp_path / "X.npy"
    np.save(path, np.asfortranarray(X))
    Xm = np.load(path, mmap_mode="r")
    rf = _fitted("NTKRandomFeatures")
    np.testing.assert_array_equal(rf.transform(Xm), rf.transform(X))
    np.testing.assert_array_equal(ntkfast.ntk_kernel(Xm), ntkfast.ntk_kernel(X))


def test_masked_array_without_masked_entries_works():
    # Only hidden (masked) values are a problem; a mask with nothing masked is plain data.
    A = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    np.testing.assert_array_equal(ntkfast.ntk_kernel(A), ntkfast.ntk_kernel(X))


def test_default_thread_count_is_clipped(monkeypatch):
    # An OpenMP limit beyond what the system can start (OMP_NUM_THREADS=100000 crashed
    # libgomp with a segmentation fault) is clipped, not passed on.
    from ntkfast._engine import validation as _validation

    monkeypatch.setattr(_validation._sketch, "max_threads", lambda: 10**6)
    assert _validation.resolve_n_threads(None) == _validation.MAX_THREADS
    assert _validation.MAX_THREADS >= 1024
