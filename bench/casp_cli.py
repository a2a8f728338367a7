"""The whole protein (CASP) table through the command line: ``ntkfast fit`` and ``predict``.

    python bench/casp_cli.py [--data ../shared/data/CASP.csv] [--test-fraction 0.2] [--seed 0]
        [--runs exact nystroem-8000 nystroem-4000 nystroem-2000 sorf-8192 default-8192]
    python bench/casp_cli.py --quick --data some.csv     # smoke run: small widths, no exact

Splits the CSV's rows at random (``--seed``) into ``train.csv`` and ``test.csv`` (header kept)
in a temporary folder, then for each run: ``ntkfast fit --data train.csv --target RMSD
--depth 2 --alpha 0.01 0.1 1 10 100 <options> --model m.npz -q`` (the exact run: ``--exact
--alpha 0.1``, one penalty), timed as a whole command (wall time, and the peak resident memory
of the process), then ``ntkfast predict`` on ``test.csv`` and the test MSE in RMSD units.
Prints a markdown table with the command, date and load.  The README's "Command line" table
was measured with these steps.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import _workloads as W  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "CASP.csv")
ALPHAS = ["0.01", "0.1", "1", "10", "100"]
RUNS = {
    "exact": ["--exact", "--alpha", "0.1"],
    "nystroem-8000": ["--features", "nystroem", "--n-components", "8000"],
    "nystroem-4000": ["--features", "nystroem", "--n-components", "4000"],
    "nystroem-2000": ["--features", "nystroem", "--n-components", "2000"],
    "sorf-8192": ["--n-components", "8192", "--projection", "sorf"],
    "default-8192": ["--n-components", "8192"],
}
QUICK = {
    "nystroem-64": ["--features", "nystroem", "--n-components", "64"],
    "default-256": ["--n-components", "256"],
}


def split(path, folder, test_fraction, seed):
    """``train.csv`` and ``test.csv`` in ``folder``: the rows of ``path`` permuted by
    ``seed``, the first ``test_fraction`` of them for testing."""
    with open(path) as f:
        head, *rows = f.read().splitlines()
    idx = np.random.default_rng(seed).permutation(len(rows))
    n_test = int(round(test_fraction * len(rows)))
    out = {}
    for name, part in (("test", idx[:n_test]), ("train", idx[n_test:])):
        out[name] = os.path.join(folder, f"{name}.csv")
        with open(out[name], "w") as f:
            f.write("\n".join([head] + [rows[i] for i in part]) + "\n")
    return out["train"], out["test"], len(rows) - n_test, n_test


# The command in a child process that reports its own peak resident memory on stderr.
_CHILD = ("import resource, sys; from ntkfast.cli import main; rc = main(sys.argv[1:]); "
          "sys.stderr.write(f'PEAK_KIB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'); "
          "sys.exit(rc)")


def ntkfast(*args):
    """Run the ``ntkfast`` command with ``args`` in a fresh interpreter; (wall seconds, peak
    resident MiB of that process)."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _CHILD, *args], stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode:
        sys.exit(f"ntkfast {' '.join(args)}: exit {res.returncode}\n{res.stderr}")
    peak = [line for line in res.stderr.splitlines() if line.startswith("PEAK_KIB ")]
    return seconds, int(peak[-1].split()[1]) / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS) + list(QUICK))
    p.add_argument("--quick", action="store_true", help="small widths, no exact model")
    args = p.parse_args(argv)
    if not os.path.exists(args.data):
        sys.exit(f"--data: expected the CASP csv, got {args.data!r} (missing)")
    runs = {**RUNS, **QUICK}
    names = list(QUICK) if args.quick else args.runs
    sys.stdout.reconfigure(line_buffering=True)
    W.print_run_header("depth 2", f"test fraction {args.test_fraction}, split seed {args.seed}")
    with tempfile.TemporaryDirectory() as folder:
        train, test, n_train, n_test = split(args.data, folder, args.test_fraction, args.seed)
        y_test = np.loadtxt(test, delimiter=",", skiprows=1, usecols=0)
        print(f"\n{n_train} training rows, {n_test} test rows\n")
        print("| options | test MSE | fit wall (s) | fit peak memory (MiB) | load (1 min) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name in names:
            model, pred = os.path.join(folder, f"{name}.npz"), os.path.join(folder, f"{name}.npy")
            options = runs[name]
            alphas = [] if "--exact" in options else ["--alpha", *ALPHAS]
            seconds, mib = ntkfast("fit", "--data", train, "--target", "RMSD", "--depth", "2", *alphas,
                                   *options, "--model", model, "-q")
            ntkfast("predict", "--model", model, "--data", test, "--out", pred, "-q")
            mse = float(np.mean((np.load(pred).ravel() - y_test) ** 2))
            print(f"| `{' '.join(options)}` | {mse:.3f} | {seconds:.1f} | {mib:.0f} | "
                  f"{os.getloadavg()[0]:.1f} |")
    W.print_run_end()


if __name__ == "__main__":
    main()
