"""The exact-kernel driver at large depth (issue 12, item 3): the closed-form diagonal does
not overflow, the work is split into chunks without changing a bit, and Ctrl-C interrupts
a long call.  The compiled driver is called directly, since the Python layer bounds depth."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ntkfast
import reference as R
from ntkfast import _exact

INT_MAX = 2**31 - 1


def _self_block(norm, depth, bias, kind):
    """The driver on a 1 x 1 symmetric block: only the diagonal (closed form) is computed."""
    G = np.full((1, 1), np.nan)
    _exact.exact_kernel_block(G, np.array([norm]), np.array([norm]), 0, kind, depth, bias, 1)
    return G[0, 0]


@pytest.mark.parametrize("depth", [46341, 10**6, INT_MAX - 1, INT_MAX])
@pytest.mark.parametrize("bias", [0.0, 0.25])
def test_diagonal_at_large_depth_is_the_closed_form(depth, bias):
    # SPEC section 2 on the diagonal: rho_h = 1, SigmaDot_h = 1, Sigma_h(x, x) = ||x||^2 +
    # (h + 1) b^2, so Theta_L = sum_{h=0..L} Sigma_h = (L + 1) ||x||^2 + b^2 (L + 1)(L + 2) / 2.
    # Python integers and floats: no overflow.  (L + 1)(L + 2) overflowed a C int from
    # L = 46341 on and L + 1 itself at L = 2^31 - 1, which gave negative diagonals.
    norm = 1.5
    L = depth
    ntk = (L + 1) * norm**2 + bias * ((L + 1) * (L + 2) // 2)
    nngp = norm**2 + (L + 1) * bias
    got_ntk = _self_block(norm, depth, bias, _exact.KIND_NTK)
    got_nngp = _self_block(norm, depth, bias, _exact.KIND_NNGP)
    assert got_ntk > 0 and got_nngp > 0
    assert got_ntk == pytest.approx(ntk, rel=1e-15)
    assert got_nngp == pytest.approx(nngp, rel=1e-15)


def test_depth_below_1_is_refused():
    for depth in (0, -1, -(2**31)):
        with pytest.raises(ValueError, match="depth: expected an integer >= 1"):
            _self_block(1.0, depth, 0.0, _exact.KIND_NTK)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("symmetric", [True, False])
def test_chunks_change_no_bit(dtype, symmetric):
    """Chunks of a few rows, of one row, of a few columns, of one element: every element is
    the same chain of operations, for any chunk size and thread count.  The values are those
    of the longdouble reference."""
    rng = np.random.default_rng(3)
    depth, bias = 3, 0.3
    X = rng.standard_normal((13, 5))
    Y = X if symmetric else rng.standard_normal((11, 5))
    nx, ny = np.linalg.norm(X, axis=1), np.linalg.norm(Y, axis=1)
    cos = ((X / nx[:, None]) @ (Y / ny[:, None]).T).astype(dtype)
    results = []
    for chunk_steps in (1.0, 2.0, 7.0, 3.0 * depth * len(Y), 1e9):
        for n_threads in (1, 2):
            G = cos.copy()
            _exact.exact_kernel_block(G, nx, ny, 0 if symmetric else -1, _exact.KIND_NTK, depth,
                                      bias, n_threads, chunk_steps)
            if symmetric:
                G = np.triu(G) + np.triu(G, 1).T
            results.append(G)
    for G in results[1:]:
        np.testing.assert_array_equal(G, results[0])
    ntk, _ = R.exact_kernels(X, None if symmetric else Y, depth=depth, bias=bias)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(results[0], np.asarray(ntk, dtype=np.float64), rtol=rtol, atol=rtol)


SLOW_CALL = """
import signal, sys
import numpy as np
from ntkfast import _exact
# A parent run in the background may have left SIGINT ignored: take Python's own handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
n, depth = 64, 10**6                # about 25 ms per element, 100 s in all
G = np.full((n, n), 0.3)
print("started", flush=True)
try:
    _exact.exact_kernel_block(G, np.ones(n), np.ones(n), -1, _exact.KIND_NTK, depth, 0.0, N_THREADS)
except KeyboardInterrupt:
    # Caught, to tell it from death by the signal (an uncaught KeyboardInterrupt also ends
    # the process with status -SIGINT).
    print("interrupted", flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.parametrize("n_threads", [1, 2])
def test_sigint_interrupts_a_long_exact_kernel(n_threads):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ntkfast.get_include(), env.get("PYTHONPATH")]))
    code = textwrap.dedent(SLOW_CALL).replace("N_THREADS", str(n_threads))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        assert proc.poll() is None, "the call ended before the signal"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out.strip()) == (3, "interrupted"), f"status {proc.returncode}:\n{err[-2000:]}"
