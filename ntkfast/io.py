"""Saving and loading fitted models without pickle.

A model file is a single ``.npz`` archive (``numpy.savez``) holding

* ``__format__``: the string ``"ntkfast-model"``;
* ``__version__``: the format version (an integer);
* ``__class__``: the estimator's class name;
* ``__params__``: the constructor parameters as a JSON string (0-d array of str dtype);
* ``__metadata__``: free-form JSON metadata (the command line stores the data's column
  names and target there);
* the fitted state, one key per array, as each estimator declares it (its
  ``__ntkfast_state__`` method); a nested estimator (the random features inside a ridge
  model) is stored under its attribute name as a prefix (``features_.``), with its own
  ``__params__``.

This module is the container: versioned keys, checks of every member, atomic writes.  What a
class's fitted state is, and how its arrays must agree with each other, is the class's own
business: ``load_model`` hands each class a :class:`ModelReader` (its
``__ntkfast_load__`` classmethod), which gives it typed, checked members.

Loading never unpickles and never reads a member before checking its ``.npy`` header: the
declared dtype (no objects), memory order (C), shape (the one the class expects) and size
(the bytes the member really holds, and the memory available) are refused first, so a small
file cannot make the reader allocate gigabytes.  The parameters go through the estimator's
own parameter checks.  Every refusal is a ``ValueError`` naming the file and the member.
"""
import json
import math
import os
import zipfile

import numpy as np

from ._engine.files import atomic_path
from ._engine.validation import PARAMETERS_ADDED_LATER, available_memory, check_params, human_bytes

__all__ = ["save_model", "load_model", "FORMAT_VERSION", "ModelFileError"]

FORMAT_VERSION = 1
_MAGIC = "ntkfast-model"

# Longest string members, in characters: the format tag, the class name, and the JSON of the
# parameters or the metadata (column names of a wide data set fit easily).
_MAX_NAME_CHARS = 64
_MAX_JSON_CHARS = 1 << 20
_MAX_HEADER_BYTES = 10_000


class ModelFileError(ValueError):
    """A model file that is not a valid ntkfast model (a ``ValueError``)."""


def _classes():
    # Imported here: ``ridge`` and ``features`` never import this module, but loading must
    # know every class that can be saved.
    from .features import ArcCosineFeatures, NTKNystroem, NTKRandomFeatures, NTKSketch
    from .ridge import ExactNTKRidge, NTKRidge, NTKRidgeClassifier

    return {c.__name__: c for c in (ArcCosineFeatures, NTKNystroem, NTKRandomFeatures, NTKSketch, NTKRidge,
                                    NTKRidgeClassifier, ExactNTKRidge)}


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


def _state_arrays(model, prefix):
    """The archive members of ``model``'s fitted state, nested estimators flattened."""
    out = {prefix + "__params__": _str0(_params_json(model))}
    for key, value in model.__ntkfast_state__().items():
        if hasattr(value, "__ntkfast_state__"):
            out.update(_state_arrays(value, f"{prefix}{key}."))
        elif isinstance(value, str):
            out[prefix + key] = _str0(value)
        else:
            out[prefix + key] = np.asarray(value, order="C")
    return out


