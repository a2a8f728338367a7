"""
Kernel approximation error against ``n_components``
===================================================

How close are the random features to the exact NTK?  For each depth, we draw
:class:`ntkfast.NTKRandomFeatures` of growing width ``n_components`` and measure the relative
Frobenius error of the kernel they estimate,

.. math:: \\frac{\\|\\Phi\\Phi^T - K\\|_F}{\\|K\\|_F},

against the exact :func:`ntkfast.ntk_kernel` ``K`` of the same rows.  The error is
Monte-Carlo error: on a log-log plot it falls along a line of slope about -1/2
(``1/sqrt(m)``), and it grows with the depth at a fixed width.

Small sizes (200 Gaussian rows, ``d = 16``, widths up to 2,048, 2 seeds) keep this example
to a few seconds; the README-sized figures (8,192 components, 400 points, 4 seeds) are in
:ref:`sketch-split`.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import ntkfast

t_start = time.perf_counter()
rng = np.random.default_rng(0)
X = rng.standard_normal((200, 16))

depths = [1, 2, 3]
widths = [256, 512, 1024, 2048]
seeds = [0, 1]

errors = {}
for depth in depths:
    K = ntkfast.ntk_kernel(X, depth=depth)
    norm_K = np.linalg.norm(K)
    errors[depth] = []
    for m in widths:
        errs = []
        for seed in seeds:
            rf = ntkfast.NTKRandomFeatures(depth=depth, n_components=m, random_state=seed)
            Phi = rf.fit_transform(X)
            errs.append(np.linalg.norm(Phi @ Phi.T - K) / norm_K)
        errors[depth].append(np.mean(errs))

# %%
# The error per depth and width (mean over the seeds):

print("n_components " + " ".join(f"{m:>7d}" for m in widths))
for depth in depths:
    print(f"depth {depth}      " + " ".join(f"{e:7.3f}" for e in errors[depth]))

# %%
# On log-log axes, with a ``1/sqrt(m)`` line for reference (anchored at depth 1's first
# point):

fig, ax = plt.subplots(figsize=(6, 4.2))
for depth, marker in zip(depths, "osD"):
    ax.loglog(widths, errors[depth], marker=marker, label=f"depth {depth}")
ref = errors[1][0] * np.sqrt(widths[0] / np.asarray(widths, dtype=float))
ax.loglog(widths, ref, "k:", label=r"$\propto 1/\sqrt{m}$")
ax.set_xlabel("n_components m")
ax.set_ylabel(r"$\|\Phi\Phi^T - K\|_F \,/\, \|K\|_F$")
ax.set_title("NTK features vs exact NTK\n(200 Gaussian rows, d = 16, mean of 2 seeds)", fontsize=10)
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()

print(f"example ran in {time.perf_counter() - t_start:.1f} s")
