"""Peak memory of NTKRidge.fit as the number of rows grows (README, "Learning at scale").

Each size runs in a fresh subprocess, which builds float32 data in memory (in chunks, so no
float64 temporary inflates the peak), records its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), fits ``NTKRidge`` and records the peak
again.  The difference is the memory ``fit`` needed on top of the data; it should not grow
with ``n``.

    PYTHONPATH=$PWD python bench/ridge_memory.py --n 100000 500000 --components 2048 --d 16
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _peak_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(n, d, m, seed):
    import numpy as np

    import ntkfast

    rng = np.random.default_rng(seed)
    X = np.empty((n, d), dtype=np.float32)
    for i0 in range(0, n, 65536):
        i1 = min(n, i0 + 65536)
        X[i0:i1] = rng.standard_normal((i1 - i0, d), dtype=np.float32)
    y = np.sin(X[:, 0].astype(np.float64)) + X[:, 1] * X[:, 2]
    # Warm up imports and BLAS buffers with a model too small to move the peak.
    ntkfast.NTKRidge(n_components=64, random_state=0).fit(X[:1000], y[:1000])
    before = _peak_mib()
    t0 = time.perf_counter()
    model = ntkfast.NTKRidge(n_components=m, random_state=0).fit(X, y)
    seconds = time.perf_counter() - t0
    after = _peak_mib()
    print(json.dumps({
        "n": n, "d": d, "m": m, "data_mib": (X.nbytes + y.nbytes) / 2**20,
        "features_mib": n * m * 4 / 2**20, "peak_before_mib": before,
        "peak_after_mib": after, "fit_seconds": seconds,
        "r2_train_subset": float(model.score(X[:20000], y[:20000])),
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 500_000])
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--components", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.n[0], args.d, args.components, args.seed)
        return
    rows = []
    for n in args.n:
        cmd = [sys.executable, __file__, "--child", "--n", str(n), "--d", str(args.d),
               "--components", str(args.components), "--seed", str(args.seed)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| n | X + y in memory | feature matrix if materialised | peak RSS before fit | "
          "peak RSS after fit | fit added | fit time |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['n']:,} | {r['data_mib']:.0f} MiB | {r['features_mib']:,.0f} MiB | "
              f"{r['peak_before_mib']:.0f} MiB | {r['peak_after_mib']:.0f} MiB | "
              f"{r['peak_after_mib'] - r['peak_before_mib']:.0f} MiB | {r['fit_seconds']:.1f} s |")


if __name__ == "__main__":
    main()
