"""Reading the data files of the command line: ``.npy`` (memory-mapped) and ``.csv``.

CSV files are read with Python's :mod:`csv` module (quoted fields may hold commas, quotes
and line breaks) and every message names the line as an editor shows it (1-based, the header
and comment lines counted) and the column by its header name.  The rules:

* fields are separated by commas; the first record is a header when one of its fields is
  neither empty nor a number;
* a line whose first character is ``#`` (outside a quoted field) is a comment and is
  skipped; so are empty lines;
* every record has as many fields as the first one; every field of a numeric column is a
  finite number.
"""
import csv
import math
import os

import numpy as np

from .errors import CLIError

__all__ = ["Table", "read_data", "read_npy", "resolve_target", "features", "check_finite",
           "model_features", "fit_scaling", "apply_scaling"]

_BLOCK_ROWS = 65536  # rows converted to an array at a time while reading a csv
_CHUNK_ROWS = 65536  # rows per chunk when scanning a memory-mapped .npy


class Table:
    """A data file: ``values`` of shape (n, n_columns), numeric (the label column, if any,
    holds zeros there and its text in ``labels``), column ``names`` (None without a header)
    and the file ``lines`` of the rows (None for a .npy, whose rows are numbered from 0)."""

    def __init__(self, path, values, names=None, lines=None, labels=None, label_column=None,
                 comments=0):
        self.path = path
        self.values = values
        self.names = names
        self.lines = lines
        self.labels = labels
        self.label_column = label_column
        self.comments = comments

    @property
    def n_columns(self):
        return self.values.shape[1]

    def where(self, i):
        """Where row ``i`` is, as a user finds it: ``line 12`` of a csv, ``row 11`` of a .npy."""
        return f"line {int(self.lines[i])}" if self.lines is not None else f"row {i}"

    def column(self, j):
        return f"column {self.names[j]!r}" if self.names else f"column index {j}"


