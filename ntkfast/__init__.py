"""ntkfast: random features and exact kernels for the Neural Tangent Kernel of ReLU networks.

Numpy arrays in, numpy arrays out.  The mathematics and its conventions are those of
Han, Avron, Shoham, Kim and Shin, "Random Features for the Neural Tangent Kernel" (2021).
"""
import os as _os

# OpenMP threads that busy-wait between parallel regions steal the core from whatever else
# runs on the machine, and wait a whole scheduler time slice when it is busy: measured on 2
# shared cores, a transform in 64-row batches took 0.77 s with the default policy and 0.07 s
# with passive waiting.  Set before the OpenMP runtime is loaded (it reads the variable
# once); an explicit OMP_WAIT_POLICY in the environment is respected.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._sketch import CAPI_VERSION as capi_version
from ._sketch import HAVE_OPENMP as _HAVE_OPENMP  # noqa: F401  (diagnostics: built with OpenMP?)
from ._engine import dask_adapter as _dask_adapter  # noqa: F401  (registers the dask adapter)
from ._engine.validation import MAX_DEPTH
from .features import ArcCosineFeatures, NTKNystroem, NTKRandomFeatures, NTKSketch, default_sketch_components
from .kernels import arccos_kernel, nngp_kernel, ntk_kernel
from .ridge import ExactNTKRidge, NTKRidge, NTKRidgeClassifier
from .sketch import count_sketch, tensor_sketch, tensor_sketch_product, tensor_srht

__version__ = "0.1.0"

__all__ = [
    "ArcCosineFeatures",
    "ExactNTKRidge",
    "MAX_DEPTH",
    "capi_version",
    "get_include",
    "NTKNystroem",
    "NTKRandomFeatures",
    "NTKSketch",
    "NTKRidge",
    "NTKRidgeClassifier",
    "arccos_kernel",
    "count_sketch",
    "default_sketch_components",
    "nngp_kernel",
    "ntk_kernel",
    "tensor_sketch",
    "tensor_sketch_product",
    "tensor_srht",
]


def get_include():
    """Folder to put on the include paths of an extension that uses ntkfast's C-level API.

    It is the folder that *contains* the ``ntkfast`` package, so that ``cimport ntkfast``
    (``ntkfast/__init__.pxd``, ``ntkfast/_sketch.pxd``) resolves when it is passed to
    ``cythonize(..., include_path=[ntkfast.get_include()])``, and ``ntkfast/*.h`` resolves
    when it is in ``Extension(include_dirs=...)``.  See the README section "Using ntkfast
    from C or Cython".

    Returns
    -------
    str
        Absolute path of the folder that contains the installed ``ntkfast`` package.

    Examples
    --------
    >>> import os, ntkfast
    >>> os.path.isfile(os.path.join(ntkfast.get_include(), "ntkfast", "_sketch.pxd"))
    True
    """
    return _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
