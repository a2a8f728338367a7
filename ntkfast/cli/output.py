"""Writing the command's outputs: checked before any work, written atomically
(:func:`ntkfast._engine.files.atomic_path`), their disk space reserved up front.

The files are written with ordinary ``write`` calls, never through a memory map: a full disk
is then an ``OSError`` (ENOSPC) that becomes one error line, where a store into a mapped page
past the disk's space is a SIGBUS that kills the process.  ``os.posix_fallocate`` reserves the
whole size of a file whose size is known before the first byte is computed, so a disk too
small is reported at once, not after an hour of work.
"""
import contextlib
import csv
import errno
import io
import os

import numpy as np

from .._engine.files import atomic_path
from .._engine.validation import human_bytes
from .errors import CLIError

__all__ = ["check_output", "writing", "reserve", "npy_header", "write_npy", "write_csv_rows"]


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, what, suffixes, others=()):
    """Refuse, before any work, an output ``path`` with another suffix, in a folder that does
    not exist, that is a folder, or that is the same file as one of ``others`` (pairs of
    option and path: the inputs and the other outputs)."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in suffixes:
        raise CLIError(f"{what}: expected a {' or '.join(suffixes)} file, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"{what}: cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{what}: {path!r} is a folder")
    for option, other in others:
        if other is not None and _same_file(path, os.fspath(other)):
            raise CLIError(f"{what}: {path!r} is the same file as {option}; refusing to overwrite it")


@contextlib.contextmanager
def writing(path, what):
    """``atomic_path(path)``, with every ``OSError`` of the writes (a full disk, a quota, a
    file size limit) turned into one error line; the temporary file is removed."""
    try:
        with atomic_path(path) as tmp:
            yield tmp
    except BrokenPipeError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CLIError(f"{what}: cannot write {os.fspath(path)!r}: {reason}") from None


def reserve(f, n_bytes):
    """Reserve ``n_bytes`` of disk for the open file ``f`` (``OSError`` ENOSPC when the disk
    is too small).  File systems without the call skip the reservation: the writes still
    report a full disk as an ``OSError``."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is None or n_bytes == 0:
        return
    try:
        fallocate(f.fileno(), 0, n_bytes)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return
        raise OSError(exc.errno, f"{exc.strerror} ({human_bytes(n_bytes)} needed)") from None


def npy_header(shape, dtype):
    """The bytes of a ``.npy`` header for a C-ordered array of ``shape`` and ``dtype``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": tuple(int(s) for s in shape)})
    return buf.getvalue()


def write_npy(path, array):
    """``np.save`` without pickles, with the space reserved first and plain writes."""
    array = np.ascontiguousarray(array)
    header = npy_header(array.shape, array.dtype)
    with open(path, "wb") as f:
        reserve(f, len(header) + array.nbytes)
        f.write(header)
        f.write(array.data if array.size else b"")


def _format(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (np.integer,)):
        return str(int(v))
    return str(v)


def write_csv_rows(f, rows, header=None, progress=None):
    """Write ``rows`` (a 2-D array) to the text file ``f`` as CSV (quoted where needed;
    floats in their shortest exact form)."""
    w = csv.writer(f, lineterminator="\n")
    if header is not None:
        w.writerow(header)
    step = 8192
    for i0 in range(0, rows.shape[0], step):
        w.writerows([[_format(v) for v in r] for r in rows[i0:i0 + step]])
        if progress is not None:
            progress(min(step, rows.shape[0] - i0))
