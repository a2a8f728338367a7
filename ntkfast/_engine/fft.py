"""Real FFTs along rows into preallocated arrays, with scipy.fft's own engine, and the
thread and dtype rules of the FFT work arrays.

``scipy.fft.rfft`` and ``irfft`` return a new array on every call.  Called batch after batch
inside a transform, those results came from fresh pages each time (glibc returns large
freed blocks to the kernel): 80,000-100,000 page faults per 20,000-row NTK transform, a
third of its time on one thread and more on two, since page faults do not run in parallel
(measured with glibc's trimming switched off: 1.36 -> 1.00 s on one thread, 1.02 -> 0.63 s
on two).

The pocketfft binding under ``scipy.fft`` (``scipy.fft._pocketfft.pypocketfft``, the very
functions ``scipy.fft.rfft``/``irfft`` call, with the same arguments) takes an ``out``
array.  It is private scipy API, so it is used only after a check at first use that it
exists and gives bit for bit what the public functions give; otherwise the public
functions run and their result is copied (same numbers, the old speed).
"""
import numpy as np
import scipy.fft

from .. import _sketch

_ENGINE = None     # the pocketfft module, False if unusable, None before the check


def _engine():
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = False
        try:
            from scipy.fft._pocketfft import pypocketfft as pp

            x = np.random.default_rng(0).standard_normal((3, 10))
            spec = np.empty((3, 6), dtype=np.complex128)
            back = np.empty((3, 10))
            pp.r2c(x, (1,), True, 0, spec, 1)
            pp.c2r(spec, (1,), 10, False, 2, back, 1)
            if (np.array_equal(spec, scipy.fft.rfft(x, axis=1))
                    and np.array_equal(back, scipy.fft.irfft(spec, n=10, axis=1))):
                _ENGINE = pp
        except Exception:  # missing module, changed signature: fall back to the public API
            pass
    return _ENGINE


def rfft_rows(x, out, workers):
    """out[:] = scipy.fft.rfft(x, axis=1): x (n, D) real, out (n, D // 2 + 1) complex."""
    pp = _engine()
    if pp:
        # np.asarray: the binding refuses ndarray subclasses (a numpy.memmap ``out``).
        pp.r2c(np.asarray(x), (1,), True, 0, np.asarray(out), workers)
    else:
        out[...] = scipy.fft.rfft(x, axis=1, workers=workers)
    return out


def irfft_rows(spectrum, n, out, workers):
    """out[:] = scipy.fft.irfft(spectrum, n, axis=1): out (rows, n) real, rows may be strided
    (e.g. the last n columns of a wider array).  ``spectrum`` is left unchanged."""
    pp = _engine()
    if pp:
        pp.c2r(np.asarray(spectrum), (1,), n, False, 2, np.asarray(out), workers)
    else:
        out[...] = scipy.fft.irfft(spectrum, n=n, axis=1, workers=workers)
    return out


def fft_threads(n_threads, n_rows, length):
    """scipy.fft ``workers`` for n_rows transforms of ``length``: fewer for small calls."""
    return _sketch.effective_threads(n_threads, 5.0 * n_rows * length * np.log2(max(length, 2)))


def complex_dtype(dtype):
    """The spectrum dtype of real data of ``dtype`` (float32 data stays complex64)."""
    return np.dtype(np.complex64) if np.dtype(dtype) == np.float32 else np.dtype(np.complex128)


def multiply_spectra(A, B, n_threads):
    """A *= B for complex arrays of the same shape, in a compiled parallel loop."""
    real = np.float32 if A.dtype == np.complex64 else np.float64
    _sketch.multiply_spectra(A.view(real), B.view(real), n_threads)
