"""Error against time for the number of step features m0 of NTKRandomFeatures (issue 15, item 2).

At a fixed output width n_components = m1 + ms (the default sketch split), the step
features a_h (m0 per layer) only feed the TensorSketch: m0 changes the cost of a layer
(m0 d_h per row) and the variance, not the output.  For several ratios m0/m1 (1 is the
default, step_components=None) this prints the relative Frobenius error
||Phi Phi^T - K||_F / ||K||_F against the exact NTK (mean ± sd over seeds, n rows) and the
transform time of --n-time rows (best of --repeat runs, one fit).

    python bench/step_width.py [--casp /work/shared/data/CASP.csv] [--n-components 2048]
"""
import argparse
import time

import _workloads as W
import numpy as np

import ntkfast


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--casp", default="/work/shared/data/CASP.csv", help="CASP.csv (skipped if missing)")
    p.add_argument("--n", type=int, default=300, help="rows for the kernel error")
    p.add_argument("--n-time", type=int, default=2000, help="rows for the transform time")
    p.add_argument("--d", type=int, default=16, help="columns of the Gaussian data")
    p.add_argument("--n-components", type=int, default=2048)
    p.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0, 4.0])
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    nc = args.n_components
    ms = ntkfast.default_sketch_components(nc)
    m1 = nc - ms
    W.print_run_header()
    print(f"n_components = {nc} (m1 = {m1} ReLU features, ms = {ms} sketch; default split), "
          f"error over n = {args.n} rows, mean ± sd over {args.seeds} seeds; time: transform of "
          f"{args.n_time} rows, best of {args.repeat}.")
    print()
    print("| data | depth | m0 / m1 | m0 | rel. error | error vs m0 = m1 | dense multiply-adds per row "
          "| transform (s) | time vs m0 = m1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, Xall in W.unit_gaussian_and_casp(args.n_time, args.d, args.casp):
        name = f"{kind} d={Xall.shape[1]}"
        X = Xall[:args.n]
        for depth in args.depths:
            K = ntkfast.ntk_kernel(X, depth=depth)
            rows = []
            for r in args.ratios:
                m0 = max(1, int(round(r * m1)))
                errs = []
                for seed in range(args.seeds):
                    rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=nc, step_components=m0,
                                                   random_state=seed).fit(X)
                    P = rf.transform(X)
                    errs.append(np.linalg.norm(P @ P.T - K) / np.linalg.norm(K))
                out = np.empty((Xall.shape[0], nc))
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    rf.transform(Xall, out=out)
                    times.append(time.perf_counter() - t0)
                # the products of the ReLU and step weights, (m1 + m0) d_h per layer (the
                # FFTs, O(ms log ms) per layer, do not depend on m0)
                macs = sum((m1 + m0) * (X.shape[1] if h == 0 else m1) for h in range(depth))
                rows.append((r, m0, np.mean(errs), np.std(errs, ddof=1), min(times), macs))
            base = next(row for row in rows if row[0] == 1.0)
            for r, m0, e, sd, t, macs in rows:
                print(f"| {name} | {depth} | {r:g} | {m0} | {e:.4f} ± {sd:.4f} | {100 * (e / base[2] - 1):+.1f}% "
                      f"| {macs / 1e6:.2f} M | {t:.3f} | {t / base[4]:.2f}x |", flush=True)
    print()
    W.print_run_end()


if __name__ == "__main__":
    main()
