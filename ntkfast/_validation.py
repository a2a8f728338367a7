"""Input checks shared by every public entry point.

Everything is validated once, here, before any compiled code runs: the kernels in
``_sketch.pyx`` assume C-contiguous, finite arrays of float32 or float64 and in-range
hash indices.  Messages follow the pattern "<argument>: expected <what>, got <what>".
"""
import numbers
import os

import numpy as np

from . import _sketch

_FLOAT_DTYPES = (np.float32, np.float64)


def float_dtype(dtype, name):
    """The dtype the kernels compute in: float32 stays float32, other floats become float64.

    Integer, boolean, complex and object arrays are refused rather than silently cast: an
    integer array is often a label or index array passed by mistake.
    """
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.dtype(np.float32)
    if dtype.kind == "f":
        return np.dtype(np.float64)
    raise TypeError(
        f"{name}: expected a floating-point array (float32 or float64), got dtype {dtype}; "
        f"convert it first, e.g. {name}.astype(np.float64)"
    )


def as_float_array(X, name):
    """``X`` as an ndarray of a float dtype, without copying an ndarray that already is one.

    Python sequences of numbers are converted to float64.  Memory-mapped arrays stay
    memory-mapped (nothing is read here).
    """
    if type(X).__module__.startswith("scipy.sparse") and hasattr(X, "toarray"):
        raise TypeError(
            f"{name}: expected a dense array, got a scipy sparse {type(X).__name__}; "
            f"ntkfast has no sparse kernels: pass {name}.toarray() if it fits in memory"
        )
    if isinstance(X, np.ma.MaskedArray):
        if np.ma.getmask(X) is not np.ma.nomask and np.ma.getmask(X).any():
            # np.asarray would drop the mask and compute with the hidden values.
            raise TypeError(
                f"{name}: expected a plain array, got a masked array with masked entries; "
                f"fill or drop them first (e.g. {name}.filled(0.0))"
            )
        X = np.ma.getdata(X)
    if not isinstance(X, np.ndarray):
        if hasattr(X, "__array__") or hasattr(X, "__array_interface__"):
            X = np.asarray(X)
        else:
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}: expected an array of real numbers, got {type(X).__name__} ({exc})") from None
    float_dtype(X.dtype, name)
    return X


def check_2d_shape(X, name, n_features=None):
    if X.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n_samples, n_features), "
            f"got a {X.ndim}-D array of shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name}: expected at least 1 sample, got an array of shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name}: expected at least 1 feature, got an array of shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features (as seen in fit), got {X.shape[1]}"
        )


def check_finite(X, name, row_offset=0):
    # The sum is a cheap first test; only when it is not finite (NaN/inf present, or an
    # overflow of large but finite values) is the exact elementwise test run.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(X)):
            return
    bad = ~np.isfinite(X)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1))) + row_offset
        raise ValueError(f"{name}: expected finite values, got NaN or infinity (first in row {row})")


def check_array(X, name, n_features=None, dtype=None):
    """Validate ``X`` and return it as a C-contiguous float32/float64 array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        Argument name used in error messages.
    n_features : int, optional
        Required number of columns (the count seen in ``fit``).
    dtype : numpy dtype, optional
        Force this dtype instead of the input's own float dtype.
    """
    X = as_float_array(X, name)
    check_2d_shape(X, name, n_features)
    dtype = float_dtype(X.dtype, name) if dtype is None else np.dtype(dtype)
    X = np.ascontiguousarray(X, dtype=dtype)
    check_finite(X, name)
    return X


def check_int(value, name, minimum, maximum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum}, got {value}")
    return value


def check_nonnegative_float(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    return value


# More threads than this is a mistake, not a request: libgomp crashes (segmentation fault)
# when it cannot create the threads of a parallel region (seen with 100,000), and past the
# core count extra threads only add overhead.  Also keeps the value inside a C int.
MAX_THREADS = max(1024, 8 * (os.cpu_count() or 1))


def resolve_n_threads(n_threads):
    """Number of OpenMP threads to use: ``None`` means the current OpenMP limit.

    That limit follows ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits``, so
    users cap ntkfast's threads with the same tools as for every other library.  Explicit
    values above ``MAX_THREADS`` are refused; the OpenMP limit is clipped to it.
    """
    if n_threads is None:
        return min(MAX_THREADS, max(1, _sketch.max_threads()))
    return check_int(n_threads, "n_threads", 1, MAX_THREADS)


def check_random_state(random_state):
    """A ``numpy.random.Generator`` from None, an int, a Generator or a legacy RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1, size=4))
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_))
    ):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state: expected None, an integer >= 0 or a Generator, got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state: expected None, an integer >= 0 or a numpy.random.Generator, got {random_state!r}"
    )


def available_memory():
    """Bytes of memory the process may still allocate (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_allocation(n_bytes, what):
    """Refuse, before allocating, a request larger than the memory still available."""
    avail = available_memory()
    if avail is not None and n_bytes > avail:
        raise MemoryError(
            f"{what} would need {_human(n_bytes)}, but only {_human(avail)} of memory is available"
        )


def _human(n_bytes):
    n = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
        n /= 1024


def check_hash(indices, signs, k, n_buckets, indices_name="indices", signs_name="signs"):
    """Validate one CountSketch: ``indices`` in [0, n_buckets) and ``signs`` in {-1, +1}.

    Returns ``(indices as intp, signs as float64)``.  This runs before any compiled code,
    which trusts the indices to stay inside the output row.
    """
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu" or idx.dtype == np.bool_:
        raise TypeError(f"{indices_name}: expected an integer array, got dtype {idx.dtype}")
    if idx.ndim != 1 or idx.shape[0] != k:
        raise ValueError(f"{indices_name}: expected shape ({k},), got {idx.shape}")
    if k and (idx.min() < 0 or idx.max() >= n_buckets):
        raise ValueError(
            f"{indices_name}: expected values in [0, {n_buckets}), got values in "
            f"[{idx.min()}, {idx.max()}]"
        )
    sg = np.asarray(signs)
    if sg.dtype.kind not in "iuf" or sg.dtype == np.bool_:
        raise TypeError(f"{signs_name}: expected a real array of +1/-1, got dtype {sg.dtype}")
    if sg.ndim != 1 or sg.shape[0] != k:
        raise ValueError(f"{signs_name}: expected shape ({k},), got {sg.shape}")
    if k and not np.all((sg == 1) | (sg == -1)):
        raise ValueError(f"{signs_name}: expected values +1 or -1 only")
    return np.ascontiguousarray(idx, dtype=np.intp), np.ascontiguousarray(sg, dtype=np.float64)
