"""ntkfast: random features and exact kernels for the Neural Tangent Kernel of ReLU networks.

Numpy arrays in, numpy arrays out.  The mathematics and its conventions are those of
Han, Avron, Shoham, Kim and Shin, "Random Features for the Neural Tangent Kernel" (2021).
"""
from ._sketch import HAVE_OPENMP as _HAVE_OPENMP
from .features import ArcCosineFeatures, NTKRandomFeatures, default_sketch_components
from .kernels import arccos_kernel, nngp_kernel, ntk_kernel
from .ridge import ExactNTKRidge, NTKRidge, NTKRidgeClassifier
from .sketch import count_sketch, tensor_sketch, tensor_sketch_product

__version__ = "0.1.0"

__all__ = [
    "ArcCosineFeatures",
    "ExactNTKRidge",
    "NTKRandomFeatures",
    "NTKRidge",
    "NTKRidgeClassifier",
    "arccos_kernel",
    "count_sketch",
    "default_sketch_components",
    "nngp_kernel",
    "ntk_kernel",
    "tensor_sketch",
    "tensor_sketch_product",
]
