"""The compiled drivers refuse, with ValueError, every input that would make them read or
write out of bounds, whatever the Python layer passes (issue 12, item 1).

Each case runs in a fresh interpreter: before the checks these inputs were a SIGSEGV or
silent memory corruption, so a case must show a clean Python exception (exit status 1, the
expected message in stderr), not a signal (negative status) or a success.
"""
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ntkfast
from ntkfast import _exact, _sketch

PRELUDE = """
import numpy as np
from ntkfast import _exact, _sketch
rng = np.random.default_rng(0)
n, k, m, D = 50, 8, 24, 16
X = rng.standard_normal((n, k))
W = rng.standard_normal((m, k))
idx = rng.integers(0, D, size=k).astype(np.intp)
sg = rng.choice([-1.0, 1.0], size=k)
out = np.zeros((n, D))

def layer(psi=X, relu=None, step=None, step_idx=None, psi_idx=None, dest=None, cs=None,
          work=None, n_threads=2):
    dt = psi.dtype
    relu = _sketch.packed_weights(W.astype(dt), np.ones(m, dt)) if relu is None else relu
    step = _sketch.packed_weights(W.astype(dt), None) if step is None else step
    step_idx = rng.integers(0, D, size=m).astype(np.intp) if step_idx is None else step_idx
    psi_idx = rng.integers(0, D, size=psi.shape[1]).astype(np.intp) if psi_idx is None else psi_idx
    dest = np.empty((len(psi), m), dt) if dest is None else dest
    cs = np.empty((len(psi), D), dt) if cs is None else cs
    work = np.empty((2, _sketch.ROW_BLOCK_SIZE * m), dt) if work is None else work
    _sketch.ntk_layer_inputs(psi, relu, step, dt.type(0.5), step_idx, np.ones(len(step_idx), dt), psi_idx,
                             np.ones(psi.shape[1], dt), dest, cs, cs.copy(), work, n_threads)
"""