def save_model(model, path, metadata=None):
    """Save a fitted ntkfast estimator to a single ``.npz`` file, without pickle.

    The file is written under a temporary name in the destination folder and renamed at the
    end, so an interrupted save never leaves a partial file under ``path``.

    Parameters
    ----------
    model : ArcCosineFeatures, NTKRandomFeatures, NTKRidge, NTKRidgeClassifier or ExactNTKRidge
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
    arrays = _state_arrays(model, "")
    arrays.update({
        "__format__": _str0(_MAGIC),
        "__version__": np.array(FORMAT_VERSION, dtype=np.int64),
        "__class__": _str0(name),
        "__metadata__": _str0(json.dumps({} if metadata is None else metadata, sort_keys=True)),
    })
    for key, arr in arrays.items():
        if arr.dtype == object:  # pragma: no cover - guarded above; never write pickles
            raise TypeError(f"{key}: refusing to save an object array")
    with atomic_path(path, suffix=".tmp") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


# ----------------------------------------------------------------------------- loading

class ModelReader:
    """Typed, checked access to the members of an open model archive, for the classes'
    ``__ntkfast_load__``.  Every failure is a ``ValueError`` naming the file and the member.
    """

    def __init__(self, archive, path):
        self._zip = archive
        self.path = path
        self.used = set()
        self._members = {}
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                self.fail(f"member {info.filename!r} is not a .npy array (not written by ntkfast.io.save_model)")
            self._members[info.filename[:-4]] = info

    @property
    def keys(self):
        return set(self._members)

    def fail(self, msg):
        raise ModelFileError(f"model file {self.path!r}: {msg}")

    # -- members

    def _header(self, key):
        """``(shape, fortran_order, dtype, data offset)`` from the member's .npy header only."""
        info = self._members.get(key)
        if info is None:
            self.fail(f"missing key {key!r} (corrupt file, or not written by ntkfast.io.save_model)")
        self.used.add(key)
        try:
            with self._zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                        f, max_header_size=_MAX_HEADER_BYTES)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                        f, max_header_size=_MAX_HEADER_BYTES)
                else:
                    self.fail(f"key {key!r}: unsupported .npy format version {version}")
                offset = f.tell()
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError, TypeError) as exc:
            self.fail(f"key {key!r} has no valid .npy header ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
        if dtype.hasobject:
            self.fail(f"key {key!r} is an object array, which cannot be read without pickle")
        if fortran and len(shape) > 1:
            self.fail(f"key {key!r}: expected a C-ordered array, got a Fortran-ordered one")
        return shape, dtype, offset, info

    def ndim(self, key, allowed):
        """Number of dimensions of ``key`` (from its header), which must be in ``allowed``."""
        shape = self._header(key)[0]
        if len(shape) not in allowed:
            self.fail(f"{key!r}: expected a {' or '.join(f'{d}-D' for d in allowed)} array, got shape {shape}")
        return len(shape)

    def array(self, key, shape, kinds="f", dtype=None, finite=True):
        """The array ``key``, of exactly ``shape`` (None = any size on that axis) and an
        allowed dtype kind (``dtype``: exactly that dtype), checked from its header before
        any data is read; float arrays must be finite unless ``finite=False``."""
        declared, dt, offset, info = self._header(key)
        if dtype is not None and dt != np.dtype(dtype):
            self.fail(f"{key!r}: expected dtype {np.dtype(dtype).name}, got {dt}")
        if dt.kind not in kinds or (dt.kind == "f" and dt not in (np.float32, np.float64)):
            self.fail(f"{key!r}: expected dtype kind {kinds!r}, got {dt}")
        if len(declared) != len(shape) or any(s is not None and s != t for s, t in zip(shape, declared)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            self.fail(f"{key!r}: expected shape {want}, got {declared}")
        n_bytes = int(np.prod(declared, dtype=object)) * dt.itemsize
        held = info.file_size - offset
        if n_bytes != held:
            self.fail(f"{key!r}: the header declares {human_bytes(n_bytes)} of data, the member holds "
                      f"{human_bytes(max(held, 0))} (truncated or forged file)")
        avail = available_memory()
        if avail is not None and n_bytes > avail:
            self.fail(f"{key!r}: declares {human_bytes(n_bytes)}, more than the {human_bytes(avail)} of "
                      f"memory available")
        buf = bytearray(n_bytes)
        try:
            with self._zip.open(info) as f:
                f.seek(offset)
                got = f.readinto(memoryview(buf)) if n_bytes else 0
        except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
            self.fail(f"key {key!r} is corrupt ({exc})")
        if got != n_bytes:
            self.fail(f"key {key!r} is truncated ({got} of {n_bytes} bytes)")
        a = np.frombuffer(buf, dtype=dt).reshape(declared)
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            self.fail(f"{key!r}: expected finite values, got NaN or infinity")
        return a

    def string(self, key, max_chars=_MAX_NAME_CHARS):
        declared, dt = self._header(key)[:2]
        if declared != () or dt.kind != "U":
            self.fail(f"{key!r}: expected a string, got an array of dtype {dt} and shape {declared}")
        if dt.itemsize // 4 > max_chars:
            self.fail(f"{key!r}: expected a string of at most {max_chars} characters, got one of {dt.itemsize // 4}")
        return str(self.array(key, (), kinds="U")[()])

    def json(self, key):
        text = self.string(key, _MAX_JSON_CHARS)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(f"{key!r}: expected JSON, got invalid text ({exc})")
        except RecursionError:
            self.fail(f"{key!r}: expected JSON, got values nested too deeply")

    def integer(self, key, minimum):
        declared, dt = self._header(key)[:2]
        if declared != () or dt.kind not in "iu":
            self.fail(f"{key!r}: expected an integer, got an array of dtype {dt} and shape {declared}")
        a = self.array(key, (), kinds="iu")
        v = int(a[()])
        if v < minimum:
            self.fail(f"{key!r}: expected an integer >= {minimum}, got {v}")
        return v

    def dtype(self, key):
        """A fitted dtype, stored by name: float32 or float64."""
        name = self.string(key)
        if name not in ("float32", "float64"):
            self.fail(f"{key}: expected 'float32' or 'float64', got {name!r}")
        return np.dtype(name)

    def estimator(self, key, cls):
        """``(cls(**params), checked params)`` from the JSON parameters at ``key``, checked
        by the class's own parameter constraints."""
        params = self.json(key)
        if not isinstance(params, dict):
            self.fail(f"{key!r}: expected a JSON object of parameters, got {type(params).__name__}")
        expected = set(cls().get_params(deep=False))
        params = dict(params)
        for name, default in PARAMETERS_ADDED_LATER.items():
            # Files written before a parameter existed: its default is the old behaviour.
            if name in expected and name not in params:
                params[name] = default
        if set(params) != expected:
            self.fail(
                f"{key!r}: expected the parameters {sorted(expected)} of {cls.__name__}, "
                f"got {sorted(params)}"
            )
        for k, v in params.items():
            ok = v is None or isinstance(v, (bool, int, float, str)) or (
                isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v))
            if not ok:
                self.fail(f"{key!r}: parameter {k!r} has an unexpected value {v!r}")
        est = cls(**params)
        try:
            checked = check_params(est)
        except (TypeError, ValueError) as exc:
            self.fail(f"{key}: invalid parameters ({exc})")
        return est, checked



def load_model(path, return_metadata=False):
    """Load a model saved by :func:`save_model`, validating every member; never unpickles.

    Parameters
    ----------
    path : str or os.PathLike
        The model file (``.npz``).
    return_metadata : bool, default=False
        Also return the metadata dictionary given to :func:`save_model`.

    Returns
    -------
    model : estimator
        The fitted estimator (predicts/transforms bit-identically to the saved one).
    metadata : dict
        The metadata given to :func:`save_model`; only if ``return_metadata``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not an ntkfast model, is of an unknown class or version, misses a key,
        has extra keys, or holds members of unexpected dtype, order, shape or size, or
        arrays of inconsistent values, or invalid parameters.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"model file {path!r} is a directory")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        with open(path, "rb") as f:
            is_npy = f.read(6) == b"\x93NUMPY"
        if is_npy:
            raise ValueError(f"model file {path!r}: expected an .npz archive written by ntkfast, "
                             f"got a single array (.npy)") from None
        raise ValueError(f"model file {path!r} is not an ntkfast model (.npz) file ({exc})") from None
    with archive:
        r = ModelReader(archive, path)
        if "__format__" not in r.keys:
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
        model = classes[name].__ntkfast_load__(r, "")
        extra = sorted(r.keys - r.used)
        if extra:
            r.fail(f"unexpected keys {extra} for a {name}")
    return (model, metadata) if return_metadata else model
