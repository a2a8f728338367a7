"""The ``ntkfast`` command: ``demo``, ``fit``, ``predict`` and ``transform``.

Every user error (a missing or malformed file, a wrong column, a model that does not match
the data) ends with one line ``ntkfast: error: ...`` on stderr and exit code 1 (2 for a
command-line usage error), never a traceback.  Output files are written under a temporary
name in their destination folder and renamed only once complete.
"""
import argparse
import contextlib
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

from . import __version__
from ._engine import batches, feature_maps
from ._engine.progress import progress_bar
from ._engine.validation import feature_dtype, resolve_n_threads

__all__ = ["main"]

_CHUNK_ROWS = 4096  # rows per chunk for the command's own streaming loops


class CLIError(Exception):
    """A user error: reported as one line on stderr."""


# ----------------------------------------------------------------------------- helpers

def _progress(total, desc, enabled, unit="rows"):
    """A tqdm bar on stderr (a no-op object when disabled or tqdm is missing)."""
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
        except ImportError:
            pass

    class _Null:
        def update(self, n=1):
            pass

        def close(self):
            pass

    return _Null()


@contextlib.contextmanager
def _atomic_output(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise CLIError(f"cannot write {path!r}: folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_out_folder(path, what):
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise CLIError(f"{what}: cannot write {os.fspath(path)!r}: folder {folder!r} does not exist")


def _suffix(path, allowed, what):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in allowed:
        raise CLIError(f"{what}: expected a {' or '.join(allowed)} file, got {os.fspath(path)!r}")
    return ext


def _check_exists(path, what):
    if not os.path.exists(path):
        raise CLIError(f"{what}: file {path!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{what}: {path!r} is a directory, not a file")


# ----------------------------------------------------------------------------- data files

class Table:
    """A data file: ``values`` (2-D, numeric) plus optional column names."""

    def __init__(self, path, values, names, target_values=None):
        self.path = path
        self.values = values  # (n, n_columns) numeric array (possibly a read-only memmap)
        self.names = names  # list of str, or None without a header
        self.target_values = target_values  # raw target column for csv (may be strings)

    @property
    def n_columns(self):
        return self.values.shape[1]


def _load_npy(path):
    try:
        A = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CLIError(f"{path}: not a numeric .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read as .npy ({exc})") from None
    if not isinstance(A, np.ndarray):
        raise CLIError(f"{path}: expected a single array (.npy), got an archive")
    if A.ndim != 2:
        raise CLIError(f"{path}: expected a 2-D array (rows x columns), got shape {A.shape}")
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise CLIError(f"{path}: expected a non-empty 2-D array, got shape {A.shape}")
    if A.dtype.kind not in "biuf":
        raise CLIError(f"{path}: expected a numeric array, got dtype {A.dtype}")
    return Table(path, A, None)


def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def _split_csv_line(line):
    return [f.strip().strip('"').strip("'").strip() for f in line.rstrip("\r\n").split(",")]


def _load_csv(path, target=None, text_target=False, optional_target=False):
    """Read a comma-separated file with an optional header line.

    The header is detected: a first line with any non-numeric field is a header.  The
    feature columns must be numeric; with ``text_target`` the ``target`` column may hold
    any labels (read as strings).
    """
    try:
        with open(path, "r", encoding="utf-8") as f:
            first = f.readline()
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text (UTF-8) CSV file") from None
    except OSError as exc:
        raise CLIError(f"{path}: cannot read ({exc.strerror})") from None
    if not first.strip():
        raise CLIError(f"{path}: empty file")
    fields = _split_csv_line(first)
    header = not all(_is_number(x) for x in fields)
    names = fields if header else None
    if header and len(set(names)) != len(names):
        raise CLIError(f"{path}: duplicate column names in the header")
    n_cols = len(fields)
    if optional_target and (names is None or target not in names):
        target = None
    t = _resolve_target(target, names, n_cols, path) if target is not None else None
    usecols = [j for j in range(n_cols) if not (text_target and j == t)]
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=int(header), usecols=usecols,
                            dtype=np.float64, ndmin=2, encoding="utf-8")
        target_values = None
        if text_target and t is not None:
            target_values = np.loadtxt(path, delimiter=",", skiprows=int(header), usecols=[t],
                                       dtype=str, ndmin=1, encoding="utf-8")
            target_values = np.char.strip(np.char.strip(target_values), "\"'")
    except ValueError as exc:
        msg = str(exc).splitlines()[0]
        raise CLIError(f"{path}: non-numeric or malformed value ({msg})") from None
    if values.shape[0] == 0:
        raise CLIError(f"{path}: no data rows")
    if text_target and t is not None:
        # Put a placeholder column back so that column indices keep their meaning.
        values = np.insert(values, t, 0.0, axis=1)
    return Table(path, values, names, target_values), t


def _resolve_target(target, names, n_cols, path):
    """Index of the target column from a name (with a header) or an integer index."""
    if names is not None and target in names:
        return names.index(target)
    try:
        t = int(target)
    except ValueError:
        cols = f" (columns: {', '.join(names)})" if names else " (the file has no header: give an integer index)"
        raise CLIError(f"--target: no column named {target!r} in {path}{cols}") from None
    if not -n_cols <= t < n_cols:
        raise CLIError(f"--target: column index {t} out of range for {n_cols} columns in {path}")
    return t % n_cols


def _read_data(path, target=None, text_target=False, optional_target=False):
    """Read ``path`` (.npy or .csv); return ``(table, index of the target column or None)``.

    With ``optional_target`` (predict), ``target`` is a column name that is skipped when a
    csv header has it (it may hold non-numeric labels) and ignored otherwise.
    """
    _check_exists(path, "--data")
    ext = _suffix(path, (".npy", ".csv"), "--data")
    if ext == ".npy":
        table = _load_npy(path)
        if optional_target:
            return table, None
        t = _resolve_target(target, None, table.n_columns, path) if target is not None else None
        return table, t
    return _load_csv(path, target, text_target, optional_target)


def _column_name(table, j):
    return repr(table.names[j]) if table.names else str(j)


def _check_finite(table, columns, rows_done=0):
    """Refuse NaN/inf in the given columns, naming the first bad row and column."""
    V = table.values
    for i0 in range(0, V.shape[0], _CHUNK_ROWS):
        block = np.asarray(V[i0:i0 + _CHUNK_ROWS][:, columns], dtype=np.float64)
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise CLIError(
                f"{table.path}: NaN or infinity in column {_column_name(table, columns[j])} "
                f"(data row {i0 + i + rows_done})"
            )


def _features(table, drop):
    """The feature columns: everything but ``drop`` (a view when it is the first/last column)."""
    V = table.values
    n_cols = V.shape[1]
    if drop is None:
        X = V
    elif drop == n_cols - 1:
        X = V[:, :-1]
    elif drop == 0:
        X = V[:, 1:]
    else:
        X = np.delete(V, drop, axis=1)
    if X.shape[1] == 0:
        raise CLIError(f"{table.path}: no feature columns left besides the target")
    if X.dtype.kind != "f":
        X = np.asarray(X, dtype=np.float64)
    return X


# ----------------------------------------------------------------------------- estimators

def _ridge():
    try:
        from . import ridge
    except ImportError as exc:  # pragma: no cover - only in a partial build
        raise CLIError(f"the estimators are not available in this build ({exc})") from None
    return ridge


def _threads(args):
    return getattr(args, "n_threads", None)


# ----------------------------------------------------------------------------- fit

def _cmd_fit(args):
    _suffix(args.model, (".npz",), "--model")
    _check_out_folder(args.model, "--model")
    text_target = args.task == "classification"
    table, t = _read_data(args.data, args.target, text_target=text_target)
    feature_cols = [j for j in range(table.n_columns) if j != t]
    _check_finite(table, feature_cols)
    X = _features(table, t)
    if table.target_values is not None:
        y = table.target_values
        if np.any(y == ""):
            row = int(np.argmax(y == ""))
            raise CLIError(f"{table.path}: empty label in column {_column_name(table, t)} (data row {row})")
        try:  # numeric labels stay numbers (integers when they all are)
            y_num = y.astype(np.float64)
        except ValueError:
            pass
        else:
            if np.all(np.isfinite(y_num)):
                y = y_num.astype(np.int64) if np.all(y_num == np.round(y_num)) else y_num
    else:
        y = np.asarray(table.values[:, t])
        if args.task == "regression" or y.dtype.kind == "f":
            _check_finite(table, [t])
        if args.task == "classification" and y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
    if args.task == "classification" and np.unique(y).shape[0] < 2:
        raise CLIError(f"--target: classification needs at least 2 classes, column {_column_name(table, t)} has one")
    ridge = _ridge()
    verbose = not args.quiet
    alphas = args.alpha if args.alpha is not None else [1.0]
    if args.exact:
        if args.task == "classification":
            raise CLIError("--exact: ExactNTKRidge is a regressor; use --task regression")
        if len(alphas) != 1:
            raise CLIError("--alpha: --exact takes a single value")
        model = ridge.ExactNTKRidge(depth=args.depth, bias=args.bias, alpha=alphas[0],
                                    n_threads=args.n_threads, verbose=verbose)
    else:
        cls = ridge.NTKRidgeClassifier if args.task == "classification" else ridge.NTKRidge
        model = cls(depth=args.depth, n_components=args.n_components,
                    sketch_components=args.sketch_components, leverage=not args.no_leverage,
                    kernel=args.kernel, alpha=alphas[0] if len(alphas) == 1 else list(alphas),
                    validation_fraction=args.validation_fraction, batch_size=args.batch_size,
                    verbose=verbose, random_state=args.random_state, n_threads=args.n_threads)
    t0 = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - t0
    metadata = {
        "task": args.task,
        "target": table.names[t] if table.names else t,
        "target_index": t,
        "n_columns": table.n_columns,
        "columns": [table.names[j] for j in feature_cols] if table.names else None,
        "data": os.path.basename(args.data),
    }
    from .io import save_model

    with _atomic_output(args.model) as tmp:
        save_model(model, tmp, metadata=metadata)
    what = f"alpha_ = {model.alpha_:.6g}" if hasattr(model, "alpha_") else f"alpha = {model.alpha:.6g}"
    print(f"fitted {type(model).__name__} on {X.shape[0]} rows x {X.shape[1]} features in "
          f"{elapsed:.2f} s ({what}); saved to {args.model}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- predict

def _load(path):
    from .io import load_model

    _check_exists(path, "--model")
    try:
        return load_model(path, return_metadata=True)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


def _predict_features(table, meta, n_features):
    """Select the model's feature columns in ``table``: drop the target, match names."""
    names, t = table.names, None
    if names is not None and meta.get("columns"):
        wanted = meta["columns"]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise CLIError(f"{table.path}: missing column(s) {', '.join(map(repr, missing))} that the model was fitted on")
        cols = [names.index(c) for c in wanted]
        _check_finite(table, cols)
        X = np.asarray(table.values[:, cols], dtype=np.float64)
        return X
    if meta.get("target_index") is not None and table.n_columns == meta.get("n_columns") \
            and table.n_columns == n_features + 1:
        t = meta["target_index"]
    cols = [j for j in range(table.n_columns) if j != t]
    if len(cols) != n_features:
        raise CLIError(
            f"{table.path}: expected {n_features} feature columns (as in the model), got {len(cols)}"
        )
    _check_finite(table, cols)
    return _features(table, t)


def _write_predictions(pred, path, header):
    ext = _suffix(path, (".npy", ".csv"), "--out")
    with _atomic_output(path) as tmp:
        if ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, pred, allow_pickle=False)
        else:
            fmt = "%s" if pred.dtype.kind not in "f" else "%.17g"
            np.savetxt(tmp, pred.reshape(pred.shape[0], -1), fmt=fmt, delimiter=",",
                       header=header, comments="")


def _cmd_predict(args):
    model, meta = _load(args.model)
    if not hasattr(model, "predict"):
        raise CLIError(f"--model: {args.model} holds a {type(model).__name__}, which has no predict (use 'ntkfast transform')")
    if args.out is not None:
        _suffix(args.out, (".npy", ".csv"), "--out")
        _check_out_folder(args.out, "--out")
    # Runtime settings of this command, not of the saved model.
    model.verbose = not args.quiet
    if args.n_threads is not None:
        model.n_threads = args.n_threads
        if hasattr(model, "features_"):
            model.features_.n_threads = args.n_threads
    target = meta.get("target")
    table, _ = _read_data(args.data, target if isinstance(target, str) else None,
                          text_target=True, optional_target=True)
    X = _predict_features(table, meta, model.n_features_in_)
    t0 = time.perf_counter()
    pred = np.asarray(model.predict(X))
    elapsed = time.perf_counter() - t0
    if pred.dtype == object:
        pred = pred.astype(str)
    header = str(target) if isinstance(target, str) else "prediction"
    if args.out is None:
        out = sys.stdout
        for v in pred.reshape(pred.shape[0], -1):
            out.write(",".join(repr(float(x)) if pred.dtype.kind == "f" else str(x) for x in v) + "\n")
    else:
        _write_predictions(pred, args.out, header)
        print(f"predicted {pred.shape[0]} rows in {elapsed:.2f} s; written to {args.out}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- transform

def _cmd_transform(args):
    from .features import NTKRandomFeatures

    _suffix(args.out, (".npy",), "--out")
    _check_out_folder(args.out, "--out")
    _check_exists(args.data, "--data")
    _suffix(args.data, (".npy",), "--data (transform streams a memory-mapped .npy)")
    table = _load_npy(args.data)
    X = table.values
    if args.model is not None:
        rf, _ = _load(args.model)
        if hasattr(rf, "features_"):
            rf = rf.features_
        if not isinstance(rf, NTKRandomFeatures):
            raise CLIError(f"--model: {args.model} holds a {type(rf).__name__}, which has no random features")
        if args.n_threads is not None:
            rf.n_threads = args.n_threads
    else:
        rf = NTKRandomFeatures(depth=args.depth, n_components=args.n_components,
                               sketch_components=args.sketch_components,
                               leverage=not args.no_leverage, kernel=args.kernel,
                               random_state=args.random_state, n_threads=args.n_threads)
        # fit only looks at the shape and dtype: one row is enough.
        first = np.asarray(X[:1], dtype=np.float32 if X.dtype == np.float32 else np.float64)
        rf.fit(np.zeros_like(first))
        if args.save_model is not None:
            from .io import save_model

            _suffix(args.save_model, (".npz",), "--save-model")
            with _atomic_output(args.save_model) as tmp:
                save_model(rf, tmp)
    if X.shape[1] != rf.n_features_in_:
        raise CLIError(f"{args.data}: expected {rf.n_features_in_} feature columns (as in the model), got {X.shape[1]}")
    n, n_out = X.shape[0], rf.n_relu_ + rf.n_sketch_
    fmap = feature_maps.of(rf)
    n_threads = resolve_n_threads(rf.n_threads)
    t0 = time.perf_counter()
    with _atomic_output(args.out) as tmp, progress_bar(not args.quiet, n, "transform") as bar:
        dtype = feature_dtype(X.dtype if X.dtype.kind == "f" else np.float64, rf.dtype_)
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n, n_out))
        try:
            Xf = X if X.dtype.kind == "f" else X.astype(np.float64)
            try:
                batches.transform(fmap, Xf, out, args.batch_size, 0, n_threads, None, bar.update)
            except ValueError as exc:
                # Rows in the message are counted from the start of the file.
                raise CLIError(f"{args.data}: {exc}") from None
            out.flush()
        finally:
            del out
    print(f"transformed {n} rows into {n_out} features ({np.dtype(rf.dtype_).name}) in "
          f"{time.perf_counter() - t0:.2f} s; written to {args.out}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- demo

def _shift_digits(X, dy, dx):
    """8x8 digit images shifted by (dy, dx) pixels, zero-filled (before standardisation)."""
    imgs = X.reshape(-1, 8, 8)
    out = np.zeros_like(imgs)
    ys = slice(max(dy, 0), 8 + min(dy, 0))
    yd = slice(max(-dy, 0), 8 + min(-dy, 0))
    xs = slice(max(dx, 0), 8 + min(dx, 0))
    xd = slice(max(-dx, 0), 8 + min(-dx, 0))
    out[:, ys, xs] = imgs[:, yd, xd]
    return out.reshape(len(X), 64)


def _demo_data(task, quick, seed):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if task == "classification":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
        name = f"digits (8x8 images, 10 classes; {len(X_tr)} training images"
        if not quick:
            # Training set augmented with the 4 one-pixel shifts (up, down, left, right) of
            # every image (the test images stay unshifted), so that n is large enough for
            # the quadratic cost of the exact kernel to show, within a minute on 2 cores.
            shifts = [(-1, 0), (1, 0), (0, -1), (0, 1)]
            X_tr = np.vstack([X_tr] + [_shift_digits(X_tr, dy, dx) for dy, dx in shifts])
            y_tr = np.concatenate([y_tr] * (len(shifts) + 1))
            name += f" + their 4 one-pixel shifts = {len(X_tr)}"
        name += f", {len(X_te)} test images)"
    else:
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
        name = f"diabetes (regression, {len(X_tr)} training rows, {len(X_te)} test rows)"
    scaler = StandardScaler().fit(X_tr)
    return name, scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def _timed(f, *a):
    t0 = time.perf_counter()
    r = f(*a)
    return r, time.perf_counter() - t0


def _cmd_demo(args):
    from .kernels import ntk_kernel

    ridge = _ridge()
    quick = args.quick
    n_components = args.n_components or (1024 if quick else 2048)
    name, X_tr, X_te, y_tr, y_te = _demo_data(args.task, quick, args.random_state)
    verbose = not args.quiet
    classify = args.task == "classification"
    if args.alpha is None:
        # Unscaled targets (diabetes: y about 150 +/- 77) want a larger penalty than +/-1 ones.
        args.alpha = 1.0 if classify else 100.0
    print(f"ntkfast demo: {name}; NTK of depth {args.depth}, {n_components} random features",
          file=sys.stderr)
    cls = ridge.NTKRidgeClassifier if classify else ridge.NTKRidge
    rf_model = cls(depth=args.depth, n_components=n_components, alpha=args.alpha,
                   verbose=verbose, random_state=args.random_state, n_threads=args.n_threads)
    _, fit_rf = _timed(rf_model.fit, X_tr, y_tr)
    pred_rf, pred_rf_t = _timed(rf_model.predict, X_te)

    # Exact kernel ridge on the same split.  For classification the exact model regresses
    # the one-vs-rest +/-1 targets, as NTKRidgeClassifier does, and predicts the argmax.
    exact = ridge.ExactNTKRidge(depth=args.depth, alpha=args.alpha, n_threads=args.n_threads,
                                verbose=verbose)
    if classify:
        classes = np.unique(y_tr)
        Y = np.where(y_tr[:, None] == classes[None, :], 1.0, -1.0)
        _, fit_ex = _timed(exact.fit, X_tr, Y)
        scores, pred_ex_t = _timed(exact.predict, X_te)
        pred_ex = classes[np.argmax(scores, axis=1)]
        score = lambda p: float(np.mean(p == y_te))  # noqa: E731
        metric = "test accuracy"
    else:
        _, fit_ex = _timed(exact.fit, X_tr, y_tr)
        pred_ex, pred_ex_t = _timed(exact.predict, X_te)
        score = lambda p: float(1 - np.sum((p - y_te) ** 2) / np.sum((y_te - y_te.mean()) ** 2))  # noqa: E731
        metric = "test R^2"

    # Kernel approximation error on a subsample of the training rows.
    rng = np.random.default_rng(args.random_state)
    sub = X_tr[rng.choice(len(X_tr), size=min(len(X_tr), args.error_rows), replace=False)]
    Phi = rf_model.features_.transform(sub)
    K = ntk_kernel(sub, depth=args.depth, n_threads=args.n_threads)
    err = float(np.linalg.norm(Phi @ Phi.T - K) / np.linalg.norm(K))

    rows = [
        (f"{type(rf_model).__name__} ({n_components} features)", score(pred_rf), fit_rf, pred_rf_t,
         f"{err:.3f} (on {len(sub)} rows)"),
        ("ExactNTKRidge", score(pred_ex), fit_ex, pred_ex_t, "0 (exact)"),
    ]
    header = ("model", metric, "fit time (s)", "predict time (s)", "||Phi Phi^T - K||_F / ||K||_F")
    table = [header] + [(r[0], f"{r[1]:.4f}", f"{r[2]:.2f}", f"{r[3]:.3f}", r[4]) for r in rows]
    widths = [max(len(r[j]) for r in table) for j in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines))
    print(f"speed-up of the random features over the exact kernel: fit {fit_ex / fit_rf:.1f}x, "
          f"predict {pred_ex_t / max(pred_rf_t, 1e-9):.1f}x (n_train = {len(X_tr)}, d = {X_tr.shape[1]})")
    return 0


