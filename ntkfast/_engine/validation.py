"""Every check of ntkfast's inputs and parameters, in one place.

Arrays are validated here before any compiled code runs (the Python-visible compiled drivers
check again what memory safety depends on).  Estimator parameters are declared per class, in
the style of scikit-learn's ``_parameter_constraints``: each estimator lists a constraint per
constructor parameter, and :func:`check_params` turns the parameters into checked values, so
that ``fit`` validates everything before it changes any fitted attribute, and a model file's
parameters go through the very same checks (:mod:`ntkfast.io`).

Messages follow the pattern "<argument>: expected <what>, got <what>": a ``TypeError`` for a
value of the wrong kind, a ``ValueError`` for one out of range.  A constructor parameter that
fails its declared constraint raises scikit-learn's ``InvalidParameterError`` (a subclass of
both ``ValueError`` and ``TypeError``) with the same message, as scikit-learn's own estimators
do.

What scikit-learn defines for every estimator is taken from scikit-learn, not rewritten:
feature names (``feature_names_in_``, the check that ``transform`` sees the columns of ``fit``
in the same order: :func:`input_feature_names`, :func:`check_feature_names`) and the
conversion of data frames, nullable pandas dtypes included (:func:`as_float_array`).
"""
import mmap
import numbers
import os
import sys

import numpy as np
import scipy.sparse
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_feature_names, _get_feature_names
from sklearn.utils.validation import check_array as _sklearn_check_array

from .. import _sketch

_FLOAT_DTYPES = (np.float32, np.float64)

# Hidden layers accepted by every kernel and feature map.  The NTK recursion costs about 19 ns
# per layer per pair of rows (an exact kernel of 10,000 rows at depth 1,000 takes about half
# an hour on 2 cores), and the random features one dense layer of m1^2 work per row and layer.
# Networks whose NTK is studied have at most a few hundred layers, and by depth 1,000 every
# normalised NTK entry has long converged (rho_h -> 1), so a larger depth is a mistake, not a
# request; unbounded, a depth of 2**31 - 1 read from a model file ran forever.
MAX_DEPTH = 1000


# --------------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------------

def check_int(value, name, minimum, maximum=None, why=""):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum}{why}, got {value}")
    return value


def check_nonnegative_float(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    return value


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def check_depth(depth):
    return check_int(depth, "depth", 1, MAX_DEPTH,
                     why=" (deeper networks are refused: see ntkfast.MAX_DEPTH)")


def check_order(order):
    if isinstance(order, (bool, np.bool_)) or order not in (0, 1):
        raise ValueError(f"order: expected 0 or 1, got {order!r}")
    return int(order)


def check_alphas(alpha):
    """``alpha`` as a 1-D float64 array of finite values > 0 (a scalar gives one element)."""
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha: expected a number > 0 or a list of them, got {alpha!r}")
    if isinstance(alpha, numbers.Real):
        alphas = np.array([float(alpha)])
    else:
        if isinstance(alpha, (str, bytes, dict)):
            raise TypeError(f"alpha: expected a number > 0 or a list of them, got {alpha!r}")
        try:
            alphas = np.asarray(alpha)
        except Exception:  # pragma: no cover - exotic containers
            raise TypeError(f"alpha: expected a number > 0 or a list of them, got {alpha!r}") from None
        if alphas.dtype.kind not in "iuf" or alphas.dtype == np.bool_:
            raise TypeError(f"alpha: expected a number > 0 or a list of them, got {alpha!r}")
        if alphas.ndim != 1 or alphas.size == 0:
            raise ValueError(f"alpha: expected a number or a non-empty 1-D list, got shape {alphas.shape}")
        alphas = alphas.astype(np.float64)
    if not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"alpha: expected finite values > 0, got {alpha!r}")
    return alphas


def check_single_alpha(alpha):
    alphas = check_alphas(alpha)
    if not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha: expected a single number > 0, got {alpha!r}")
    return float(alphas[0])


def check_fraction(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number in (0, 1), got {value!r}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}: expected a number in (0, 1), got {value}")
    return value


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


# --------------------------------------------------------------------------------------------
# Declared parameter constraints
# --------------------------------------------------------------------------------------------

class Constraint:
    """One constructor parameter's rule: ``check(value, name, checked)`` returns the checked
    value; ``checked`` holds the parameters checked before it (for bounds that depend on
    another parameter)."""

    def check(self, value, name, checked):  # pragma: no cover - interface
        raise NotImplementedError


