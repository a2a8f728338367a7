"""Throughput (rows/s) of NTKRandomFeatures.transform on a dask LocalCluster with 1 and 2
worker processes (one thread each), against the in-memory transform in this process.

A plain script (needs the ``dask`` extra), printing a Markdown table:

    PYTHONPATH=$PWD python bench/bench_dask.py [--rows 40000] [--chunk 5000] [--repeat 3]

The input is generated on the workers (``dask.array.random``) and the features are kept
there (``persist``), so the figures measure the feature computation plus dask's overhead,
not the transfer of the feature matrix to the client.  The best of ``--repeat`` runs is
reported.
"""
import argparse
import os
import time

import numpy as np


def _best(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40000)
    parser.add_argument("--features", type=int, default=32, help="input columns d")
    parser.add_argument("--components", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=5000, help="rows per dask block")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import dask.array as da
    from distributed import Client, LocalCluster, wait

    import ntkfast

    n, d = args.rows, args.features
    rows = []
    for dtype in (np.float32, np.float64):
        X = np.random.default_rng(0).standard_normal((n, d)).astype(dtype)
        est = ntkfast.NTKRandomFeatures(depth=args.depth, n_components=args.components,
                                        random_state=0, n_threads=1).fit(X[:1])
        t = _best(lambda: est.transform(X), args.repeat)
        rows.append((np.dtype(dtype).name, "in memory, 1 thread (no dask)", n / t))
        for n_workers in (1, 2):
            with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                Xd = da.random.default_rng(0).standard_normal((n, d), chunks=(args.chunk, d))
                Xd = client.persist(Xd.astype(dtype))
                wait(Xd)

                def run():
                    Y = client.persist(est.transform(Xd))
                    wait(Y)
                    del Y

                run()  # warm-up: imports on the workers, first scatter
                t = _best(run, args.repeat)
                rows.append((np.dtype(dtype).name, f"dask, {n_workers} worker process(es) x 1 thread", n / t))

    print(f"n={n}, d={d}, n_components={args.components}, depth={args.depth}, "
          f"chunk={args.chunk} rows, best of {args.repeat}; os.cpu_count()={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print()
    print("| dtype | setup | rows/s |")
    print("| --- | --- | ---: |")
    for dtype, setup, rate in rows:
        print(f"| {dtype} | {setup} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
