"""Saving and loading fitted models without pickle.

A model file is a single ``.npz`` archive (``numpy.savez``) holding

* ``__format__``: the string ``"ntkfast-model"``;
* ``__version__``: the format version (an integer);
* ``__class__``: the estimator's class name;
* ``__params__``: the constructor parameters as a JSON string (0-d array of str dtype);
* ``__metadata__``: free-form JSON metadata (the command line stores the data's column
  names and target there);
* the fitted arrays, one key each; per-layer lists are numbered (``relu_weights_.0``,
  ``relu_weights_.1``, ...) and the random features inside a ridge model are prefixed by
  ``features_.``.

:func:`load_model` opens the archive with ``allow_pickle=False`` (an object array is refused,
so loading never executes code), accepts only the classes listed here, and checks the
version, that every expected key is present and no other, and the shapes, dtypes and value
ranges of every array against each other (e.g. every hash index below ``n_sketch_``) before
it builds the estimator.  Anything wrong raises ``ValueError`` naming the file and the key.
"""
import json
import math
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["save_model", "load_model", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_MAGIC = "ntkfast-model"
_HEADER_KEYS = ("__format__", "__version__", "__class__", "__params__", "__metadata__")

# Per-layer attributes of NTKRandomFeatures, in file order.
_FEATURE_LISTS = ("relu_weights_", "relu_scales_", "step_weights_",
                  "sketch_indices_", "sketch_signs_", "step_indices_", "step_signs_")


class _Corrupt(ValueError):
    pass


def _classes():
    # Imported lazily: ``ridge`` imports ``features``; the io module must stay importable
    # on its own.
    from .features import NTKRandomFeatures

    classes = {"NTKRandomFeatures": NTKRandomFeatures}
    try:
        from . import ridge
    except ImportError:  # the estimators are not part of this build
        return classes
    for name in ("NTKRidge", "NTKRidgeClassifier", "ExactNTKRidge"):
        if hasattr(ridge, name):
            classes[name] = getattr(ridge, name)
    return classes


# ----------------------------------------------------------------------------- saving

def _json_value(value, name):
    """A JSON-safe copy of a constructor parameter (numbers, strings, None, lists of these)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name}: cannot save a non-finite parameter value {value}")
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_value(v, name) for v in list(np.asarray(value).tolist())]
    if isinstance(value, (np.random.Generator, np.random.RandomState, np.random.SeedSequence)):
        # The random state is spent in fit: every random quantity is among the fitted arrays.
        return None
    raise TypeError(f"{name}: cannot save a parameter of type {type(value).__name__} ({value!r})")


def _params_json(model):
    params = model.get_params(deep=False)
    return json.dumps({k: _json_value(v, f"parameter {k}") for k, v in params.items()}, sort_keys=True)


def _str0(s):
    return np.array(s, dtype=np.str_)


def _features_arrays(rf, prefix):
    out = {
        prefix + "__params__": _str0(_params_json(rf)),
        prefix + "n_features_in_": np.array(rf.n_features_in_, dtype=np.int64),
        prefix + "n_relu_": np.array(rf.n_relu_, dtype=np.int64),
        prefix + "n_sketch_": np.array(rf.n_sketch_, dtype=np.int64),
        prefix + "dtype_": _str0(np.dtype(rf.dtype_).name),
    }
    for name in _FEATURE_LISTS:
        for h, arr in enumerate(getattr(rf, name)):
            out[f"{prefix}{name}.{h}"] = np.ascontiguousarray(arr)
    return out


def _classes_array(classes):
    classes = np.asarray(classes)
    if classes.dtype == object:
        # Labels read from text are Python strings: store them as a fixed-width str array.
        try:
            classes = classes.astype(np.str_)
        except (TypeError, ValueError):
            raise TypeError("classes_: only numeric or string class labels can be saved") from None
    if classes.dtype.kind not in "biufU":
        raise TypeError(f"classes_: only numeric or string class labels can be saved, got dtype {classes.dtype}")
    return classes


def _model_arrays(model, name):
    if name == "NTKRandomFeatures":
        return _features_arrays(model, "")
    if name == "ExactNTKRidge":
        return {
            "n_features_in_": np.array(model.n_features_in_, dtype=np.int64),
            "X_fit_": np.ascontiguousarray(model.X_fit_),
            "dual_coef_": np.ascontiguousarray(model.dual_coef_),
            "intercept_": np.asarray(model.intercept_, dtype=np.float64),
        }
    out = _features_arrays(model.features_, "features_.")
    out.update({
        "n_features_in_": np.array(model.n_features_in_, dtype=np.int64),
        "coef_": np.ascontiguousarray(model.coef_),
        "intercept_": np.asarray(model.intercept_, dtype=np.float64),
        "alpha_": np.array(model.alpha_, dtype=np.float64),
    })
    if getattr(model, "cv_mse_", None) is not None:
        out["cv_mse_"] = np.asarray(model.cv_mse_, dtype=np.float64)
    if name == "NTKRidgeClassifier":
        out["classes_"] = _classes_array(model.classes_)
    return out


def save_model(model, path, metadata=None):
    """Save a fitted ntkfast estimator to a single ``.npz`` file, without pickle.

    The file is written under a temporary name in the destination folder and renamed at the
    end, so an interrupted save never leaves a partial file under ``path``.

    Parameters
    ----------
    model : NTKRandomFeatures, NTKRidge, NTKRidgeClassifier or ExactNTKRidge
        A fitted estimator.  A ``numpy.random.Generator`` ``random_state`` is saved as
        ``None`` (every random quantity it produced is among the fitted arrays).
    path : str or os.PathLike
        Destination, conventionally ending in ``.npz`` (used as given, nothing appended).
    metadata : dict, optional
        JSON-serialisable information stored alongside (read back with
        ``load_model(path, return_metadata=True)``).

    Examples
    --------
    >>> import os, tempfile, numpy as np, ntkfast
    >>> from ntkfast.io import save_model, load_model
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> rf = ntkfast.NTKRandomFeatures(n_components=64, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "features.npz")
    >>> save_model(rf, path)
    >>> bool(np.array_equal(load_model(path).transform(X), rf.transform(X)))
    True
    """
    classes = _classes()
    name = type(model).__name__
    if name not in classes or type(model) is not classes[name]:
        raise TypeError(
            f"model: expected one of {', '.join(sorted(classes))}, got {type(model).__name__}"
        )
    if not hasattr(model, "n_features_in_"):
        raise ValueError(f"model: expected a fitted {name}, got one that has not been fitted")
    arrays = _model_arrays(model, name)
    arrays.update({
        "__format__": _str0(_MAGIC),
        "__version__": np.array(FORMAT_VERSION, dtype=np.int64),
        "__class__": _str0(name),
        "__params__": _str0(_params_json(model)),
        "__metadata__": _str0(json.dumps({} if metadata is None else metadata, sort_keys=True)),
    })
    for key, arr in arrays.items():
        if arr.dtype == object:  # pragma: no cover - guarded above; never write pickles
            raise TypeError(f"{key}: refusing to save an object array")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ----------------------------------------------------------------------------- loading

class _Reader:
    """Typed access to the arrays of an open archive, with one error style."""

    def __init__(self, npz, path):
        self.npz = npz
        self.path = path
        self.used = set()

    def fail(self, msg):
        raise _Corrupt(f"model file {self.path!r}: {msg}")

    def get(self, key):
        if key not in self.npz.files:
            self.fail(f"missing key {key!r} (corrupt file, or not written by ntkfast.io.save_model)")
        self.used.add(key)
        try:
            return self.npz[key]
        except ValueError as exc:  # e.g. an object array: never unpickled
            self.fail(f"key {key!r} cannot be read without pickle ({exc})")
        except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            self.fail(f"key {key!r} is corrupt ({exc})")

    def string(self, key):
        a = self.get(key)
        if a.shape != () or a.dtype.kind != "U":
            self.fail(f"{key!r}: expected a string, got an array of dtype {a.dtype} and shape {a.shape}")
        return str(a[()])

    def json(self, key):
        text = self.string(key)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(f"{key!r}: expected JSON, got invalid text ({exc})")

    def integer(self, key, minimum):
        a = self.get(key)
        if a.shape != () or a.dtype.kind not in "iu":
            self.fail(f"{key!r}: expected an integer, got an array of dtype {a.dtype} and shape {a.shape}")
        v = int(a[()])
        if v < minimum:
            self.fail(f"{key!r}: expected an integer >= {minimum}, got {v}")
        return v

    def array(self, key, shape, kinds="f", dtype=None, finite=True):
        """An array of exactly ``shape`` (None = any size on that axis) and an allowed dtype."""
        a = self.get(key)
        if dtype is not None and a.dtype != dtype:
            self.fail(f"{key!r}: expected dtype {np.dtype(dtype).name}, got {a.dtype}")
        if a.dtype.kind not in kinds or a.dtype.kind == "f" and a.dtype not in (np.float32, np.float64):
            self.fail(f"{key!r}: expected dtype kind {kinds!r}, got {a.dtype}")
        if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            self.fail(f"{key!r}: expected shape {want}, got {a.shape}")
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            self.fail(f"{key!r}: expected finite values, got NaN or infinity")
        return a


def _check_params(r, key, cls):
    params = r.json(key)
    if not isinstance(params, dict):
        r.fail(f"{key!r}: expected a JSON object of parameters, got {type(params).__name__}")
    expected = set(cls().get_params(deep=False))
    if set(params) != expected:
        r.fail(
            f"{key!r}: expected the parameters {sorted(expected)} of {cls.__name__}, "
            f"got {sorted(params)}"
        )
    for k, v in params.items():
        ok = v is None or isinstance(v, (bool, int, float, str)) or (
            isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v))
        if not ok:
            r.fail(f"{key!r}: parameter {k!r} has an unexpected value {v!r}")
    return params


def _load_features(r, prefix, cls):
    params = _check_params(r, prefix + "__params__", cls)
    rf = cls(**params)
    try:
        depth, m1, ms, _ = rf._check_params()
    except (TypeError, ValueError) as exc:
        r.fail(f"{prefix}__params__: invalid parameters ({exc})")
    d = r.integer(prefix + "n_features_in_", 1)
    n_relu = r.integer(prefix + "n_relu_", 1)
    n_sketch = r.integer(prefix + "n_sketch_", 0)
    if (n_relu, n_sketch) != (m1, ms):
        r.fail(f"{prefix}n_relu_/n_sketch_: expected {m1}/{ms} (from the parameters), got {n_relu}/{n_sketch}")
    dtype_name = r.string(prefix + "dtype_")
    if dtype_name not in ("float32", "float64"):
        r.fail(f"{prefix}dtype_: expected 'float32' or 'float64', got {dtype_name!r}")
    dtype = np.dtype(dtype_name)
    ntk = ms > 0
    lists = {name: [] for name in _FEATURE_LISTS}
    d_in, d_psi = d, d
    for h in range(depth):
        k = f".{h}"
        lists["relu_weights_"].append(r.array(prefix + "relu_weights_" + k, (m1, d_in), dtype=dtype))
        scales = r.array(prefix + "relu_scales_" + k, (m1,), dtype=dtype)
        if not (scales > 0).all():
            r.fail(f"{prefix}relu_scales_{k}: expected positive values")
        lists["relu_scales_"].append(scales)
        if ntk:
            lists["step_weights_"].append(r.array(prefix + "step_weights_" + k, (m1, d_in), dtype=dtype))
            for name, length in (("sketch", d_psi), ("step", m1)):
                idx = r.array(f"{prefix}{name}_indices_{k}", (length,), kinds="iu")
                if idx.size and (idx.min() < 0 or idx.max() >= ms):
                    r.fail(f"{prefix}{name}_indices_{k}: expected hash buckets in [0, {ms}) (n_sketch_), "
                           f"got values in [{idx.min()}, {idx.max()}]")
                sg = r.array(f"{prefix}{name}_signs_{k}", (length,), kinds="i", dtype=np.int8)
                if not np.all((sg == 1) | (sg == -1)):
                    r.fail(f"{prefix}{name}_signs_{k}: expected values +1 or -1 only")
                lists[f"{name}_indices_"].append(idx.astype(np.intp, copy=False))
                lists[f"{name}_signs_"].append(sg)
        d_in, d_psi = m1, m1 + ms
    rf.n_features_in_ = d
    rf.dtype_ = dtype
    rf.n_relu_, rf.n_sketch_ = m1, ms
    for name, values in lists.items():
        setattr(rf, name, values)
    return rf


def _load_ridge(r, cls, classes, name):
    params = _check_params(r, "__params__", cls)
    model = cls(**params)
    try:
        alphas = model._check_params()[0]
    except (TypeError, ValueError) as exc:
        r.fail(f"__params__: invalid parameters ({exc})")
    rf = _load_features(r, "features_.", classes["NTKRandomFeatures"])
    for p in ("depth", "n_components", "sketch_components", "leverage", "kernel"):
        if rf.get_params()[p] != params[p]:
            r.fail(f"features_.__params__: {p} = {rf.get_params()[p]!r} differs from the model's {params[p]!r}")
    d = r.integer("n_features_in_", 1)
    if d != rf.n_features_in_:
        r.fail(f"n_features_in_: expected {rf.n_features_in_} (as in the features), got {d}")
    n_out = rf.n_relu_ + rf.n_sketch_
    if name == "NTKRidgeClassifier":
        classes_ = r.array("classes_", (None,), kinds="biufU")
        n_classes = classes_.shape[0]
        if n_classes < 2 or np.unique(classes_).shape[0] != n_classes:
            r.fail(f"'classes_': expected at least 2 distinct labels, got {classes_.tolist()!r}")
        n_targets = 1 if n_classes == 2 else n_classes
        coef = r.array("coef_", (n_targets, n_out), dtype=np.float64)
        model.classes_ = classes_
    else:
        coef = r.get("coef_")
        if coef.ndim not in (1, 2):
            r.fail(f"'coef_': expected a 1-D or 2-D array, got shape {coef.shape}")
        coef = r.array("coef_", (n_out,) if coef.ndim == 1 else (None, n_out), dtype=np.float64)
        n_targets = None if coef.ndim == 1 else coef.shape[0]
    intercept = r.array("intercept_", () if n_targets is None else (n_targets,), dtype=np.float64)
    alpha = float(r.array("alpha_", (), dtype=np.float64))
    if alpha not in alphas:
        r.fail(f"'alpha_': expected one of the alpha parameter's values {alphas.tolist()}, got {alpha}")
    if alphas.size > 1:
        model.cv_mse_ = r.array("cv_mse_", (alphas.size,), dtype=np.float64)
    else:
        model.cv_mse_ = None
    model.features_ = rf
    model.n_features_in_ = d
    model.coef_ = coef
    model.intercept_ = float(intercept) if intercept.ndim == 0 else intercept
    model.alpha_ = alpha
    return model


def _load_exact(r, cls):
    from .kernels import _depth_bias

    params = _check_params(r, "__params__", cls)
    model = cls(**params)
    d = r.integer("n_features_in_", 1)
    try:
        _depth_bias(params["depth"], params["bias"])
    except (TypeError, ValueError) as exc:
        r.fail(f"__params__: invalid parameters ({exc})")
    X = r.array("X_fit_", (None, d), dtype=np.float64)
    n = X.shape[0]
    if n == 0:
        r.fail("'X_fit_': expected at least one row")
    dual = r.get("dual_coef_")
    if dual.ndim not in (1, 2):
        r.fail(f"'dual_coef_': expected a 1-D or 2-D array, got shape {dual.shape}")
    dual = r.array("dual_coef_", (n,) if dual.ndim == 1 else (n, None), dtype=np.float64)
    intercept = r.array("intercept_", () if dual.ndim == 1 else (dual.shape[1],), dtype=np.float64)
    model.n_features_in_ = d
    model.X_fit_ = X
    model.dual_coef_ = dual
    model.intercept_ = float(intercept) if intercept.ndim == 0 else intercept
    return model


def load_model(path, return_metadata=False):
    """Load a model saved by :func:`save_model`, validating every array; never unpickles.

    Parameters
    ----------
    path : str or os.PathLike
    return_metadata : bool, default=False
        Also return the metadata dictionary given to :func:`save_model`.

    Returns
    -------
    model : the fitted estimator (predicts/transforms bit-identically to the saved one)
    metadata : dict, only if ``return_metadata``

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not an ntkfast model, is of an unknown class or version, misses a key,
        has extra keys, or holds arrays of inconsistent shapes, dtypes or values.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"model file {path!r} is a directory")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"model file {path!r} is not an ntkfast model (.npz) file ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"model file {path!r}: expected an .npz archive written by ntkfast, got a single array (.npy)")
    with npz:
        r = _Reader(npz, path)
        if "__format__" not in npz.files:
            r.fail("not an ntkfast model file (no '__format__' key)")
        if r.string("__format__") != _MAGIC:
            r.fail("not an ntkfast model file (wrong '__format__')")
        version = r.integer("__version__", 0)
        if version != FORMAT_VERSION:
            r.fail(f"format version {version} is not supported (this ntkfast reads version {FORMAT_VERSION})")
        classes = _classes()
        name = r.string("__class__")
        if name not in classes:
            r.fail(f"unknown model class {name!r} (expected one of {', '.join(sorted(classes))})")
        metadata = r.json("__metadata__")
        if not isinstance(metadata, dict):
            r.fail("'__metadata__': expected a JSON object")
        cls = classes[name]
        if name == "NTKRandomFeatures":
            model = _load_features(r, "", cls)
        elif name == "ExactNTKRidge":
            model = _load_exact(r, cls)
        else:
            model = _load_ridge(r, cls, classes, name)
        extra = sorted(set(npz.files) - r.used)
        if extra:
            r.fail(f"unexpected keys {extra} for a {name}")
    return (model, metadata) if return_metadata else model