class Int(Constraint):
    def __init__(self, minimum, maximum=None, why=""):
        self.minimum, self.maximum, self.why = minimum, maximum, why

    def check(self, value, name, checked):
        maximum = self.maximum(checked) if callable(self.maximum) else self.maximum
        return check_int(value, name, self.minimum, maximum, self.why)


class Depth(Constraint):
    def check(self, value, name, checked):
        return check_depth(value)


class NonNegative(Constraint):
    def check(self, value, name, checked):
        return check_nonnegative_float(value, name)


class Bool(Constraint):
    def check(self, value, name, checked):
        return check_bool(value, name)


class OneOf(Constraint):
    def __init__(self, *options):
        self.options = options

    def check(self, value, name, checked):
        if isinstance(value, (bool, np.bool_)) or not any(
                type(value) is type(o) and value == o for o in self.options):
            if all(isinstance(o, int) for o in self.options) and not isinstance(value, (bool, np.bool_)) \
                    and isinstance(value, numbers.Integral) and int(value) in self.options:
                return int(value)
            want = " or ".join(repr(o) for o in self.options)
            raise ValueError(f"{name}: expected {want}, got {value!r}")
        return value


class Fraction(Constraint):
    def check(self, value, name, checked):
        return check_fraction(value, name)


class Alphas(Constraint):
    """A penalty or a non-empty list of penalties (``single=True``: one number only)."""

    def __init__(self, single=False):
        self.single = single

    def check(self, value, name, checked):
        return check_single_alpha(value) if self.single else check_alphas(value)


class RandomState(Constraint):
    def check(self, value, name, checked):
        return check_random_state(value)


class Threads(Constraint):
    def check(self, value, name, checked):
        return resolve_n_threads(value)


class Optional(Constraint):
    def __init__(self, inner):
        self.inner = inner

    def check(self, value, name, checked):
        return None if value is None else self.inner.check(value, name, checked)


class SketchWidth(Constraint):
    """``sketch_components`` of the NTK features: None (the default split) or an integer in
    ``[1, n_components - 1]`` (``[1, n_components - 2]`` with ``bias > 0``: the bias takes
    one column), even with ``sketch="srht"``; ignored (None) for ``kernel="nngp"``.  Declared
    after ``n_components``, ``kernel``, ``bias`` and ``sketch`` (when the estimator has
    them)."""

    def check(self, value, name, checked):
        if checked.get("kernel") == "nngp":
            return None
        bias_column = 1 if checked.get("bias", 0.0) > 0 else 0
        if bias_column and checked["n_components"] < 3:
            raise ValueError(f"n_components: expected >= 3 with kernel='ntk' and bias > 0 "
                             f"(a ReLU feature, the bias column and a sketch), got {checked['n_components']}")
        if checked.get("sketch") == "srht":
            # TensorSRHT: real and imaginary parts of ms / 2 frequencies, so ms even, >= 2.
            if checked["n_components"] - bias_column < 3:
                raise ValueError(f"n_components: expected >= {3 + bias_column} with sketch='srht' "
                                 f"(a ReLU feature{' and the bias column' if bias_column else ''} "
                                 f"and an even sketch), got {checked['n_components']}")
            if value is None:
                return None
            value = check_int(value, name, 2, checked["n_components"] - 1 - bias_column)
            if value % 2:
                raise ValueError(f"{name}: expected an even integer with sketch='srht' (real and "
                                 f"imaginary parts of {name} / 2 frequencies), got {value}")
            return value
        if value is None:
            return None
        return check_int(value, name, 1, checked["n_components"] - 1 - bias_column)


class StepWidth(Constraint):
    """``step_components`` of the NTK features: None (as many step features as ReLU
    features, ``m0 = m1``) or an integer ``m0 >= 1``; ignored (None) for ``kernel="nngp"``,
    whose features have no step part.  Declared after ``kernel``."""

    def check(self, value, name, checked):
        if checked.get("kernel") == "nngp" or value is None:
            return None
        return check_int(value, name, 1)


class LeverageChoice(Constraint):
    """``leverage`` of ArcCosineFeatures: ``"auto"`` (on for order 1, off for order 0),
    True or False."""

    def check(self, value, name, checked):
        if isinstance(value, str) and value == "auto":
            return "auto"
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name}: expected 'auto', True or False, got {value!r}")
        return bool(value)