def _check_file(path):
    if not os.path.exists(path):
        raise CLIError(f"--data: file {path!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"--data: {path!r} is a directory, not a file")


def read_npy(path):
    """A 2-D numeric .npy, memory-mapped read-only."""
    _check_file(path)
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
    return Table(path, A)


def resolve_target(target, names, n_cols, path):
    """Index of the target column from a name (with a header) or an integer index."""
    if names is not None and target in names:
        return names.index(target)
    try:
        t = int(target)
    except ValueError:
        cols = (f" (columns: {', '.join(names)})" if names
                else " (the file has no header: give an integer index)")
        raise CLIError(f"--target: no column named {target!r} in {path}{cols}") from None
    if not -n_cols <= t < n_cols:
        raise CLIError(f"--target: column index {t} out of range for {n_cols} columns in {path}")
    return t % n_cols


# ----------------------------------------------------------------------------- csv

def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


class _Lines:
    """The physical lines of a text file, for ``csv.reader``: counts them, and skips comment
    lines, which only start where a record starts (``boundary``), never inside a quoted field."""

    def __init__(self, f, progress):
        self.f = f
        self.progress = progress
        self.line = 0  # last line handed out
        self.start = 0  # first line of the current record
        self.boundary = True
        self.comments = 0

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            raw = next(self.f)
            self.line += 1
            self.progress(len(raw))
            # Decoded line by line (not by the file's chunks) to name the line that is not text.
            line = raw.decode("utf-8-sig" if self.line == 1 else "utf-8")
            if self.boundary:
                if line.startswith("#"):
                    self.comments += 1
                    continue
                self.start = self.line
                self.boundary = False
            return line


def _records(path, progress):
    """Yield ``(line number, fields)`` of the records of a csv, comments and empty lines
    skipped; the generator's ``comments`` count is returned through ``StopIteration``."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise CLIError(f"{path}: cannot read ({exc.strerror})") from None
    with f:
        lines = _Lines(f, progress)
        reader = csv.reader(lines, skipinitialspace=True, strict=True)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return lines.comments
            except UnicodeDecodeError:
                raise CLIError(f"{path}: line {lines.line}: not UTF-8 text (is it a CSV file?)") from None
            except csv.Error as exc:
                raise CLIError(f"{path}: line {lines.line}: malformed CSV ({exc})") from None
            lines.boundary = True
            if len(row) <= 1 and not "".join(row).strip():
                continue  # an empty line
            yield lines.start, row


def _read_csv(path, target, text_target, optional_target, progress):
    records = _records(path, progress)
    try:
        first_line, first = next(records)
    except StopIteration:
        raise CLIError(f"{path}: empty file (no header, no data)") from None
    header = any(f.strip() and not _is_number(f) for f in first)
    names = [f.strip() for f in first] if header else None
    if header and len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise CLIError(f"{path}: line {first_line}: duplicate column name(s) {', '.join(map(repr, dup))} in the header")
    n_cols = len(first)
    if optional_target and (names is None or target not in names):
        target = None
    t = resolve_target(target, names, n_cols, path) if target is not None else None
    label_col = t if text_target else None

    def colname(j):
        return f"column {names[j]!r}" if names else f"column index {j}"

    blocks, block, line_numbers, labels = [], [], [], []

    def convert(line, row):
        if len(row) != n_cols:
            raise CLIError(f"{path}: line {line}: expected {n_cols} fields (as on line {first_line}), "
                           f"got {len(row)}")
        if label_col is not None:
            label = row[label_col].strip()
            if not label:
                raise CLIError(f"{path}: line {line}, {colname(label_col)}: empty label")
            labels.append(label)
            row = list(row)
            row[label_col] = "0"
        try:
            values = list(map(float, row))
        except ValueError:
            for j, s in enumerate(row):
                if not _is_number(s):
                    what = "empty field" if not s.strip() else f"expected a number, got {s.strip()!r}"
                    raise CLIError(f"{path}: line {line}, {colname(j)}: {what}") from None
            raise  # pragma: no cover - one field failed above
        block.append(values)
        line_numbers.append(line)

    def flush():
        B = np.array(block, dtype=np.float64).reshape(len(block), n_cols)
        bad = ~np.isfinite(B)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise CLIError(f"{path}: line {line_numbers[len(line_numbers) - len(block) + i]}, "
                           f"{colname(j)}: NaN or infinity (finite numbers only)")
        blocks.append(B)
        block.clear()

    if not header:
        convert(first_line, first)
    while True:
        try:
            line, row = next(records)
        except StopIteration as stop:
            comments = stop.value or 0
            break
        convert(line, row)
        if len(block) >= _BLOCK_ROWS:
            flush()
    if block:
        flush()
    if not blocks:
        raise CLIError(f"{path}: no data rows (only a header on line {first_line})")
    values = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    return Table(path, values, names, np.array(line_numbers, dtype=np.int64),
                 np.array(labels) if label_col is not None else None, label_col, comments), t


def read_data(path, target=None, text_target=False, optional_target=False, progress=None):
    """Read ``path`` (.npy or .csv); return ``(table, index of the target column or None)``.

    ``text_target``: the target column of a csv holds labels (kept as text in
    ``table.labels``).  ``optional_target`` (predict): ``target`` is a column name, skipped
    as a label column when a csv header has it and ignored otherwise.  ``progress`` is called
    with the number of bytes read.
    """
    _check_file(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".csv"):
        raise CLIError(f"--data: expected a .npy or .csv file, got {path!r}")
    if ext == ".npy":
        table = read_npy(path)
        if optional_target or target is None:
            return table, None
        return table, resolve_target(target, None, table.n_columns, path)
    return _read_csv(path, target, text_target, optional_target, progress or (lambda n: None))


# ----------------------------------------------------------------------------- columns

def check_finite(table, columns):
    """Refuse NaN/inf in ``columns`` of a .npy (a csv was checked while it was read)."""
    if table.lines is not None:
        return
    V = table.values
    for i0 in range(0, V.shape[0], _CHUNK_ROWS):
        block = np.asarray(V[i0:i0 + _CHUNK_ROWS][:, columns], dtype=np.float64)
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise CLIError(f"{table.path}: {table.where(i0 + i)}, {table.column(columns[j])}: "
                           f"NaN or infinity (finite numbers only)")


def features(table, drop):
    """The feature columns, everything but ``drop`` (a view when it is the first or last
    column), checked finite; float32 stays float32, anything else becomes float64."""
    V = table.values
    n_cols = V.shape[1]
    cols = [j for j in range(n_cols) if j != drop]
    if not cols:
        raise CLIError(f"{table.path}: no feature columns left besides the target")
    check_finite(table, cols)
    if drop is None:
        X = V
    elif drop == n_cols - 1:
        X = V[:, :-1]
    elif drop == 0:
        X = V[:, 1:]
    else:
        X = V[:, cols]
    if X.dtype.kind != "f":
        X = np.asarray(X, dtype=np.float64)
    return X


def model_features(table, meta, n_features):
    """The model's feature columns in ``table``: matched by name when both the file and the
    model have column names; otherwise all columns but the target (when the file has the
    training file's column count)."""
    names = table.names
    if names is not None and meta.get("columns"):
        wanted = meta["columns"]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise CLIError(f"{table.path}: missing column(s) {', '.join(map(repr, missing))} that "
                           f"the model was fitted on")
        cols = [names.index(c) for c in wanted]
        check_finite(table, cols)
        return np.asarray(table.values[:, cols], dtype=np.float64)
    t = None
    if (meta.get("target_index") is not None and table.n_columns == meta.get("n_columns")
            and table.n_columns == n_features + 1):
        t = meta["target_index"]
    n_cols = table.n_columns - (t is not None)
    if n_cols != n_features:
        raise CLIError(f"{table.path}: expected {n_features} feature columns (as in the model), "
                       f"got {n_cols}")
    return features(table, t)


# ----------------------------------------------------------------------------- scaling

def fit_scaling(X, names):
    """Mean and standard deviation of every column of ``X`` (float64, as
    ``sklearn.preprocessing.StandardScaler``); a constant column gets scale 1.  Returns
    ``(mean, scale, names of the constant columns)``."""
    mean = np.zeros(X.shape[1])
    sq = np.zeros(X.shape[1])
    n = X.shape[0]
    for i0 in range(0, n, _CHUNK_ROWS):
        mean += np.asarray(X[i0:i0 + _CHUNK_ROWS], dtype=np.float64).sum(axis=0)
    mean /= n
    for i0 in range(0, n, _CHUNK_ROWS):  # two passes: no cancellation for columns ~1e6
        sq += ((np.asarray(X[i0:i0 + _CHUNK_ROWS], dtype=np.float64) - mean) ** 2).sum(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.sqrt(sq / n)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
        j = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(scale)))[0])
        raise CLIError(f"column {names[j] if names else j}: values too large to standardise "
                       f"(their variance overflows float64)")
    # As StandardScaler: a scale that is rounding noise of the mean is a constant column.
    constant = scale <= 10 * np.finfo(np.float64).eps * np.abs(mean)
    scale[constant] = 1.0
    const_names = [names[j] if names else str(j) for j in np.flatnonzero(constant)]
    return mean, scale, const_names


def apply_scaling(X, mean, scale):
    """``(X - mean) / scale`` in X's float dtype (a copy in memory)."""
    dtype = X.dtype if X.dtype == np.float32 else np.float64
    out = np.empty(X.shape, dtype=dtype)
    for i0 in range(0, X.shape[0], _CHUNK_ROWS):
        block = np.asarray(X[i0:i0 + _CHUNK_ROWS], dtype=np.float64)
        out[i0:i0 + _CHUNK_ROWS] = (block - mean) / scale
    return out
