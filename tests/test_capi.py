"""The C-level API: build examples/cython_consumer against this ntkfast, call it, check it.

The pattern of numpy/random/tests/test_extending.py: the example extension is copied to a
temporary folder and built there by its own setup.py in a subprocess, with ntkfast importable
and ``ntkfast.get_include()`` on its include paths; its functions call ntkfast's kernels
inside ``with nogil:`` from prange threads, and the tests also run them from several Python
threads at once.  Results are compared with the Python API (and plain numpy) to rounding.
"""
import concurrent.futures
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import ntkfast
from ntkfast import _exact, _polysketch, _sketch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _c_compiler_problem(tmp):
    """None if setuptools can compile a C file here, else the reason it cannot."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    src = tmp / "probe.c"
    src.write_text("int ntkfast_probe(void) { return 0; }\n")
    try:
        cc = new_compiler()
        customize_compiler(cc)
        cc.compile([str(src)], output_dir=str(tmp))
    except Exception as exc:  # CompileError, missing executable, no MSVC...
        return f"{type(exc).__name__}: {exc}"
    return None


def _build_example(tmp_path_factory, folder, module_name):
    """Copy examples/<folder> to a temporary folder, build it there, import ``module_name``."""
    pytest.importorskip("Cython", reason="building the example extensions needs Cython")
    source = EXAMPLES / folder
    if not source.is_dir():
        pytest.skip(f"example sources not found at {source} (not running from the source tree)")
    tmp = tmp_path_factory.mktemp(folder)
    problem = _c_compiler_problem(tmp)
    if problem is not None:
        pytest.skip(f"no working C compiler to build the example extension ({problem})")
    build = tmp / folder
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("build", "*.so", "*.pyd", "ntk_consumer.c"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ntkfast.get_include(), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=build, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"building {folder} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    built = [p for p in build.iterdir() if p.name.startswith(module_name + ".") and p.suffix in (".so", ".pyd")]
    assert len(built) == 1, f"expected one built module, got {built}"
    spec = importlib.util.spec_from_file_location(module_name, built[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def consumer(tmp_path_factory):
    """examples/cython_consumer: Cython, ``cimport ntkfast``."""
    return _build_example(tmp_path_factory, "cython_consumer", "ntk_consumer")


@pytest.fixture(scope="module")
def c_consumer(tmp_path_factory):
    """examples/c_consumer: plain C, ``#include "ntkfast/ntkfast.h"``."""
    return _build_example(tmp_path_factory, "c_consumer", "ntk_c_consumer")