class HoldoutFraction(Constraint):
    """``validation_fraction``: checked when ``alpha`` has several values (it is unused
    otherwise).  Declared after ``alpha``."""

    def check(self, value, name, checked):
        if checked["alpha"].size > 1:
            return check_fraction(value, name)
        return value



# Parameters added after model files and pickles of their classes were first written, with
# the value that gives the behaviour of those files (used by ntkfast.io when a file's
# __params__ lacks one, and by the estimators' __setstate__ for old pickles).
# NTKRandomFeatures and the ridge models (issue 15): no bias; as many step features as ReLU;
# the CountSketch TensorSketch; Gaussian projections; random features (not Nystroem).
PARAMETERS_ADDED_LATER = {"bias": 0.0, "step_components": None, "sketch": "countsketch",
                          "projection": "gaussian", "features": "random"}


def set_parameters_added_later(cls, state):
    """Fill ``state`` (a pickle's ``__dict__``) with the old default of every parameter of
    ``cls`` added after the pickle was written."""
    names = cls._get_param_names()
    for name, default in PARAMETERS_ADDED_LATER.items():
        if name in names:
            state.setdefault(name, default)


def check_params(estimator, only=None):
    """Check the constructor parameters of ``estimator`` against its class's
    ``_parameter_constraints`` (in declaration order); return ``{name: checked value}``.

    ``only`` restricts the check to some names (e.g. the feature map's share of a ridge
    model's parameters).  A parameter without a constraint is a programming error.
    """
    constraints = type(estimator)._parameter_constraints
    params = estimator.get_params(deep=False)
    missing = set(params) - set(constraints)
    if missing:  # pragma: no cover - caught by the tests of every estimator
        raise RuntimeError(f"{type(estimator).__name__}: no constraint for {sorted(missing)}")
    checked = {}
    for name, constraint in constraints.items():
        if only is not None and name not in only:
            continue
        try:
            checked[name] = constraint.check(params[name], name, checked)
        except InvalidParameterError:
            raise
        except (TypeError, ValueError) as exc:
            # scikit-learn's exception for a constructor parameter (it subclasses both
            # ValueError and TypeError, so either kind of refusal is still caught as before).
            raise InvalidParameterError(str(exc)) from None
    return checked


# --------------------------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------------------------

def float_dtype(dtype, name):
    """The dtype the kernels compute in: float32 stays float32, every other real dtype
    (other floats, integers, booleans) becomes float64, as scikit-learn casts them.

    Integer data is common (uint8 images, counts); a float64 holds every integer up to 2**53
    exactly.  Complex, object and string arrays are refused with ``TypeError``: the kernels
    are functions of real vectors, and an object array may hold anything (strings, None).
    """
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.dtype(np.float32)
    if dtype.kind in "fiub":
        return np.dtype(np.float64)
    if dtype.kind == "c":
        why = ("the kernels are defined for real vectors only; pass the real part, or the real "
               "and imaginary parts as separate columns")
    elif dtype.kind == "O":
        why = (f"an object array may hold anything (strings, None); convert it to numbers "
               f"first, e.g. {name}.astype(np.float64)")
    else:
        why = f"convert it to numbers first, e.g. {name}.astype(np.float64)"
    raise TypeError(
        f"{name}: expected an array of real numbers (float, integer or bool), got dtype {dtype}; {why}"
    )


def feature_dtype(x_dtype, fitted_dtype, name="X"):
    """The dtype in which the features of data of ``x_dtype`` are computed and returned by a
    feature map fitted in ``fitted_dtype``: ``numpy.result_type`` of the two, as numpy would
    multiply ``X`` by the weights, so precision is never lost silently (float32 only when both
    are float32).  The one rule every transform, ridge fit, predict and dask block follows."""
    return np.dtype(np.result_type(float_dtype(x_dtype, name), float_dtype(fitted_dtype, "dtype_")))


def _is_pandas_frame(X):
    pd = sys.modules.get("pandas")  # never imported here: a frame means it already is
    return pd is not None and isinstance(X, pd.DataFrame)


