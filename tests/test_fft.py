"""ntkfast/_engine/fft.py: FFTs into preallocated arrays give scipy.fft's results bit for bit, through
scipy's own engine or, if that private binding is unusable, through the public functions."""
import numpy as np
import pytest
import scipy.fft

from ntkfast._engine import fft as _fft


@pytest.fixture(params=["engine", "public fallback"])
def engine(request, monkeypatch):
    if request.param == "public fallback":
        monkeypatch.setattr(_fft, "_ENGINE", False)
    elif not _fft._engine():
        pytest.skip("scipy's pocketfft binding is not usable here (the public API is used)")
    return request.param


@pytest.mark.parametrize("dtype, cdtype", [(np.float32, np.complex64), (np.float64, np.complex128)])
@pytest.mark.parametrize("n", [1, 2, 7, 30, 243])
@pytest.mark.parametrize("workers", [1, 2])
def test_rows_match_scipy_fft_bit_for_bit(engine, dtype, cdtype, n, workers):
    x = np.random.default_rng(n).standard_normal((9, n)).astype(dtype)
    spec = np.full((9, n // 2 + 1), np.nan, dtype=cdtype)
    assert _fft.rfft_rows(x, spec, workers) is spec
    np.testing.assert_array_equal(spec, scipy.fft.rfft(x, axis=1))
    before = spec.copy()
    # The inverse into the last n columns of a wider array (rows strided), input untouched.
    wide = np.full((9, n + 3), -7.0, dtype=dtype)
    _fft.irfft_rows(spec, n, wide[:, 3:], workers)
    np.testing.assert_array_equal(wide[:, 3:], scipy.fft.irfft(before, n=n, axis=1))
    assert np.all(wide[:, :3] == -7.0)
    np.testing.assert_array_equal(spec, before)


def test_memmap_output(engine, tmp_path):
    # The binding refuses ndarray subclasses; a numpy.memmap out must work all the same.
    x = np.random.default_rng(0).standard_normal((4, 12))
    spec = scipy.fft.rfft(x, axis=1)
    out = np.lib.format.open_memmap(tmp_path / "o.npy", mode="w+", dtype=np.float64, shape=(4, 15))
    _fft.irfft_rows(spec, 12, out[:, 3:], 1)
    np.testing.assert_array_equal(out[:, 3:], scipy.fft.irfft(spec, n=12, axis=1))
