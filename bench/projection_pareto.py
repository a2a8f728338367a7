"""Kernel error against transform time for every construction of the NTK features (issue 14).

For each projection ("gaussian": independent Gaussian matrices for the ReLU and step
features; "fastfood" and "sorf": one structured projection per layer shared by both), each
sketch ("countsketch", "srht") and each total width n_components, this prints

- the relative Frobenius error ||Phi Phi^T - K||_F / ||K||_F against the exact NTK
  (mean ± sd over --seeds fits, --n rows; float64 features),
- the time of one float32 transform of --n-time rows (best of --repeat, one fit,
  --threads threads): wall time, and the CPU time of the process (all threads), which
  moves much less than the wall time when other programs compete for the cores,

depths --depths, on unit-norm Gaussian rows (d = --d) and on the protein data (CASP.csv,
F1..F9 standardised; skipped if missing).  The Pareto front of each data set and depth
(the constructions that no other beats on both error and CPU time) is marked with *.
``--plot FILE`` draws error against time, one panel per data set and depth (matplotlib).

``--headline`` instead measures the issue's setting: n = 100,000 unit-norm Gaussian rows,
d = 64, float32, 4,096 output dimensions, depths 1-3, every construction (time: best of
--repeat transforms), with the error over 2,000 rows and 3 seeds; the ratio to
projection="gaussian" with sketch="countsketch" (the default before issue 14) measured in
the same run.

    python bench/projection_pareto.py [--widths 1024 2048 4096 8192] [--plot pareto.png]
    python bench/projection_pareto.py --headline
"""
import argparse
import time

import _workloads as W
import numpy as np

import ntkfast

PROJECTIONS = ("gaussian", "fastfood", "sorf")
SKETCHES = ("countsketch", "srht")


def kernel_error(X, K, depth, nc, projection, sketch, seeds):
    errs = []
    for seed in range(seeds):
        P = ntkfast.NTKRandomFeatures(depth=depth, n_components=nc, projection=projection,
                                      sketch=sketch, random_state=seed).fit_transform(X)
        errs.append(np.linalg.norm(P @ P.T - K) / np.linalg.norm(K))
    return np.mean(errs), (np.std(errs, ddof=1) if seeds > 1 else 0.0)


def transform_time(X32, depth, nc, projection, sketch, repeat, threads):
    rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=nc, projection=projection,
                                   sketch=sketch, random_state=0, n_threads=threads).fit(X32)
    out = np.empty((X32.shape[0], nc), dtype=np.float32)
    rf.transform(X32[:256])  # compile the maps, warm the FFT plans
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        rf.transform(X32, out=out)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(times), min(cpu)


def pareto(rows):
    """Indices of the rows (error, time) that no other row beats on both."""
    front = []
    for i, (e, t) in enumerate(rows):
        if not any((e2 <= e and t2 <= t) and (e2 < e or t2 < t) for j, (e2, t2) in enumerate(rows) if j != i):
            front.append(i)
    return front


def study(args):
    W.print_run_header(f"{args.threads} thread(s)")
    print(f"error: {args.n} rows, mean ± sd over {args.seeds} seeds (float64); time: float32 transform "
          f"of {args.n_time} rows, best of {args.repeat}, wall and CPU (all threads); * = on the Pareto "
          f"front (error, CPU time) of its data set and depth.")
    print()
    print("| data | depth | projection | sketch | n_components | rel. error | wall (s) | CPU (s) | front |")
    print("|---|---|---|---|---|---|---|---|---|")
    points = {}
    for kind, Xall in W.unit_gaussian_and_casp(args.n_time, args.d, args.casp):
        name = f"{kind} d={Xall.shape[1]}"
        X = Xall[:args.n]
        X32 = Xall.astype(np.float32)
        for depth in args.depths:
            K = ntkfast.ntk_kernel(X, depth=depth)
            rows = []
            for nc in args.widths:
                for projection in args.projections:
                    for sketch in args.sketches:
                        e, sd = kernel_error(X, K, depth, nc, projection, sketch, args.seeds)
                        t, c = transform_time(X32, depth, nc, projection, sketch, args.repeat, args.threads)
                        rows.append((projection, sketch, nc, e, sd, c, t))
            front = set(pareto([(r[3], r[5]) for r in rows]))
            for i, (projection, sketch, nc, e, sd, c, t) in enumerate(rows):
                print(f"| {name} | {depth} | {projection} | {sketch} | {nc} | {e:.4f} ± {sd:.4f} | {t:.4g} "
                      f"| {c:.4g} | {'*' if i in front else ''} |", flush=True)
            points[(name, depth)] = rows
    print()
    W.print_run_end()
    if args.plot:
        plot(points, args.plot)