def _frame_as_array(X, name):
    """A pandas DataFrame as an ndarray of the dtype our rule gives its columns, converted
    by scikit-learn's ``check_array`` (nullable ``Float64``/``Int64``/``boolean`` columns
    included: ``pd.NA`` becomes NaN, refused where the values are checked)."""
    dtypes = []
    for column, dt in X.dtypes.items():
        # Nullable (masked) pandas dtypes name their numpy dtype; others (object, string,
        # category) have none and are refused like an object array.
        np_dt = dt if isinstance(dt, np.dtype) else getattr(dt, "numpy_dtype", np.dtype(object))
        try:
            dtypes.append(float_dtype(np_dt, name))
        except TypeError as exc:
            raise TypeError(f"{exc} (column {column!r} of dtype {dt})") from None
    target = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    return _sklearn_check_array(
        X, dtype=target, copy=False, ensure_all_finite=False, ensure_2d=False, allow_nd=True,
        ensure_min_samples=0, ensure_min_features=0, input_name=name)


def as_float_array(X, name, accept_sparse=False):
    """``X`` as an ndarray of a real dtype, without copying an ndarray that already is one.

    Python sequences of numbers are converted to float64, pandas frames by scikit-learn's
    ``check_array`` to the dtype of :func:`float_dtype`.  Memory-mapped arrays stay
    memory-mapped, integer arrays integer (nothing is read here: the batch loop casts one
    batch at a time).  With ``accept_sparse``, a scipy sparse matrix or array is returned
    in CSR format (converted once if needed, never densified: the batch loop densifies one
    batch of rows at a time); otherwise it is refused.
    """
    if scipy.sparse.issparse(X):
        if not accept_sparse:
            raise TypeError(
                f"{name}: expected a dense array, got a scipy sparse {type(X).__name__}; "
                f"this function computes on dense rows: pass {name}.toarray() if it fits in memory "
                f"(the estimators take sparse input)"
            )
        float_dtype(X.dtype, name)
        # Rows are sliced batch by batch: CSR slices rows without touching the others.
        return X if X.format == "csr" else X.tocsr()
    if isinstance(X, np.ma.MaskedArray):
        if np.ma.getmask(X) is not np.ma.nomask and np.ma.getmask(X).any():
            # np.asarray would drop the mask and compute with the hidden values.
            raise TypeError(
                f"{name}: expected a plain array, got a masked array with masked entries; "
                f"fill or drop them first (e.g. {name}.filled(0.0))"
            )
        X = np.ma.getdata(X)
    if _is_pandas_frame(X):
        X = _frame_as_array(X, name)
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


def check_X(X, n_features=None, name="X", accept_sparse=False):
    """``X`` checked for shape and dtype only (no copy, nothing read: a memmap stays one, a
    sparse matrix sparse when ``accept_sparse``); its values are checked batch by batch
    where they are read (:func:`ntkfast._engine.batches.row_batches`)."""
    X = as_float_array(X, name, accept_sparse)
    check_2d_shape(X, name, n_features)
    return X


def input_feature_names(X):
    """The feature names of ``X`` as scikit-learn defines them (the string column names of a
    data frame, as an object array), or None: the value of ``feature_names_in_`` for a fit
    on ``X``.  Computed here rather than set by scikit-learn's ``validate_data(reset=True)``
    so that ``fit`` publishes it with the other fitted attributes, at once."""
    return _get_feature_names(X)


def check_feature_names(estimator, X):
    """scikit-learn's check of ``X``'s column names against ``estimator.feature_names_in_``:
    ValueError when they differ or are reordered, a warning when only one side has names."""
    _check_feature_names(estimator, X, reset=False)


def first_bad_row(X):
    """Index of the first row of ``X`` with NaN or infinity, or None."""
    # The sum is a cheap first test; only when it is not finite (NaN/inf present, or an
    # overflow of large but finite values) is the exact elementwise test run.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(X)):
            return None
    bad = ~np.isfinite(X)
    if bad.any():
        return int(np.argmax(bad.reshape(X.shape[0], -1).any(axis=1)))
    return None


def check_finite(X, name, row_offset=0):
    row = first_bad_row(X)
    if row is not None:
        raise ValueError(f"{name}: expected finite values, got NaN or infinity (first in row {row + row_offset})")


def check_finite_result(R, what, row_offset=0, hint=""):
    """Refuse a result that could not be represented (inf or NaN from finite inputs)."""
    row = first_bad_row(R)
    if row is not None:
        raise ValueError(
            f"{what}: the result overflows {R.dtype.name} (inf or NaN from finite input, first in "
            f"row {row + row_offset}){hint}"
        )


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
    X = check_X(X, n_features, name)
    dtype = float_dtype(X.dtype, name) if dtype is None else np.dtype(dtype)
    X = np.ascontiguousarray(X, dtype=dtype)
    check_finite(X, name)
    return X