def _in_threads(fn, n_calls=4):
    """Run fn(i) for i < n_calls from as many Python threads at once; results in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=n_calls) as pool:
        return list(pool.map(fn, range(n_calls)))


def _hash(rng, k, n_buckets, dtype=np.float64):
    return rng.integers(0, n_buckets, size=k).astype(np.intp), rng.choice([-1.0, 1.0], size=k).astype(dtype)


def test_get_include_and_version():
    root = Path(ntkfast.get_include())
    for name in ("__init__.pxd", "_capi.pxd", "_exact.pxd", "_sketch.pxd", "_polysketch.pxd",
                 "_parallel.pxd", "_openmp.pxd", "ntkfast.h"):
        assert (root / "ntkfast" / name).is_file()
    assert isinstance(ntkfast.capi_version, int) and ntkfast.capi_version >= 1
    # One contract, exported by two modules: both report the same version.
    assert _exact.CAPI_VERSION == _sketch.CAPI_VERSION == _polysketch.CAPI_VERSION == ntkfast.capi_version


def test_consumer_version_matches(consumer):
    assert consumer.NTKFAST_CAPI_VERSION == ntkfast.capi_version


def test_named_codes_mean_the_same_in_c_and_python(consumer):
    """The enum values a consumer compiles in drive the kernels as the Python constants do:
    the identity activation through the C API gives scale * X @ W.T (plain numpy)."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((19, 7))
    W = rng.standard_normal((11, 7))
    scale = rng.uniform(0.5, 2.0, size=11)
    assert consumer.ACT == {"step": _sketch.ACT_STEP, "relu": _sketch.ACT_RELU,
                            "identity": _sketch.ACT_IDENTITY}
    assert consumer.KIND == {"arccos0": _exact.KIND_ARCCOS0, "arccos1": _exact.KIND_ARCCOS1,
                             "nngp": _exact.KIND_NNGP, "ntk": _exact.KIND_NTK}
    got = consumer.relu_features(X, W, scale, consumer.ACT["identity"], n_threads=2)
    assert_allclose(got, scale * (X @ W.T), rtol=1e-12, atol=1e-12)
    got = consumer.relu_features(X, W, scale, consumer.ACT["relu"], n_threads=2)
    assert_allclose(got, scale * np.maximum(X @ W.T, 0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_count_sketch(consumer, dtype, rtol):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((203, 37)).astype(dtype)
    idx, sg = _hash(rng, 37, 19, dtype)
    expected = ntkfast.count_sketch(X, idx, sg, 19)

    def call(i):
        return consumer.count_sketch(X, idx, sg, 19, n_threads=1 + i % 3)

    for got in _in_threads(call):
        assert got.dtype == dtype
        assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(X).sum(axis=1).max())


def test_step_count_sketch_and_relu_features(consumer):
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((61, 40))
    idx, sg = _hash(rng, 40, 13)
    got = _in_threads(lambda i: consumer.step_count_sketch(Z, idx, sg, 0.25, 13, n_threads=2))
    expected = ntkfast.count_sketch(0.25 * (Z > 0), idx, sg, 13)
    for g in got:
        assert_allclose(g, expected, rtol=0, atol=1e-14)

    X = rng.standard_normal((29, 6))
    W = rng.standard_normal((17, 6))
    scale = rng.uniform(0.5, 2.0, size=17)
    for order, act in ((0, lambda z: (z > 0).astype(float)), (1, lambda z: np.maximum(z, 0))):
        expected = scale * act(X @ W.T)
        for g in _in_threads(lambda i: consumer.relu_features(X, W, scale, order, n_threads=2)):
            assert_allclose(g, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth, bias", [(1, 0.0), (3, 0.0), (2, 0.7)])
def test_exact_kernels(consumer, depth, bias):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((41, 9))
    Y = rng.standard_normal((23, 9))
    Y[5] = 0.0                      # a zero row: kernel 0 without bias
    ntk_expected = ntkfast.ntk_kernel(X, Y, depth=depth, bias=bias)
    nngp_expected = ntkfast.nngp_kernel(X, Y, depth=depth, bias=bias)
    k1_expected = ntkfast.arccos_kernel(X, Y, order=1)

    for ntk, nngp, k0, k1 in _in_threads(lambda i: consumer.kernels(X, Y, depth, bias, n_threads=2)):
        assert_allclose(ntk, ntk_expected, rtol=1e-11, atol=1e-12)
        assert_allclose(nngp, nngp_expected, rtol=1e-11, atol=1e-12)
        # kappa0/kappa1 of the cosine (plain numpy closed form; the zero row gives a NaN cosine).
        nx = np.linalg.norm(X, axis=1)[:, None]
        ny = np.linalg.norm(Y, axis=1)[None, :]
        ok = np.broadcast_to(ny > 0, k0.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.clip((X @ Y.T) / (nx * ny), -1, 1)
        assert_allclose(k0[ok], (1 - np.arccos(c) / np.pi)[ok], rtol=1e-12)
        assert_allclose((nx * ny * k1)[ok], k1_expected[ok], rtol=1e-11)

    norms = np.linalg.norm(X, axis=1)
    diag = consumer.self_kernels(norms, depth, bias)
    assert_allclose(diag[:, 0], np.diag(ntkfast.ntk_kernel(X, depth=depth, bias=bias)), rtol=1e-12)
    assert_allclose(diag[:, 1], np.diag(ntkfast.nngp_kernel(X, depth=depth, bias=bias)), rtol=1e-12)


@pytest.mark.parametrize("n_buckets", [1, 16, 33])
def test_tensor_sketch(consumer, n_buckets):
    rng = np.random.default_rng(4)
    U = rng.standard_normal((57, 11))
    V = rng.standard_normal((57, 8))
    iu, su = _hash(rng, 11, n_buckets)
    iv, sv = _hash(rng, 8, n_buckets)
    expected = ntkfast.tensor_sketch(U, V, iu, su, iv, sv, n_buckets)
    atol = 1e-12 * np.abs(expected).max()

    # Per-row TensorSketch with the caller's FFT callbacks, from prange and Python threads.
    for got in _in_threads(lambda i: consumer.tensor_sketch(U, V, iu, su, iv, sv, n_buckets, n_threads=1 + i % 2)):
        assert_allclose(got, expected, rtol=1e-12, atol=atol)
    # Split primitives: nogil CountSketches and spectrum products around batched FFTs.
    got = consumer.tensor_sketch_batched(U, V, iu, su, iv, sv, n_buckets, n_threads=2)
    assert_allclose(got, expected, rtol=1e-12, atol=atol)
    # The defining identity, independently of ntkfast: CountSketch of the outer product with
    # hash (h_u(i) + h_v(j)) mod D and sign s_u(i) s_v(j).
    outer = np.einsum("ni,nj->nij", U, V).reshape(len(U), -1)
    h = ((iu[:, None] + iv[None, :]) % n_buckets).ravel()
    s = (su[:, None] * sv[None, :]).ravel()
    direct = np.zeros((len(U), n_buckets))
    np.add.at(direct.T, h, (outer * s).T)
    assert_allclose(got, direct, rtol=1e-12, atol=atol)


@pytest.mark.parametrize("n_components", [2, 14, 64])
def test_tensor_srht(consumer, n_components):
    rng = np.random.default_rng(6)
    U = rng.standard_normal((41, 11))
    V = rng.standard_normal((41, 8))
    m = n_components // 2
    iu, iv = rng.integers(0, 11, m).astype(np.intp), rng.integers(0, 8, m).astype(np.intp)
    su, sv = rng.choice([-1.0, 1.0], 11), rng.choice([-1.0, 1.0], 8)
    expected = ntkfast.tensor_srht(U, V, iu, su, iv, sv, n_components)
    for got in _in_threads(lambda i: consumer.tensor_srht(U, V, iu, su, iv, sv, n_components, n_threads=1 + i % 2)):
        assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    # independently of ntkfast: the full complex FFT of the signed rows, sampled
    z = np.fft.fft(U * su, axis=1)[:, iu] * np.fft.fft(V * sv, axis=1)[:, iv] * np.sqrt(2 / n_components)
    assert_allclose(got, np.concatenate([z.real, z.imag], axis=1), rtol=1e-12, atol=1e-12 * np.abs(z).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_srht_sample(consumer, dtype):
    """NTKSketch's SRHT against e1 through the C API, from Python threads at once, against
    the full complex FFT of the rows (plain numpy) and against the Python driver."""
    rng = np.random.default_rng(8)
    U = rng.standard_normal((23, 13)).astype(dtype)
    freq = rng.integers(0, 13, 9).astype(np.intp)  # above and below 13 / 2
    z = np.fft.fft(U.astype(np.float64), axis=1)[:, freq] * 0.5
    expected = np.concatenate([z.real, z.imag], axis=1)
    tol = dict(rtol=1e-5, atol=1e-5 * np.abs(expected).max()) if dtype == np.float32 else \
        dict(rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    for got in _in_threads(lambda i: consumer.srht_sample(U, freq, 0.5, n_threads=1 + i % 2)):
        assert got.dtype == dtype
        assert_allclose(got, expected, **tol)
    spec = np.fft.rfft(U, axis=1).astype(np.complex64 if dtype == np.float32 else np.complex128)
    driver = np.zeros((23, 20), dtype=dtype)
    _polysketch.srht_sample_rows(spec.view(dtype), 13, freq, 0.5, driver, 2, 2)
    assert_allclose(driver[:, 2:], expected, **tol)
    assert not driver[:, :2].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dual_count_sketch(consumer, dtype):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((31, 17)).astype(dtype)
    ia, wa = rng.integers(0, 5, 17).astype(np.intp), rng.standard_normal(17).astype(dtype)
    ib, wb = rng.integers(0, 8, 17).astype(np.intp), rng.standard_normal(17).astype(dtype)
    # independently: the CountSketch matrices S[b, t] = w[t] if idx[t] == b
    Sa, Sb = np.zeros((5, 17)), np.zeros((8, 17))
    Sa[ia, np.arange(17)] = wa
    Sb[ib, np.arange(17)] = wb
    ea, eb = X.astype(np.float64) @ Sa.T, X.astype(np.float64) @ Sb.T
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for got_a, got_b in _in_threads(lambda i: consumer.dual_count_sketch(X, ia, wa, 5, ib, wb, 8, n_threads=1 + i % 2)):
        assert_allclose(got_a, ea, rtol=rtol, atol=rtol * np.abs(ea).max())
        assert_allclose(got_b, eb, rtol=rtol, atol=rtol * np.abs(eb).max())
    out_a, out_b = np.full((31, 6), 7, dtype=dtype), np.full((31, 8), 7, dtype=dtype)
    _polysketch.dual_count_sketch_rows(X, ia, wa, out_a, 5, ib, wb, out_b, 8, 2)
    assert_allclose(out_a[:, :5], ea, rtol=rtol, atol=rtol * np.abs(ea).max())
    assert (out_a[:, 5] == 7).all()   # only the first n_a columns are written
    assert_allclose(out_b, eb, rtol=rtol, atol=rtol * np.abs(eb).max())
    with pytest.raises(ValueError, match="idx_a: expected indices in \\[0, 4\\)"):
        _polysketch.dual_count_sketch_rows(X, ia, wa, out_a, 4, ib, wb, out_b, 8, 2)


def test_plain_c_consumer(c_consumer):
    assert c_consumer.NTKFAST_CAPI_VERSION == ntkfast.capi_version
    assert (c_consumer.NTKFAST_ACT_IDENTITY, c_consumer.NTKFAST_KIND_NTK) == (_sketch.ACT_IDENTITY, _exact.KIND_NTK)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 6))
    X[3] = 0.0
    for depth, bias in ((1, 0.0), (3, 0.4)):
        K = ntkfast.ntk_kernel(X, depth=depth, bias=bias)
        S = ntkfast.nngp_kernel(X, depth=depth, bias=bias)
        norms = np.linalg.norm(X, axis=1)
        pairs = [(i, j) for i in range(len(X)) for j in range(len(X)) if i != j]

        def call(t):
            return [c_consumer.ntk(float(X[i] @ X[j]), norms[i], norms[j], depth, bias) for i, j in pairs[t::4]]

        for t, values in enumerate(_in_threads(call)):
            for (i, j), (k, s) in zip(pairs[t::4], values):
                assert_allclose([k, s], [K[i, j], S[i, j]], rtol=1e-11, atol=1e-12)

    idx, sg = _hash(rng, 6, 4)
    expected = ntkfast.count_sketch(X, idx, sg, 4)

    def sketch(i):
        out = np.empty(4)
        c_consumer.count_sketch(np.ascontiguousarray(X[i]), idx, sg, out)
        return out

    assert_allclose(np.array(_in_threads(sketch, n_calls=len(X))), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_structured_projection(consumer, dtype, tol):
    """fwht_* and structured_project_row_* against scipy.linalg.hadamard and the explicit
    block products (plain numpy), from several threads."""
    from scipy.linalg import hadamard
    rng = np.random.default_rng(8)
    V = rng.standard_normal((5, 64)).astype(dtype)
    want = V.astype(np.float64) @ hadamard(64).T
    got = consumer.fwht(V.copy())
    assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max())
    k, m, p = 13, 40, 16
    diag = rng.standard_normal((3, 2, p)).astype(dtype)
    perm = np.array([[rng.permutation(p) for _ in range(2)] for _ in range(3)], dtype=np.intp)
    X = rng.standard_normal((23, k)).astype(dtype)
    H = hadamard(p).astype(np.float64)
    blocks = []
    for b in range(3):
        M = np.eye(p)
        for s in range(2):
            M = H @ (np.diag(diag[b, s].astype(np.float64)) @ np.eye(p)[perm[b, s]] @ M)
        blocks.append(M)
    Z = X.astype(np.float64) @ np.vstack(blocks)[:m, :k].T
    for got in _in_threads(lambda i: consumer.structured_project(X, diag, perm, m, n_threads=1 + i % 2)):
        assert_allclose(got, Z, rtol=0, atol=tol * np.abs(Z).max())


def test_spectrum_to_real_row(consumer):
    """spectrum_to_real_row_* keeps inner products (Parseval) and matches the explicit real
    Fourier basis (plain numpy: cos and sin rows)."""
    rng = np.random.default_rng(9)
    for D in (1, 6, 9):
        T = rng.standard_normal((4, D))
        got = consumer.spectrum_to_real(np.ascontiguousarray(np.fft.rfft(T, axis=1)), D)
        assert_allclose(got @ got.T, T @ T.T, rtol=1e-12, atol=1e-12)
        t = np.arange(D)
        want = [T.sum(1) / np.sqrt(D)]
        for f in range(1, (D + 1) // 2):
            want += [T @ np.cos(2 * np.pi * f * t / D) * np.sqrt(2 / D), -T @ np.sin(2 * np.pi * f * t / D) * np.sqrt(2 / D)]
        if D % 2 == 0:
            want.append(T @ np.cos(np.pi * t) / np.sqrt(D))
        assert_allclose(got, np.array(want).T, rtol=1e-12, atol=1e-12)