def plot(points, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = list(points)
    fig, axes = plt.subplots(len({k[0] for k in keys}), len({k[1] for k in keys}), squeeze=False,
                             figsize=(4.2 * len({k[1] for k in keys}), 3.6 * len({k[0] for k in keys})))
    names = sorted({k[0] for k in keys}, key=[k[0] for k in keys].index)
    depths = sorted({k[1] for k in keys})
    style = {"gaussian": "o-", "fastfood": "s--", "sorf": "^-"}
    colour = {"countsketch": "C0", "srht": "C3"}
    for (name, depth), rows in points.items():
        ax = axes[names.index(name)][depths.index(depth)]
        for projection in PROJECTIONS:
            for sketch in SKETCHES:
                pts = sorted((r[5], r[3]) for r in rows if r[0] == projection and r[1] == sketch)
                if pts:
                    ax.plot(*zip(*pts), style[projection], color=colour[sketch], ms=4,
                            label=f"{projection}, {sketch}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{name}, depth {depth}", fontsize=9)
        ax.set_xlabel("transform CPU time (s)", fontsize=8)
        ax.set_ylabel("relative kernel error", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def headline(args):
    W.print_run_header(f"{args.threads} thread(s)")
    n, d, nc = args.headline_n, 64, 4096
    X32 = W.gaussian(n, d, dtype=np.float32, seed=0)
    X32 /= np.linalg.norm(X32, axis=1, keepdims=True)
    G = np.random.default_rng(1).standard_normal((2000, d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    print(f"n = {n:,} unit-norm Gaussian rows, d = {d}, float32, n_components = {nc}: transform time "
          f"(best of {args.repeat}); error over 2,000 rows, 3 seeds; ratios to gaussian + countsketch "
          f"of the same depth, measured in this run.")
    print()
    print("| depth | projection | sketch | rel. error | wall (s) | CPU (s) | wall ratio | CPU ratio | error ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    widths = args.headline_widths or [nc]
    for depth in args.depths:
        K = ntkfast.ntk_kernel(G, depth=depth)
        base = None
        for projection in args.projections:
            for sketch in args.sketches:
                for w in ([nc] if base is None else widths):
                    e, _ = kernel_error(G, K, depth, w, projection, sketch, 3)
                    t, c = transform_time(X32, depth, w, projection, sketch, args.repeat, args.threads)
                    if base is None:
                        base = (e, t, c)
                    name = sketch if w == nc else f"{sketch}, {w} dims"
                    print(f"| {depth} | {projection} | {name} | {e:.4f} | {t:.2f} | {c:.2f} | {t / base[1]:.2f} "
                          f"| {c / base[2]:.2f} | {e / base[0]:.2f} |", flush=True)
    print()
    W.print_run_end()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--casp", default="/work/shared/data/CASP.csv", help="CASP.csv (skipped if missing)")
    p.add_argument("--n", type=int, default=1000, help="rows for the kernel error")
    p.add_argument("--n-time", type=int, default=20000, help="rows for the transform time")
    p.add_argument("--d", type=int, default=64, help="columns of the Gaussian data")
    p.add_argument("--widths", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--projections", nargs="+", default=list(PROJECTIONS), choices=PROJECTIONS)
    p.add_argument("--sketches", nargs="+", default=list(SKETCHES), choices=SKETCHES)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plot", default=None, help="PNG of error against time")
    p.add_argument("--headline", action="store_true", help="the issue's n = 100,000 setting")
    p.add_argument("--headline-n", type=int, default=100_000)
    p.add_argument("--headline-widths", type=int, nargs="+", default=None,
                   help="with --headline: widths of the constructions after the baseline (default 4096)")
    args = p.parse_args()
    (headline if args.headline else study)(args)


if __name__ == "__main__":
    main()