def check_target_shape(y, n_samples, name="y"):
    """dtype and shape checks of regression targets (numpy or dask: nothing is computed)."""
    if y.dtype.kind not in "iuf" or y.dtype == np.bool_:
        raise TypeError(f"{name}: expected real numbers, got dtype {y.dtype}")
    if y.ndim not in (1, 2):
        raise ValueError(f"{name}: expected a 1-D or 2-D array, got a {y.ndim}-D array of shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name}: expected {n_samples} rows (the number of rows of X), got {y.shape[0]}")
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{name}: expected at least 1 target column, got shape {y.shape}")


def check_not_none(y, name="y"):
    if y is None:
        raise ValueError(f"{name}: expected an array of targets, got None (this estimator requires y to be "
                         f"passed, but the target y is None)")


def check_targets(y, n_samples, name="y"):
    """Regression targets as a 2-D float64 array ``(n_samples, n_targets)``; also the input ndim."""
    check_not_none(y, name)
    y = np.asarray(y)
    check_target_shape(y, n_samples, name)
    Y = np.asarray(y, dtype=np.float64).reshape(n_samples, -1)
    if not np.all(np.isfinite(Y)):
        row = int(np.argmax(~np.isfinite(Y).all(axis=1)))
        raise ValueError(f"{name}: expected finite values, got NaN or infinity (first in row {row})")
    return Y, y.ndim


def check_labels(y, n_samples):
    """Class labels of a classifier: ``(classes, codes)`` with at least two classes."""
    check_not_none(y)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of class labels, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"y: expected {n_samples} labels (the number of rows of X), got {y.shape[0]}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y: expected class labels, got NaN or infinity")
    if y.dtype.kind == "O" and any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in y):
        raise ValueError("y: expected class labels, got None or NaN")
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        # A regression target would make every distinct value a class: n x n targets.
        raise ValueError(
            "y: expected class labels, got continuous values (Unknown label type: continuous); "
            "use NTKRidge for regression"
        )
    classes, codes = np.unique(y, return_inverse=True)
    if classes.shape[0] < 2:
        raise ValueError(f"y: expected at least 2 classes, got {classes.shape[0]} class ({classes!r})")
    return classes, codes.reshape(-1)


