"""Exact NTK: ntkfast.ntk_kernel against neural-tangents' jit-compiled kernel_fn (issue 14).

    python bench/compare_neural_tangents.py [--n 10000] [--d 64] [--depth 2] [--repeat 2]
        [--dtypes float64 float32]

An optional comparison, not a test and not a dependency: it runs where ``neural_tangents``
and ``jax`` import, and otherwise prints why it cannot and exits with status 0.  Install them
in a separate environment, never in ntkfast's own, e.g.::

    python -m venv /tmp/nt-venv
    /tmp/nt-venv/bin/pip install neural-tangents "jax==0.4.38" "jaxlib==0.4.38" setuptools Cython
    /tmp/nt-venv/bin/pip install --no-build-isolation .      # ntkfast, from the repository root
    /tmp/nt-venv/bin/python bench/compare_neural_tangents.py

Both sides compute the NTK of ``depth`` hidden ReLU layers, no bias, on the same Gaussian
``X`` of shape ``(n, d)`` (seed 0) with ``Y = None``.  neural-tangents: ``stax.serial((Dense(
W_std=sqrt(2)), Relu()) * depth, Dense(W_std=1))``, whose kernel is ntkfast's divided by ``d``
(SPEC section 2), ``jax.jit(kernel_fn, static_argnames="get")`` called as
``kernel_fn(X, None, "ntk")``, compiled by one call before the timing (the compile is not
counted).  float64 runs with ``jax_enable_x64``; each side is checked to return the input's
dtype (each dtype in its own process: with ``jax_enable_x64`` neural-tangents computes in
float64 from float32 inputs too).  For each dtype the two sides are timed alternately, ``--repeat`` times each, and the
minimum wall time of each is reported with their ratio, the largest absolute difference of
the two kernels (neural-tangents' times ``d``; also relative to the largest kernel value, and
off the diagonal, where neural-tangents' own rounding of cosines near 1 does not enter), the
date and ``os.getloadavg()`` before and after (on a shared machine, compare the ratio,
measured in one run, rather than the times).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np


def _import_neural_tangents():
    """(jax, stax) or None with a message saying why they are not there."""
    try:
        import jax
        from neural_tangents import stax
    except Exception as exc:  # ImportError, or a jax/jaxlib mismatch raising at import
        print(f"compare_neural_tangents: skipped, neural_tangents/jax not importable ({type(exc).__name__}: "
              f"{exc}); install them in a separate environment (see this file's docstring)")
        return None
    return jax, stax


def _timed(fn, times):
    t0 = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t0)
    return out


def _measure(args):
    """One dtype, in this process: (ntkfast s, neural-tangents s, max abs difference, the same
    off the diagonal, max abs difference / max abs K)."""
    jax, stax = _import_neural_tangents()
    # jax_enable_x64 makes neural-tangents compute in float64 even from float32 inputs, so
    # each dtype runs in its own process, with x64 on for float64 only.
    jax.config.update("jax_enable_x64", args.worker == "float64")
    import jax.numpy as jnp

    import ntkfast

    n, d, depth, dtype = args.n, args.d, args.depth, np.dtype(args.worker)
    X = np.random.default_rng(0).standard_normal((n, d)).astype(dtype)
    _, _, kernel_fn = stax.serial(*([stax.Dense(1, W_std=np.sqrt(2.0)), stax.Relu()] * depth),
                                  stax.Dense(1, W_std=1.0))
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    Xj = jnp.asarray(X)
    # Compile (and check the dtype) once, outside the timing.
    warm = kernel_fn(Xj, None, "ntk").block_until_ready()
    if warm.dtype != dtype:
        raise SystemExit(f"neural-tangents returned {warm.dtype} for {dtype} input")
    del warm
    t_fast, t_nt = [], []
    K = K_nt = None
    for _ in range(args.repeat):
        K = None
        K = _timed(lambda: ntkfast.ntk_kernel(X, depth=depth), t_fast)
        K_nt = None
        K_nt = _timed(lambda: kernel_fn(Xj, None, "ntk").block_until_ready(), t_nt)
    if K.dtype != dtype:
        raise SystemExit(f"ntkfast returned {K.dtype} for {dtype} input")
    K_nt = np.asarray(K_nt, dtype=np.float64) * d
    D = np.abs(K.astype(np.float64) - K_nt)
    diff = float(np.max(D))
    np.fill_diagonal(D, 0.0)
    # Off the diagonal: on it neural-tangents takes arccos of a cosine rounded near 1, which
    # costs it sqrt(eps) of relative accuracy (ntkfast uses the closed form there).
    return min(t_fast), min(t_nt), diff, float(np.max(D)), diff / float(np.max(np.abs(K)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    p.add_argument("--worker", choices=["float64", "float32"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if _import_neural_tangents() is None:
        return 0
    if args.worker:
        print("RESULT", json.dumps(_measure(args)))
        return 0

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for name in args.dtypes:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--n", str(args.n),
               "--d", str(args.d), "--depth", str(args.depth), "--repeat", str(args.repeat)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        found = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
        if res.returncode != 0 or not found:
            raise SystemExit(f"the {name} measurement failed (status {res.returncode}):\n"
                             f"{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
        rows.append((name, *json.loads(found[0][len("RESULT "):])))
    load_after = os.getloadavg()

    import jax
    import neural_tangents
    from threadpoolctl import threadpool_info

    import ntkfast

    omp = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "openmp"]
    print(f"Exact NTK, n = {args.n}, d = {args.d}, depth = {args.depth}, no bias, K(X, X); min of "
          f"{args.repeat} runs each, alternated, one process per dtype")
    print(f"date (UTC): {started:%Y-%m-%d %H:%M}; os.getloadavg() before: "
          f"{', '.join(f'{x:.2f}' for x in load_before)}, after: {', '.join(f'{x:.2f}' for x in load_after)}")
    print(f"command: python bench/{os.path.basename(__file__)} "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"ntkfast {ntkfast.__version__} from {os.path.dirname(ntkfast.__file__)} "
          f"({omp[0] if omp else '?'} OpenMP threads), "
          f"neural-tangents {neural_tangents.__version__}, jax {jax.__version__}, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print()
    print("| dtype | ntkfast ntk_kernel (s) | neural-tangents jit kernel_fn (s) | speed-up | "
          "max abs difference (relative to max abs K) | off the diagonal |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, tf, tn, diff, off, rel in rows:
        print(f"| {name} | {tf:.3f} | {tn:.3f} | {tn / tf:.2f}x | {diff:.2e} ({rel:.1e}) | {off:.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
