"""Workloads shared by the pytest-benchmark files (``bench/bench_*.py``), ``bench/report.py``
and the study scripts (data sets, the machine and its load).

Every comparison of issue 4 is a pair (ntkfast, reference) built here from the same data, so
that the two sides are timed in the same process, one after the other, and reported as a
ratio: absolute times drift on a shared machine, ratios much less.

Nothing here asserts a timing; the targets are only printed next to the measurements.
"""
import datetime
import os
import platform
import resource
import shlex
import subprocess
import sys
import time

import numpy as np
import scipy
import scipy.fft
import scipy.linalg

import ntkfast
from ntkfast._engine.ridge_stats import cho_factor_inplace as _cho_factor_inplace

# Targets of issue 4, printed next to the measured ratios (never asserted).
TARGETS = {
    "arccos_vs_matmul": "<= 1.15",
    "sketch_vs_sklearn_float64": ">= 4 (speed-up)",
    "sketch_vs_sklearn_float32": ">= 6 (speed-up)",
    "sketch_vs_fft": "<= 1.5",
    "ntk_speedup_40k": ">= 20 (speed-up at n=40,000)",
    "slope_n": "0.9 .. 1.1",
    "slope_d": "<= 1.0",
    "memory_excess_mib": "< 300 MiB over out's size",
    "threads": ">= 1.7 (speed-up 1 -> 2 threads)",
}


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

def time_call(fn, repeat=3, warmup=1):
    """Times (seconds) of ``repeat`` calls of ``fn()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.array(times)


def time_pair(fn, ref, repeat=3, warmup=1):
    """Time ``fn`` and ``ref`` interleaved (fn, ref, fn, ref, ...), so that a change of the
    machine's load during the run hits both sides alike.  Returns two arrays of times."""
    for _ in range(warmup):
        fn()
        ref()
    a, b = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref()
        b.append(time.perf_counter() - t0)
    return np.array(a), np.array(b)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def gaussian(n, d, dtype=np.float64, seed=0):
    """Standard Gaussian ``(n, d)`` data in ``dtype``, generated in chunks (no float64
    temporary the size of a float32 result)."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, d), dtype=dtype)
    for i0 in range(0, n, 1 << 16):
        i1 = min(n, i0 + (1 << 16))
        X[i0:i1] = rng.standard_normal((i1 - i0, d), dtype=np.dtype(dtype).type)
    return X


def teacher_regression(n, d, seed=0, width=256, noise=0.1):
    """A synthetic regression task: ``y = relu(X A / sqrt(d)) b / sqrt(width) + noise``,
    a random one-hidden-layer ReLU teacher on Gaussian inputs (the NTK's natural habitat).

    The teacher is drawn from ``seed`` alone, so train and test sets drawn with different
    ``n`` or data seeds share it.  Returns ``X`` (n, d) float64 and ``y`` (n,) float64.
    """
    t = np.random.default_rng(12345)
    A = t.standard_normal((d, width))
    b = t.standard_normal(width)
    X = np.random.default_rng(seed).standard_normal((n, d))
    y = np.maximum(X @ A / np.sqrt(d), 0.0) @ b / np.sqrt(width)
    y += noise * np.random.default_rng(seed + 1).standard_normal(n)
    return X, y


def read_casp(path):
    """CASP (UCI "Physicochemical properties of protein tertiary structure") from its CSV, as
    it is: ``X``, the feature columns (F1..F9), and ``y``, the target column ``RMSD``."""
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    features = [i for i, name in enumerate(header) if name != "RMSD"]
    return data[:, features], data[:, header.index("RMSD")]


def load_casp(path, n_train, n_test, seed=0):
    """CASP (:func:`read_casp`) split at random, ``X`` and ``y`` standardised with the training
    rows' statistics."""
    X, y = read_casp(path)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(X))
    if n_train + n_test > len(X):
        raise ValueError(f"--casp: expected at most {len(X)} rows in all, "
                         f"got n_train={n_train} + n_test={n_test}")
    tr, te = idx[:n_train], idx[n_train:n_train + n_test]
    mu, sd = X[tr].mean(0), X[tr].std(0)
    sd[sd == 0] = 1.0
    ym, ys = y[tr].mean(), y[tr].std()
    return (X[tr] - mu) / sd, (y[tr] - ym) / ys, (X[te] - mu) / sd, (y[te] - ym) / ys


def unit_gaussian_and_casp(n, d, casp):
    """The two data sets of the kernel-error studies (bench/srht_vs_tensorsketch.py,
    step_width.py, leverage_arccos.py): yields ``("Gaussian", X)``, ``n`` standard Gaussian
    rows of ``d`` columns scaled to unit norm, then ``("CASP", X)``, ``n`` rows of the CSV
    ``casp`` (:func:`read_casp`, drawn without replacement), each column standardised on them;
    the second is skipped, with a note on stdout, where the file is missing."""
    rng = np.random.default_rng(0)
    G = rng.standard_normal((n, d))
    yield "Gaussian", G / np.linalg.norm(G, axis=1, keepdims=True)
    if casp and os.path.exists(casp):
        X, _ = read_casp(casp)
        X = X[rng.choice(len(X), n, replace=False)]
        yield "CASP", (X - X.mean(0)) / X.std(0)
    else:
        print(f"(CASP data not found at {casp!r}: skipped)\n")