def check_hash(indices, signs, k, n_buckets, indices_name="indices", signs_name="signs"):
    """Validate one CountSketch: ``indices`` in [0, n_buckets) and ``signs`` in {-1, +1}.

    Returns ``(indices as intp, signs as float64)``, both new C-contiguous arrays.
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
    return np.array(idx, dtype=np.intp, order="C"), np.array(sg, dtype=np.float64, order="C")


def check_srht(indices, signs, k, n_pairs, indices_name="indices", signs_name="signs"):
    """Validate one factor of a TensorSRHT: ``n_pairs`` frequencies in [0, k) and k signs.

    Returns ``(indices as intp, signs as float64)``, both new C-contiguous arrays.
    """
    idx, _ = check_hash(indices, np.ones(n_pairs), n_pairs, k, indices_name, signs_name)
    _, sg = check_hash(np.zeros(k, dtype=np.intp), signs, k, 1, indices_name, signs_name)
    return idx, sg


# Stages per block of the structured projections (features.py draws them, the feature maps
# run them): "fastfood" M = H G P H B (random signs B, a permutation P, a Gaussian diagonal
# G; two stages), "sorf" M = H D3 H D2 H D1 (random signs; three stages).
STRUCTURED_STAGES = {"fastfood": 2, "sorf": 3}


def structured_block_size(k):
    """Side ``p`` of the blocks of a structured projection of ``k >= 1`` inputs: the power
    of 2 >= k (larger blocks were tried and measured no lower error)."""
    return 1 << max(0, int(k - 1).bit_length())


def check_structured(projection, diag, perm, k, m, dtype, h):
    """One layer's structured projection (``projection_diagonals_[h]`` and, for
    ``"fastfood"``, ``projection_permutations_[h]``) of ``k`` inputs onto ``m`` outputs:
    diagonals of shape ``(ceil(m / p), stages, p)`` with ``p`` the power of 2 >= k, finite,
    of ``dtype``; permutations of the same shape, each a permutation of ``range(p)``.

    Returns ``(diag, perm as intp or None, k, m)``."""
    p = structured_block_size(k)
    shape = (-(-m // p), STRUCTURED_STAGES[projection], p)
    diag = check_weights(diag, shape, dtype, f"projection_diagonals_[{h}]")
    if perm is not None:
        name = f"projection_permutations_[{h}]"
        if not isinstance(perm, np.ndarray) or perm.dtype.kind not in "iu":
            raise TypeError(f"{name}: expected an integer numpy array, got "
                            f"{getattr(perm, 'dtype', type(perm).__name__)}")
        if perm.shape != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {perm.shape}")
        if not np.array_equal(np.sort(perm, axis=-1), np.broadcast_to(np.arange(p), shape)):
            raise ValueError(f"{name}: expected a permutation of range({p}) per block and stage")
        perm = np.array(perm, dtype=np.intp, order="C")
    return diag, perm, k, m


def check_rotation(Q, k, dtype, name):
    """A fitted rotation: a ``(k, k)`` array of ``dtype``, finite, orthogonal to the dtype's
    rounding (``|Q Q^T - I| <= 1e-4`` in float32, ``1e-10`` in float64)."""
    Q = check_weights(Q, (k, k), dtype, name)
    Q64 = Q.astype(np.float64)
    err = np.abs(Q64 @ Q64.T - np.eye(k)).max()
    if err > (1e-4 if np.dtype(dtype) == np.float32 else 1e-10):
        raise ValueError(f"{name}: expected an orthogonal matrix, got |Q Q^T - I| = {err:.2g}")
    return Q


def check_weights(W, shape, dtype, name):
    """A fitted weight (or scale) array of exactly ``shape`` and ``dtype``, finite."""
    if not isinstance(W, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(W).__name__}")
    if W.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {W.shape}")
    if W.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype).name} (dtype_), got {W.dtype}")
    check_finite(W.reshape(W.shape[0], -1) if W.ndim else W.reshape(1, 1), name)
    return W


# --------------------------------------------------------------------------------------------
# Output arrays
# --------------------------------------------------------------------------------------------

def _mapped_file_range(A):
    """``(file identity, first byte, end byte)`` of the file bytes ``A`` spans when it is a
    view of a file mapped by ``numpy.memmap`` / ``numpy.load(mmap_mode=...)``, else None."""
    root = A
    while isinstance(root, np.ndarray) and not (isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap)):
        root = root.base
    if not isinstance(root, np.memmap) or getattr(root, "filename", None) is None:
        return None
    try:
        st = os.stat(root.filename)
    except OSError:
        return None
    lo, hi = np.lib.array_utils.byte_bounds(A) if hasattr(np.lib, "array_utils") else np.byte_bounds(A)
    start = root.__array_interface__["data"][0]
    return (st.st_dev, st.st_ino), root.offset + (lo - start), root.offset + (hi - start)


def arrays_overlap(a, b):
    """True when writing ``a`` can change ``b``: shared memory, or two memory maps of
    overlapping bytes of the same file (``np.shares_memory`` cannot see those)."""
    if np.shares_memory(a, b):
        return True
    ra, rb = _mapped_file_range(a), _mapped_file_range(b)
    return ra is not None and rb is not None and ra[0] == rb[0] and ra[1] < rb[2] and rb[1] < ra[2]


def check_out(out, X, shape, dtype):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out: expected shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"out: expected dtype {dtype.name} (that of the features of X), got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("out: expected a C-contiguous array, got a non-contiguous one")
    if not out.flags.writeable:
        raise ValueError("out: expected a writeable array, got a read-only one")
    if isinstance(X, np.ndarray) and arrays_overlap(out, X):
        raise ValueError("out: expected an array that does not overlap X, got one that shares its memory "
                         "(or maps the same bytes of the same file)")


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

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
            f"{what} would need {human_bytes(n_bytes)}, but only {human_bytes(avail)} of memory is available"
        )


def human_bytes(n_bytes):
    n = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
        n /= 1024


class EvenWidth(Constraint):
    """None (a default width) or an even integer in ``[2, maximum(checked)]`` (a TensorSRHT
    width: real and imaginary parts of ``width / 2`` frequencies)."""

    def __init__(self, maximum=None):
        self.maximum = maximum

    def check(self, value, name, checked):
        if value is None:
            return None
        maximum = self.maximum(checked) if callable(self.maximum) else self.maximum
        value = check_int(value, name, 2, maximum)
        if value % 2:
            raise ValueError(f"{name}: expected an even integer (real and imaginary parts of "
                             f"{name} / 2 frequencies), got {value}")
        return value
