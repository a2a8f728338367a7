"""``ntkfast fit``, ``predict`` and ``transform``.

Each command checks its options and outputs first, reads the data (:mod:`.data`), does the
work with the library's estimators and writes through :mod:`.output`.  Errors are
:class:`~.errors.CLIError` (one line, exit code 1) or :class:`~.errors.UsageError` (exit 2).
"""
import os
import sys
import time

import numpy as np

from .._engine import batches, feature_maps
from .._engine.progress import progress_bar
from .._engine.validation import feature_dtype, resolve_n_threads
from . import data, output
from .errors import CLIError, Messages, UsageError

__all__ = ["fit", "predict", "transform", "FEATURE_DEFAULTS", "RIDGE_DEFAULTS"]

# Options whose default is None in the parser, so that "given" can be told from "default".
FEATURE_DEFAULTS = {"depth": 1, "n_components": 4096, "sketch_components": None,
                    "step_components": None, "sketch": "countsketch", "projection": "gaussian",
                    "no_leverage": False, "kernel": "ntk",
                    "random_state": 0, "bias": 0.0, "features": "random"}
# The random-feature options that Nystroem features (fit --features nystroem) do not take.
RANDOM_ONLY = ("sketch_components", "step_components", "sketch", "projection", "no_leverage")
RIDGE_DEFAULTS = {"validation_fraction": 0.1, "batch_size": None}


def _option(dest):
    return "--" + dest.replace("_", "-")


def _given(args, dests):
    return [_option(d) for d in dests if getattr(args, d, None) is not None]


def _fill(args, defaults):
    for dest, value in defaults.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)


def _read(args, say, **kwargs):
    """Read ``--data`` with a bar over its characters (csv) and a status line."""
    t0 = time.perf_counter()
    try:
        size = os.path.getsize(args.data)
    except OSError:
        size = 0
    csv = args.data.lower().endswith(".csv")
    with progress_bar(say.bars and csv, size, f"reading {os.path.basename(args.data)}",
                      unit="B") as bar:
        table, t = data.read_data(args.data, progress=bar.update, **kwargs)
    note = f"; {table.comments} comment line(s) skipped" if table.comments else ""
    say(f"read {args.data}: {table.values.shape[0]} rows x {table.n_columns} columns "
        f"in {time.perf_counter() - t0:.2f} s{note}")
    return table, t