# --------------------------------------------------------------------------------------------
# The comparisons (each returns a pair of zero-argument callables: ntkfast, reference)
# --------------------------------------------------------------------------------------------

def arccos_pair(n, d, m, dtype, n_threads=None, seed=0):
    """(1) ``ArcCosineFeatures(order=1)`` into a preallocated output vs ``X @ W`` into the
    same kind of output (numpy, same dtype), plus numpy's ``np.maximum(X @ W, 0)``.

    Both write into preallocated, already touched arrays so that page faults of a fresh
    output are charged to neither side.
    """
    X = gaussian(n, d, dtype, seed)
    est = ntkfast.ArcCosineFeatures(order=1, n_components=m, random_state=seed,
                                    n_threads=n_threads).fit(X[:1])
    WT = np.ascontiguousarray(est.weights_.T)
    out = np.ones((n, m), dtype=dtype)
    out_ref = np.ones((n, m), dtype=dtype)

    def features():
        est.transform(X, out=out)

    def matmul():
        np.matmul(X, WT, out=out_ref)

    def numpy_relu():
        np.maximum(np.matmul(X, WT, out=out_ref), 0, out=out_ref)

    return features, matmul, numpy_relu


def _hashes(k, D, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, D, size=k), 2 * rng.integers(0, 2, size=k) - 1,
            rng.integers(0, D, size=k), 2 * rng.integers(0, 2, size=k) - 1)


def sketch_pair(n, d, D, dtype, n_threads=None, seed=0):
    """(2) ``ntkfast.tensor_sketch(U, U, ...)`` vs scikit-learn's
    ``PolynomialCountSketch(degree=2, n_components=D).transform`` (fitted beforehand) and vs
    two ``scipy.fft.rfft`` and one ``irfft`` of ``(n, D)`` arrays of the same dtype (the FFT
    work the TensorSketch cannot avoid, with the same number of workers).

    Returns ``(ntkfast, sklearn, fft)`` callables.
    """
    from sklearn.kernel_approximation import PolynomialCountSketch

    from ntkfast._engine.validation import resolve_n_threads

    U = gaussian(n, d, dtype, seed)
    iu, su, iv, sv = _hashes(d, D, seed)
    pcs = PolynomialCountSketch(degree=2, n_components=D, gamma=1.0, coef0=0.0,
                                random_state=seed).fit(U[:1])
    workers = resolve_n_threads(n_threads)
    A = gaussian(n, D, dtype, seed + 1)
    B = gaussian(n, D, dtype, seed + 2)

    def ours():
        return ntkfast.tensor_sketch(U, U, iu, su, iv, sv, D, n_threads=n_threads)

    def sklearn():
        return pcs.transform(U)

    def fft():
        fa = scipy.fft.rfft(A, axis=1, workers=workers)
        fb = scipy.fft.rfft(B, axis=1, workers=workers)
        fa *= fb
        return scipy.fft.irfft(fa, n=D, axis=1, workers=workers, overwrite_x=True)

    return ours, sklearn, fft


def exact_krr(X, y, lam, depth, n_threads=None):
    """Exact NTK kernel ridge regression: ``ntk_kernel`` then a Cholesky solve of
    ``(K + lam I) a = y`` in place.  Returns the dual weights.

    ``K.T`` (K is symmetric) is Fortran-ordered, so LAPACK factors it without the copy that
    ``scipy.linalg.solve`` makes of a C-ordered matrix: at n = 40,000 that copy alone needs
    another 12.8 GB and does not fit in 24 GB.
    """
    K = ntkfast.ntk_kernel(X, depth=depth, n_threads=n_threads)
    K.flat[:: K.shape[0] + 1] += lam
    factor = _cho_factor_inplace(K.T)   # ExactNTKRidge's (one BLAS thread above n = 20,000)
    return scipy.linalg.cho_solve(factor, y, check_finite=False)


def exact_predict(X_train, coef, X_test, depth, n_threads=None):
    return ntkfast.ntk_kernel(X_test, X_train, depth=depth, n_threads=n_threads) @ coef


def features_ridge(X, y, lam, depth, m, dtype=np.float64, n_threads=None, seed=0):
    """NTK random features + ridge: ``NTKRidge`` (transform and ``Phi^T Phi`` accumulated
    batch by batch, then a Cholesky solve), with the same penalty as the exact model and no
    intercept, so that both solve the same problem up to the kernel approximation."""
    return ntkfast.NTKRidge(depth=depth, n_components=m, alpha=lam, fit_intercept=False,
                            random_state=seed, n_threads=n_threads).fit(X.astype(dtype), y)