CASES = {
    # Hash indices out of [0, n_buckets): the scatter wrote anywhere.
    "count_sketch_rows-index-too-large": (
        "bad = idx.copy(); bad[3] = 10**7\n"
        "_sketch.count_sketch_rows(X, bad, sg, out, D, 2)",
        "count_sketch_rows: indices: expected bucket indices in [0, 16), got 10000000 at position 3"),
    "count_sketch_rows-index-negative": (
        "bad = idx.copy(); bad[0] = -1\n"
        "_sketch.count_sketch_rows(X, bad, sg, out, D, 1)",
        "count_sketch_rows: indices: expected bucket indices in [0, 16), got -1 at position 0"),
    "count_sketch_rows-index-beyond-n_buckets-within-out": (
        # out is wide enough for index 20, but the sketch has only D buckets.
        "bad = idx.copy(); bad[1] = 20\n"
        "_sketch.count_sketch_rows(X, bad, sg, np.zeros((n, 32)), D, 1)",
        "count_sketch_rows: indices: expected bucket indices in [0, 16), got 20"),
    "count_sketch_rows-no-buckets": (
        "_sketch.count_sketch_rows(X[:, :0], idx[:0], sg[:0], np.zeros((n, 0)), -5, 1)",
        "count_sketch_rows: n_buckets: expected an integer >= 1, got -5"),
    "ntk_layer_inputs-step-index": (
        "bad = rng.integers(0, D, size=m).astype(np.intp); bad[m - 1] = 10**7\n"
        "layer(step_idx=bad)",
        "ntk_layer_inputs: step_indices: expected bucket indices in [0, 16), got 10000000 at position 23"),
    "ntk_layer_inputs-psi-index": (
        "bad = rng.integers(0, D, size=k).astype(np.intp); bad[2] = -3\n"
        "layer(psi_idx=bad)",
        "ntk_layer_inputs: psi_indices: expected bucket indices in [0, 16), got -3 at position 2"),
    "ntk_layer_inputs-work-too-small": (
        "layer(work=np.empty((2, _sketch.ROW_BLOCK_SIZE * m - 1)))",
        "ntk_layer_inputs: inconsistent shapes"),
    # More step features (m0 = 2 m) than ReLU features: the step hash and the scratch must
    # follow the step weights, not the ReLU ones.
    "ntk_layer_inputs-step-hash-shorter-than-step-weights": (
        "W2 = rng.standard_normal((2 * m, k))\n"
        "layer(step=_sketch.packed_weights(W2, None), work=np.empty((2, _sketch.ROW_BLOCK_SIZE * 2 * m)))",
        "ntk_layer_inputs: inconsistent shapes"),
    "ntk_layer_inputs-work-sized-for-relu-not-step": (
        "W2 = rng.standard_normal((2 * m, k))\n"
        "layer(step=_sketch.packed_weights(W2, None), step_idx=rng.integers(0, D, size=2 * m).astype(np.intp))",
        "ntk_layer_inputs: inconsistent shapes"),
    "ntk_layer_inputs-fewer-work-rows-than-threads": (
        "layer(work=np.empty((1, _sketch.ROW_BLOCK_SIZE * m)), n_threads=2)",
        "ntk_layer_inputs: inconsistent shapes"),
    "ntk_layer_inputs-zero-threads": (
        # num_threads(0) let OpenMP pick the team size, beyond the rows of ``work``.
        "layer(work=np.empty((0, _sketch.ROW_BLOCK_SIZE * m)), n_threads=0)",
        "ntk_layer_inputs: n_threads: expected an integer >= 1, got 0"),
    "ntk_layer_inputs-float64-weights-float32-data": (
        "X32 = X.astype(np.float32)\n"
        "layer(psi=X32, step=_sketch.packed_weights(W, None))",
        "ntk_layer_inputs: step: expected float32 packed weights (the dtype of the data), got float64"),
    # Structured projections (NTKRandomFeatures(projection=...)): the projection's arrays are
    # read as blocks of p, its outputs and scratch as m + 2p per thread.
    "StructuredProjection-perm-out-of-range": (
        "perm = np.zeros((2, 2, 16), dtype=np.intp); perm[1, 1, 3] = 16\n"
        "_sketch.StructuredProjection(k, 24, np.ones((2, 2, 16)), perm)",
        "StructuredProjection: perm: expected indices in [0, 16)"),
    "StructuredProjection-too-few-blocks": (
        "_sketch.StructuredProjection(k, 40, np.ones((2, 2, 16)), None)",
        "StructuredProjection: k, m: expected 1 <= k <= 16 and ceil(m / 16) = 2 blocks, got k=8, m=40"),
    "structured_activation-more-scales-than-outputs": (
        "P = _sketch.StructuredProjection(k, 24, np.ones((2, 2, 16)), None)\n"
        "_sketch.structured_activation(X, P, np.ones(25), np.empty((n, 25)), 1.0, None, 2)",
        "structured_activation: relu_scales, relu_out: expected at most 24 scales"),
    "structured_activation-step-out-too-wide": (
        "P = _sketch.StructuredProjection(k, 24, np.ones((2, 2, 16)), None)\n"
        "_sketch.structured_activation(X, P, None, None, 1.0, np.empty((n, 25)), 2)",
        "structured_activation: step_out: expected (50, <= 24), got (50, 25)"),
    "ntk_layer_inputs_structured-phi-rows": (
        "P = _sketch.StructuredProjection(k, 24, np.ones((2, 2, 16)), None)\n"
        "_sketch.ntk_layer_inputs_structured(X, X[:10], P, np.ones(m), 1.0, idx[:0].repeat(0), sg[:0], idx, sg,"
        " np.empty((n, m)), out, out.copy(), 2)",
        "ntk_layer_inputs_structured: inconsistent shapes"),
    "ntk_layer_inputs_structured-step-index": (
        "P = _sketch.StructuredProjection(k, 24, np.ones((2, 2, 16)), None)\n"
        "bad = np.full(m, 3, dtype=np.intp); bad[5] = 10**7\n"
        "_sketch.ntk_layer_inputs_structured(X, X, P, np.ones(m), 1.0, bad, np.ones(m), idx, sg,"
        " np.empty((n, m)), out, out.copy(), 2)",
        "ntk_layer_inputs_structured: step_indices: expected bucket indices in [0, 16), got 10000000 at position 5"),
    "spectrum_to_real_rows-out-too-narrow": (
        "_sketch.spectrum_to_real_rows(np.zeros((n, 18)), D, np.empty((n, D + 2)), 3, 2)",
        "spectrum_to_real_rows: inconsistent shapes"),
    # PackedWeights built by hand: its data is read as m x k panels by the dense kernels.
    "PackedWeights-short-data": (
        "pw = _sketch.PackedWeights(m, k, np.zeros(10))\n"
        "_sketch.dense_activation(X, pw, _sketch.ACT_RELU, np.empty((n, m)), 1)",
        "PackedWeights: data: expected 216 float64 elements (m=24, k=8), got 10"),
    "PackedWeights-wrong-dtype": (
        "_sketch.PackedWeights(2, 2, np.zeros(48, np.int64))",
        "PackedWeights: data: expected a float32 or float64 ndarray, got int64"),
    "PackedWeights-not-1d": (
        "_sketch.PackedWeights(1, 1, np.zeros((8, 2)))",
        "PackedWeights: data: expected a 1-D C-contiguous array, got shape (8, 2)"),
    "PackedWeights-empty": (
        "_sketch.PackedWeights(0, 3, np.zeros(0))",
        "PackedWeights: m, k: expected integers >= 1, got m=0, k=3"),
    "PackedWeights-size-overflow": (
        # The C size formula wraps around for these; a short array must not pass for them.
        "_sketch.PackedWeights(2**40, 2**40, np.zeros(16))",
        "PackedWeights: m, k: m=1099511627776, k=1099511627776 is too large to address"),
    "dense_activation-float64-weights-float32-X": (
        "_sketch.dense_activation(X.astype(np.float32), _sketch.packed_weights(W, None),"
        " _sketch.ACT_IDENTITY, np.empty((n, m), np.float32), 1)",
        "dense_activation: weights: expected float32 packed weights (the dtype of the data), got float64"),
    "exact_kernel_block-diag-offset-overflow": (
        # i + diag_offset wrapped around to a negative column.
        "G = np.zeros((4, 5))\n"
        "_exact.exact_kernel_block(G, np.ones(4), np.ones(5), 2**63 - 2, _exact.KIND_NTK, 2, 0.0, 1)",
        "exact_kernel_block: diag_offset: expected at most 5"),
    "exact_kernel_block-depth-0": (
        "_exact.exact_kernel_block(np.zeros((4, 5)), np.ones(4), np.ones(5), -1, _exact.KIND_NTK, 0, 0.0, 1)",
        "exact_kernel_block: depth: expected an integer >= 1, got 0"),
    "exact_kernel_block-kind": (
        "_exact.exact_kernel_block(np.zeros((4, 5)), np.ones(4), np.ones(5), -1, 4, 1, 0.0, 1)",
        "exact_kernel_block: kind: expected 0 to 3"),
    "mirror_upper-threads": (
        "_exact.mirror_upper(np.zeros((4, 4)), -1)",
        "mirror_upper: n_threads: expected an integer >= 1, got -1"),
    # The reported crash, through the public estimator: corrupted fitted hash indices (the
    # fitted arrays are read-only; tests/test_robustness.py covers replaced arrays).
    "NTKRandomFeatures-corrupted-step-indices": (
        "import ntkfast\n"
        "rf = ntkfast.NTKRandomFeatures(depth=1, n_components=64, random_state=0).fit(X)\n"
        "rf.step_indices_[0][:] = 10**7\n"
        "rf.transform(X)",
        "assignment destination is read-only"),
}


