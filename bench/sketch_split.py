"""How to split n_components between ReLU features (m1) and the TensorSketch (ms).

Prints the relative Frobenius error of Phi Phi^T against the exact NTK, averaged over seeds,
for several sketch fractions.  Used to choose ntkfast's default split (README).

    python bench/sketch_split.py [--casp PATH]
"""
import argparse

import numpy as np

import ntkfast


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--casp", default=None, help="CASP.csv to use instead of Gaussian data")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--seeds", type=int, default=4)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    if args.casp:
        data = np.loadtxt(args.casp, delimiter=",", skiprows=1)
        X = data[rng.choice(len(data), args.n, replace=False), 1:]
        X = (X - X.mean(0)) / X.std(0)
        name = "CASP (standardised)"
    else:
        X = rng.standard_normal((args.n, 16))
        name = "Gaussian d=16"
    fractions = [0.25, 0.4, 0.5, 0.6, 0.75, 0.9]
    print(f"data: {name}, n={args.n}; mean relative Frobenius error over {args.seeds} seeds")
    print("| n_components | depth | " + " | ".join(f"ms={f:.2f}" for f in fractions) + " |")
    print("|---|---|" + "---|" * len(fractions))
    for nc in (2048, 8192):
        for depth in (1, 2, 3):
            K = ntkfast.ntk_kernel(X, depth=depth)
            row = []
            for f in fractions:
                errs = []
                for seed in range(args.seeds):
                    rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=nc,
                                                   sketch_components=int(f * nc), random_state=seed)
                    P = rf.fit_transform(X)
                    errs.append(np.linalg.norm(P @ P.T - K) / np.linalg.norm(K))
                row.append(np.mean(errs))
            print(f"| {nc} | {depth} | " + " | ".join(f"{e:.4f}" for e in row) + " |")


if __name__ == "__main__":
    main()