def syrk_floor(n, m, seed=0):
    """A callable timing ``Phi^T Phi`` for an ``(n, m)`` float64 matrix by one BLAS syrk: the
    statistic every feature ridge must form, whatever computes the features."""
    from scipy.linalg.blas import dsyrk

    P = gaussian(n, m, np.float64, seed)
    G = np.zeros((m, m), dtype=np.float64, order="F")

    def run():
        dsyrk(1.0, P.T, beta=0.0, c=G, overwrite_c=1)

    return run


# --------------------------------------------------------------------------------------------
# Memory (5): run in a fresh interpreter
# --------------------------------------------------------------------------------------------

MEMORY_CHILD = r"""
import json, resource, sys, numpy as np
sys.path.insert(0, sys.argv[5])
import ntkfast
n, d, m, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def hwm_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
rng = np.random.default_rng(0)
X = np.empty((n, d), dtype=np.float32)
for i0 in range(0, n, 65536):
    i1 = min(n, i0 + 65536)
    X[i0:i1] = rng.standard_normal((i1 - i0, d), dtype=np.float32)
est = ntkfast.NTKRandomFeatures(depth=1, n_components=m, random_state=0).fit(X[:1])
est.transform(X[:4096])   # warm up: libraries, BLAS buffers, FFT plans
if mode == "memmap":
    out = np.lib.format.open_memmap(sys.argv[6], mode="w+", dtype=np.float32, shape=(n, m))
else:
    out = np.empty((n, m), dtype=np.float32)
before_rss, before_peak = rss_mib(), peak_mib()
reset = reset_hwm()
est.transform(X, out=out)
after_peak, after_hwm = peak_mib(), hwm_mib()
print(json.dumps({"n": n, "d": d, "m": m, "mode": mode, "out_mib": out.nbytes / 2**20,
                  "x_mib": X.nbytes / 2**20, "rss_before_mib": before_rss,
                  "peak_before_mib": before_peak, "peak_after_mib": after_peak,
                  "hwm_after_mib": after_hwm, "hwm_reset": reset}))
"""


def memory_run(n, d=64, m=1024, mode="empty", tmpdir=None):
    """(5) Peak RSS of ``NTKRandomFeatures(depth=1).transform(X, out=out)`` (float32) in a
    fresh interpreter.  ``mode``: "empty" (``np.empty``) or "memmap" (``open_memmap``; the
    written pages of a shared file mapping count in RSS too).

    Returns a dict; ``excess_mib`` = peak - out - (RSS before the transform, which holds X
    and the libraries but not ``out``, untouched then): the transform's own working memory.
    The peak is ``VmHWM`` of /proc/self/status, reset just before the transform
    (``/proc/self/clear_refs``); ``ru_maxrss`` (``peak_after_mib``) is reported too, but on
    Linux a child started from a large parent can inherit the parent's RSS in it.
    """
    import json
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(ntkfast.__file__)))
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        path = os.path.join(tmp, "out.npy")
        res = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(n), str(d), str(m), mode,
                              root, path], capture_output=True, text=True, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    # before_rss already holds X (and the interpreter); out is not touched yet.
    r["excess_mib"] = r["hwm_after_mib"] - r["out_mib"] - r["rss_before_mib"]
    return r


# --------------------------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------------------------

def machine_info():
    """Dict describing the machine and the numerical libraries (for the results file)."""
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    pools = []
    for p in threadpool_info():
        pools.append(f"{p.get('internal_api')} {p.get('version') or ''} "
                     f"({p.get('user_api')}, {p.get('num_threads')} threads"
                     + (f", {p.get('architecture')}" if p.get("architecture") else "") + ")")
    import sklearn

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load average (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "ntkfast": ntkfast.__version__,
        "thread pools": "; ".join(pools),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset"),
    }


def load_average():
    """``"load average (1, 5, 15 min) 1.02, 0.88, 0.75"``, or ``"load average unavailable"``."""
    try:
        return "load average (1, 5, 15 min) " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # no load average on this platform
        return "load average unavailable"


def machine_load():
    """The CPU count and the load average: ``"2 CPUs, load average (1, 5, 15 min) ..."``."""
    return f"{os.cpu_count()} CPUs, {load_average()}"


def print_run_header(*settings):
    """Print the first lines of a study's results: the command, then the date (UTC), the
    machine, its load at start, ``settings`` (e.g. ``"1 thread(s)"``), OMP_NUM_THREADS and the
    versions of ntkfast and numpy."""
    print(f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`  ")
    print(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"machine: {platform.machine()}, {machine_load()} at start; "
          + "".join(f"{s}, " for s in settings)
          + f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"ntkfast {ntkfast.__version__}, numpy {np.__version__}  ")


def print_run_end():
    """Print the last line of a study's results: the load at the end."""
    print(f"At the end: {load_average()}")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