def _load(path):
    from ..io import load_model

    if not os.path.exists(path):
        raise CLIError(f"--model: file {path!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"--model: {path!r} is a directory, not a file")
    try:
        return load_model(path, return_metadata=True)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


def _save(model, path, metadata):
    from ..io import save_model

    # The progress setting is the command's (-q), not a property of the saved model.
    if hasattr(model, "verbose"):
        model.verbose = False
    try:
        save_model(model, path, metadata=metadata)
    except OSError as exc:
        raise CLIError(f"--model: cannot write {path!r}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- fit

def _labels(table, t):
    """Classification labels: text of a csv column (numbers when all are) or .npy values."""
    if table.labels is not None:
        y = table.labels
        try:
            y_num = y.astype(np.float64)
        except ValueError:
            return y
        if np.all(np.isfinite(y_num)):
            return y_num.astype(np.int64) if np.all(y_num == np.round(y_num)) else y_num
        return y
    data.check_finite(table, [t])
    y = np.asarray(table.values[:, t])
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return y


def fit(args):
    say = Messages(args.quiet)
    rf_only = list(FEATURE_DEFAULTS) + list(RIDGE_DEFAULTS)
    if args.exact:
        given = _given(args, [d for d in rf_only if d not in ("depth", "bias")])
        if given:
            raise UsageError(f"{', '.join(given)}: random-feature options do not apply to --exact")
    if args.features == "nystroem":
        given = _given(args, RANDOM_ONLY)
        if given:
            raise UsageError(f"{', '.join(given)}: random-feature options do not apply to --features nystroem")
    _fill(args, FEATURE_DEFAULTS)
    _fill(args, RIDGE_DEFAULTS)
    output.check_output(args.model, "--model", (".npz",), [("--data", args.data)])
    classify = args.task == "classification"
    alphas = args.alpha if args.alpha is not None else [1.0]
    if args.exact and classify:
        raise CLIError("--exact: ExactNTKRidge is a regressor; use --task regression")
    if args.exact and len(alphas) != 1:
        raise CLIError("--alpha: --exact takes a single value")

    table, t = _read(args, say, target=args.target, text_target=classify)
    X = data.features(table, t)
    feature_cols = [j for j in range(table.n_columns) if j != t]
    names = [table.names[j] for j in feature_cols] if table.names else None
    if classify:
        y = _labels(table, t)
        if np.unique(y).shape[0] < 2:
            raise CLIError(f"--target: classification needs at least 2 classes, "
                           f"{table.column(t)} has one")
    else:
        data.check_finite(table, [t])
        y = np.asarray(table.values[:, t], dtype=np.float64)

    metadata = {
        "task": args.task,
        "target": table.names[t] if table.names else t,
        "target_index": t,
        "n_columns": table.n_columns,
        "columns": names,
        "data": os.path.basename(args.data),
        "standardize": not args.no_standardize,
    }
    if not args.no_standardize:
        t0 = time.perf_counter()
        mean, scale, constant = data.fit_scaling(X, names)
        X = data.apply_scaling(X, mean, scale)
        metadata.update(feature_mean=mean.tolist(), feature_scale=scale.tolist())
        what = f"{X.shape[1]} feature column(s)"
        if not classify:
            y_mean = float(np.mean(y))
            y_scale = float(np.std(y))
            if not np.isfinite(y_scale) or y_scale == 0.0:
                y_scale = 1.0
            y = (y - y_mean) / y_scale
            metadata.update(target_mean=y_mean, target_scale=y_scale)
            what += " and the target"
        say(f"standardised {what} (mean 0, standard deviation 1 on the training rows) "
            f"in {time.perf_counter() - t0:.2f} s")
        if constant:
            say(f"constant column(s) {', '.join(map(repr, constant))}: centred, divided by 1")

    from .. import ridge

    verbose = say.bars
    if args.exact:
        model = ridge.ExactNTKRidge(depth=args.depth, bias=args.bias, alpha=alphas[0],
                                    n_threads=args.n_threads, verbose=verbose)
    else:
        cls = ridge.NTKRidgeClassifier if classify else ridge.NTKRidge
        model = cls(depth=args.depth, n_components=args.n_components,
                    sketch_components=args.sketch_components,
                    step_components=args.step_components, sketch=args.sketch,
                    projection=args.projection, features=args.features,
                    leverage=not args.no_leverage, kernel=args.kernel, bias=args.bias,
                    alpha=alphas[0] if len(alphas) == 1 else list(alphas),
                    validation_fraction=args.validation_fraction, batch_size=args.batch_size,
                    verbose=verbose, random_state=args.random_state, n_threads=args.n_threads)
    t0 = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - t0
    _save(model, args.model, metadata)
    what = (f"alpha_ = {model.alpha_:.6g}" if hasattr(model, "alpha_")
            else f"alpha = {model.alpha:.6g}")
    say(f"fitted {type(model).__name__} on {X.shape[0]} rows x {X.shape[1]} features in "
        f"{elapsed:.2f} s ({what}); saved to {args.model}")
    return 0


# ----------------------------------------------------------------------------- predict

def _scaled(X, meta, n_features):
    """The model's standardisation of the features (a model fitted with it stores it)."""
    mean, scale = meta.get("feature_mean"), meta.get("feature_scale")
    if mean is None:
        return X
    mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    if mean.shape != (n_features,) or scale.shape != (n_features,) or not np.all(scale > 0):
        raise CLIError(f"--model: its standardisation metadata does not match its {n_features} features")
    return data.apply_scaling(X, mean, scale)


def predict(args):
    say = Messages(args.quiet)
    model, meta = _load(args.model)
    if not hasattr(model, "predict"):
        raise CLIError(f"--model: {args.model} holds a {type(model).__name__}, which has no "
                       f"predict (use 'ntkfast transform')")
    if args.out is not None:
        output.check_output(args.out, "--out", (".npy", ".csv"),
                            [("--data", args.data), ("--model", args.model)])
    # Runtime settings of this command, not of the saved model.
    model.verbose = say.bars
    if args.n_threads is not None:
        model.n_threads = args.n_threads
        if hasattr(model, "features_"):
            model.features_.n_threads = args.n_threads
    target = meta.get("target")
    table, _ = _read(args, say, target=target if isinstance(target, str) else None,
                     text_target=True, optional_target=True)
    X = data.model_features(table, meta, model.n_features_in_)
    X = _scaled(X, meta, model.n_features_in_)
    t0 = time.perf_counter()
    pred = np.asarray(model.predict(X))
    elapsed = time.perf_counter() - t0
    if meta.get("target_scale") is not None:
        pred = pred * float(meta["target_scale"]) + float(meta["target_mean"])
    if pred.dtype == object:
        pred = pred.astype(str)
    rows = pred.reshape(pred.shape[0], -1)
    header = [str(target) if isinstance(target, str) else "prediction"]
    if args.out is None:
        output.write_csv_rows(sys.stdout, rows)
        return 0
    with output.writing(args.out, "--out") as tmp:
        if args.out.lower().endswith(".npy"):
            output.write_npy(tmp, pred)
        else:
            with progress_bar(say.bars, rows.shape[0], "writing") as bar, \
                    open(tmp, "w", encoding="utf-8", newline="") as f:
                output.write_csv_rows(f, rows, header, bar.update)
    say(f"predicted {pred.shape[0]} rows in {elapsed:.2f} s; written to {args.out}")
    return 0


# ----------------------------------------------------------------------------- transform

def _transform_into(f, fmap, X, meta, n_out, dtype, args, n_threads, bars):
    """Features of ``X`` (rows in chunks, standardised as the model says) written to ``f``."""
    rows = batches.batch_rows(fmap.elements_per_row, args.batch_size)
    n = X.shape[0]
    buf = np.empty((min(rows, n), n_out), dtype=dtype)
    workspaces = {}
    with progress_bar(bars, n, "transform") as bar:
        for i0 in range(0, n, rows):
            i1 = min(n, i0 + rows)
            Xc = X[i0:i1]
            if meta:
                Xc = _scaled(np.asarray(Xc), meta, X.shape[1])
            elif Xc.dtype.kind != "f":
                Xc = Xc.astype(np.float64)
            P = buf[: i1 - i0]
            try:
                batches.transform(fmap, Xc, P, args.batch_size, i0, n_threads, workspaces,
                                  bar.update)
            except ValueError as exc:
                # Rows in the message are counted from the start of the file.
                raise CLIError(f"{args.data}: {exc}") from None
            f.write(P.data)


def transform(args):
    from ..features import NTKNystroem, NTKRandomFeatures

    say = Messages(args.quiet)
    if args.model is not None:
        given = _given(args, list(FEATURE_DEFAULTS) + ["save_model"])
        if given:
            raise UsageError(f"{', '.join(given)}: cannot be combined with --model (whose "
                             f"features are used as saved)")
    _fill(args, FEATURE_DEFAULTS)
    output.check_output(args.out, "--out", (".npy",),
                        [("--data", args.data), ("--model", args.model),
                         ("--save-model", args.save_model)])
    if args.save_model is not None:
        output.check_output(args.save_model, "--save-model", (".npz",), [("--data", args.data)])
    if not args.data.lower().endswith(".npy"):
        if os.path.exists(args.data):
            raise CLIError(f"--data: transform streams a memory-mapped .npy, got {args.data!r}")
    table = data.read_npy(args.data)
    X = table.values
    meta = None
    if args.model is not None:
        rf, model_meta = _load(args.model)
        if hasattr(rf, "features_"):
            if model_meta.get("feature_mean") is not None:
                meta = model_meta  # a model of 'ntkfast fit': its inputs were standardised
            rf = rf.features_
        if not isinstance(rf, (NTKRandomFeatures, NTKNystroem)):
            raise CLIError(f"--model: {args.model} holds a {type(rf).__name__}, which has no "
                           f"NTK features")
        if args.n_threads is not None:
            rf.n_threads = args.n_threads
    else:
        rf = NTKRandomFeatures(depth=args.depth, n_components=args.n_components,
                               sketch_components=args.sketch_components,
                               step_components=args.step_components, sketch=args.sketch,
                               projection=args.projection,
                               leverage=not args.no_leverage, kernel=args.kernel, bias=args.bias,
                               random_state=args.random_state, n_threads=args.n_threads)
        # fit only looks at the shape and dtype: one row is enough.
        first = np.asarray(X[:1], dtype=np.float32 if X.dtype == np.float32 else np.float64)
        rf.fit(np.zeros_like(first))
    if X.shape[1] != rf.n_features_in_:
        raise CLIError(f"{args.data}: expected {rf.n_features_in_} feature columns (as in the "
                       f"model), got {X.shape[1]}")
    fmap = feature_maps.of(rf)
    n, n_out = X.shape[0], fmap.n_output   # the feature map's width (a bias column included)
    n_threads = resolve_n_threads(rf.n_threads)
    in_dtype = np.float32 if X.dtype == np.float32 else np.float64
    dtype = feature_dtype(np.dtype(in_dtype), rf.dtype_)
    t0 = time.perf_counter()
    with output.writing(args.out, "--out") as tmp, open(tmp, "wb") as f:
        header = output.npy_header((n, n_out), dtype)
        output.reserve(f, len(header) + n * n_out * dtype.itemsize)
        f.write(header)
        _transform_into(f, fmap, X, meta, n_out, dtype, args, n_threads, say.bars)
    if args.save_model is not None:
        _save(rf, args.save_model, None)
    say(f"transformed {n} rows into {n_out} features ({dtype.name}) in "
        f"{time.perf_counter() - t0:.2f} s; written to {args.out}")
    return 0
