"""Smoke check of an installed ntkfast (a built wheel), run from outside the source tree.

    python tests/smoke_wheel.py [--expect-openmp]

Run by .ci/run on the wheel it builds and by cibuildwheel's test-command
(pyproject.toml).  It checks that ``ntkfast`` is imported from an installed copy
(site-packages, not a checkout), that the compiled kernels run and agree with closed forms
(the exact NTK's diagonal is ``(depth + 1) * ||x||^2`` without bias; random features
approximate the exact kernel), and that the files a C-API consumer builds against (the
``.pxd`` files and headers) are installed next to the package.  Not a pytest module (no
``test_`` prefix): it has to run with nothing but numpy and the wheel installed.
"""
import importlib.metadata
import os
import sys

import numpy as np

# What `cimport ntkfast` and `#include "ntkfast/ntkfast.h"` read (README, "C API"), plus
# the dense kernels' headers that tests/test_dense_kernel.py compiles from the installed copy.
CAPI_FILES = ("__init__.pxd", "_capi.pxd", "_exact.pxd", "_sketch.pxd", "_polysketch.pxd", "_parallel.pxd",
              "_openmp.pxd", "ntkfast.h", "_dense.h", "_dense_impl.h", "_simd.h", "_arccos.h", "_fwht.h")


def main(argv):
    import ntkfast

    pkg = os.path.dirname(os.path.abspath(ntkfast.__file__))
    assert "site-packages" in pkg.split(os.sep), f"ntkfast imported from {pkg}, not an install"
    missing = [f for f in CAPI_FILES if not os.path.isfile(os.path.join(pkg, f))]
    assert not missing, f"C-API files missing from the installed package: {missing}"
    assert os.path.isdir(os.path.join(ntkfast.get_include(), "ntkfast"))
    meta = importlib.metadata.metadata("ntkfast")
    assert meta["License-Expression"] == "BSD-3-Clause", meta["License-Expression"]
    files = importlib.metadata.files("ntkfast") or []
    assert any(f.name == "LICENSE" for f in files), "LICENSE not installed with the metadata"
    if "--expect-openmp" in argv:
        assert ntkfast._HAVE_OPENMP, "this build of ntkfast has no OpenMP (serial kernels)"

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6))
    for depth in (1, 3):
        K = ntkfast.ntk_kernel(X, depth=depth)
        np.testing.assert_allclose(np.diag(K), (depth + 1) * (X * X).sum(1), rtol=1e-12)
        np.testing.assert_allclose(K, K.T, rtol=1e-12)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        K = ntkfast.ntk_kernel(Xd, depth=2)
        rf = ntkfast.NTKRandomFeatures(depth=2, n_components=4096, random_state=0)
        Phi = rf.fit_transform(Xd)
        assert Phi.dtype == dtype and Phi.shape == (40, 4096), (Phi.dtype, Phi.shape)
        err = np.linalg.norm(Phi @ Phi.T - K) / np.linalg.norm(K)
        assert err < 0.3, f"random features far from the exact NTK ({dtype.__name__}): {err:.3f}"
        # same random_state, any thread count: bit-identical features
        Phi1 = ntkfast.NTKRandomFeatures(depth=2, n_components=4096, random_state=0,
                                         n_threads=1).fit_transform(Xd)
        np.testing.assert_array_equal(Phi, Phi1)
    print(f"ntkfast {meta['Version']} from {pkg}: "
          f"OpenMP={ntkfast._HAVE_OPENMP}, C API v{ntkfast.capi_version}, "
          f"features/NTK relative error {err:.3f}: ok")


if __name__ == "__main__":
    main(sys.argv[1:])
