"""
Time against ``n``: random features vs exact kernel ridge
=========================================================

:class:`ntkfast.ExactNTKRidge` forms the ``n x n`` NTK and factors it (Cholesky): its fit
grows like ``n^2`` (the kernel) to ``n^3`` (the solve).  :class:`ntkfast.NTKRidge` streams the
rows through a fixed number of random features and accumulates ``Phi^T Phi``: its fit grows
like ``n``.  This example times both fits, and the feature transform alone, for a few
``n`` on Gaussian data, and draws them on log-log axes.

Everything runs on one thread (``threadpoolctl.threadpool_limits(1)`` caps ntkfast's OpenMP
threads and the BLAS of the Cholesky solve alike): on a shared machine, single-thread
timings are the least noisy, and the comparison is like for like.

The sizes are small so that the example runs in seconds, and the feature map is narrow
(512 features): the lines show the slopes, and where a 512-feature model overtakes the exact
one on this data.  With the 8,192 features that match the exact model more closely, the two
fits take the same time at about 20,000 rows (``depth=2``, ``d = 64``, on this
project's 2-core machine) and the features fit 6.7x faster at 40,000; those figures, with
the command that measured them (``bench/report.py``), are in
:doc:`/user_guide/performance`.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

import ntkfast

t_start = time.perf_counter()
rng = np.random.default_rng(0)
d, depth, m = 16, 2, 512
sizes = [500, 1000, 2000, 4000]
X_all = rng.standard_normal((max(sizes), d))
y_all = np.sin(X_all[:, 0]) + X_all[:, 1] * X_all[:, 2] + 0.1 * rng.standard_normal(max(sizes))


def best_time(fn, repeat=2):
    """Best wall time of ``repeat`` calls (the machine is shared: the minimum is the least noisy)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


timings = {"ExactNTKRidge fit": [], "NTKRidge fit": [], "NTKRandomFeatures transform": []}
limits = threadpool_limits(1)
for n in sizes:
    X, y = X_all[:n], y_all[:n]
    exact = ntkfast.ExactNTKRidge(depth=depth, alpha=1.0)
    feats = ntkfast.NTKRidge(depth=depth, n_components=m, alpha=1.0, random_state=0)
    rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=m, random_state=0).fit(X)
    timings["ExactNTKRidge fit"].append(best_time(lambda: exact.fit(X, y)))
    timings["NTKRidge fit"].append(best_time(lambda: feats.fit(X, y)))
    timings["NTKRandomFeatures transform"].append(best_time(lambda: rf.transform(X)))
limits.unregister()  # back to the default thread counts

# %%
# Seconds per fit (best of 2) and the log-log slope of each line between the two largest
# sizes:

for name, ts in timings.items():
    slope = np.log(ts[-1] / ts[-2]) / np.log(sizes[-1] / sizes[-2])
    print(f"{name:28s} " + " ".join(f"{t:7.3f}" for t in ts) + f"   slope {slope:.2f}")

# %%

fig, ax = plt.subplots(figsize=(6, 4.2))
for (name, ts), style in zip(timings.items(), ["o-", "s-", "^--"]):
    ax.loglog(sizes, ts, style, label=name)
ax.set_xlabel("n (rows, d = 16)")
ax.set_ylabel("time (s)")
ax.set_title(f"depth {depth}, n_components = {m}")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()

print(f"example ran in {time.perf_counter() - t_start:.1f} s")