# ----------------------------------------------------------------------------- parser

def _positive_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _nonneg_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not np.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {s}")
    return v


def _seed(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, same prefix as every other error, exit code 2 (usage).
        self.print_usage(sys.stderr)
        print(f"ntkfast: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _add_feature_options(p, defaults=True):
    p.add_argument("--depth", type=_positive_int, default=1, help="hidden ReLU layers L (default: 1)")
    p.add_argument("--n-components", type=_positive_int, default=4096,
                   help="number of random features (default: 4096)")
    p.add_argument("--sketch-components", type=_positive_int, default=None,
                   help="TensorSketch width ms (< n-components; default: about half)")
    p.add_argument("--no-leverage", action="store_true", help="plain Gaussian ReLU weights (no leverage-score sampling)")
    p.add_argument("--kernel", choices=("ntk", "nngp"), default="ntk", help="kernel to approximate (default: ntk)")
    p.add_argument("--random-state", type=_seed, default=0, help="seed of the random features (default: 0)")


def _add_common(p):
    p.add_argument("--n-threads", type=_positive_int, default=None,
                   help="threads (default: the OpenMP limit, e.g. OMP_NUM_THREADS)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summaries")


def build_parser():
    parser = _Parser(prog="ntkfast", description="Neural Tangent Kernel random features and kernel ridge "
                     "regression/classification on numpy and CSV files.")
    parser.add_argument("--version", action="version", version=f"ntkfast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("demo", help="compare random-feature and exact NTK ridge on bundled data",
                       description="Fit NTKRidgeClassifier (or NTKRidge) and ExactNTKRidge on the same "
                       "split of a data set bundled with scikit-learn (no network) and print test score, "
                       "fit and predict times, the kernel approximation error and the speed-up.")
    p.add_argument("--task", choices=("classification", "regression"), default="classification",
                   help="classification: digits (+ shifted copies); regression: diabetes")
    p.add_argument("--depth", type=_positive_int, default=1, help="hidden ReLU layers L (default: 1)")
    p.add_argument("--n-components", type=_positive_int, default=None,
                   help="random features (default: 2048)")
    p.add_argument("--alpha", type=_nonneg_float, default=None,
                   help="ridge penalty (default: 1 for classification, 100 for regression)")
    p.add_argument("--error-rows", type=_positive_int, default=1000,
                   help="training rows used to measure the kernel approximation error (default: 1000)")
    p.add_argument("--random-state", type=_seed, default=0, help="seed (default: 0)")
    p.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    _add_common(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("fit", help="fit a model on a .npy or .csv file and save it (.npz)",
                       description="Fit NTKRidge / NTKRidgeClassifier (or ExactNTKRidge with --exact) "
                       "on the columns of FILE other than the target, and save the model as .npz.")
    p.add_argument("--data", required=True, help="training data: .npy (2-D numeric) or .csv "
                   "(comma-separated, optional header line)")
    p.add_argument("--target", required=True,
                   help="target column: a name (csv with header) or an integer index (negative counts from the end)")
    p.add_argument("--task", choices=("regression", "classification"), default="regression",
                   help="default: regression")
    _add_feature_options(p)
    p.add_argument("--alpha", type=_nonneg_float, nargs="+", default=None, metavar="ALPHA",
                   help="ridge penalty; several values: chosen on a held-out part (default: 1.0)")
    p.add_argument("--validation-fraction", type=float, default=0.1,
                   help="held-out fraction used to choose among several --alpha (default: 0.1)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="rows per streamed chunk")
    p.add_argument("--exact", action="store_true", help="exact kernel ridge (ExactNTKRidge; quadratic in n)")
    p.add_argument("--bias", type=_nonneg_float, default=0.0, help="bias variance of --exact (default: 0)")
    p.add_argument("--model", required=True, help="output model file (.npz)")
    _add_common(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="predict with a saved model",
                       description="Predict the rows of FILE with a model saved by 'ntkfast fit'. "
                       "A target column present in FILE is dropped (by name for a csv with a header).")
    p.add_argument("--model", required=True, help="model file written by 'ntkfast fit'")
    p.add_argument("--data", required=True, help="data: .npy or .csv")
    p.add_argument("--out", default=None, help="predictions (.npy or .csv); default: print to stdout")
    _add_common(p)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("transform", help="stream NTK random features of a .npy into a .npy",
                       description="Compute NTK random features of IN.npy (memory-mapped, read in "
                       "chunks) into OUT.npy (memory-mapped), with the features of --model or new ones "
                       "drawn from --depth/--n-components/--random-state.")
    p.add_argument("--data", required=True, help="input .npy of shape (n, d)")
    p.add_argument("--out", required=True, help="output .npy of shape (n, n_components)")
    p.add_argument("--model", default=None,
                   help="saved NTKRandomFeatures (or ridge model: its features) to use")
    _add_feature_options(p)
    p.add_argument("--save-model", default=None, help="save the newly drawn features (.npz) for later use")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="rows per chunk")
    _add_common(p)
    p.set_defaults(func=_cmd_transform)
    return parser


def main(argv=None):
    """Run the ``ntkfast`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return 0 if exc.code is None else exc.code
    try:
        return args.func(args)
    except CLIError as exc:
        msg = str(exc)
    except (ValueError, TypeError, MemoryError) as exc:
        # The library's messages already name the argument ("X: expected ..., got ...").
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except FileNotFoundError as exc:
        msg = str(exc)
    except (OSError, zipfile.BadZipFile) as exc:
        msg = f"{exc.filename + ': ' if getattr(exc, 'filename', None) else ''}{getattr(exc, 'strerror', None) or exc}"
    except KeyboardInterrupt:
        print("ntkfast: interrupted", file=sys.stderr)
        return 130
    print(f"ntkfast: error: {msg}", file=sys.stderr)
    return 1