def _run(code):
    env = dict(os.environ)
    # The subprocess imports the same ntkfast as this one (e.g. a worktree's in-place build).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ntkfast.get_include(), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(PRELUDE) + code],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_a_value_error_not_a_crash(name):
    code, message = CASES[name]
    proc = _run(code)
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}:\n{proc.stderr[-2000:]}"
    assert proc.returncode == 1, f"expected a ValueError, the code ran:\n{proc.stdout[-1000:]}"
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: "), proc.stderr[-2000:]
    assert message in last, proc.stderr[-2000:]


def test_the_valid_calls_of_the_prelude_run():
    """The cases above differ from working calls only by the defect they name."""
    proc = _run("_sketch.count_sketch_rows(X, idx, sg, out, D, 2)\nlayer()\n"
                "layer(psi=X.astype(np.float32))\nprint('ok')")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_weights_keep_a_private_copy(dtype):
    rng = np.random.default_rng(1)
    W = rng.standard_normal((5, 3)).astype(dtype)
    X = rng.standard_normal((4, 3)).astype(dtype)
    data = _sketch.packed_weights(W, None).data
    assert data.dtype == dtype and not data.flags.writeable
    with pytest.raises(ValueError):
        data[0] = 1.0
    mine = data.copy()
    pw = _sketch.PackedWeights(5, 3, mine)
    mine[:] = np.nan                     # the caller's array is not the one the kernels read
    out = np.empty((4, 5), dtype)
    _sketch.dense_activation(X, pw, _sketch.ACT_IDENTITY, out, 1)
    tol = 10 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, X.astype(np.float64) @ W.T.astype(np.float64), rtol=tol, atol=tol)
    # Pickling goes through the checking constructor.
    again = pickle.loads(pickle.dumps(pw))
    assert (again.m, again.k, again.dtype) == (5, 3, dtype)
    np.testing.assert_array_equal(again.data, pw.data)


def test_checked_indices_change_no_result():
    """The checks read the hash; the sketch is still the defining sum (plain numpy)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 9))
    idx = rng.integers(0, 7, size=9).astype(np.intp)
    idx[[0, -1]] = [0, 6]                # both ends of the valid range
    sg = rng.choice([-1.0, 1.0], size=9)
    out = np.empty((30, 7))
    _sketch.count_sketch_rows(X, idx, sg, out, 7, 2)
    expected = np.zeros((30, 7))
    for j in range(9):
        expected[:, idx[j]] += sg[j] * X[:, j]
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-14)
