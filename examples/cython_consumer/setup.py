"""Build the example consumer of ntkfast's C-level API: ``python setup.py build_ext --inplace``.

Needs Cython, a C compiler and an installed (or importable) ntkfast.  OpenMP is used for the
``prange`` loops where the compiler is gcc/clang on Linux; elsewhere they run serially
(set NTK_CONSUMER_OPENMP=0/1 to force).
"""
import os
import sys

import ntkfast
from Cython.Build import cythonize
from setuptools import Extension, setup

openmp = os.environ.get("NTK_CONSUMER_OPENMP", "1" if sys.platform.startswith("linux") else "0") != "0"
flags = ["-fopenmp"] if openmp else []

ext = Extension(
    "ntk_consumer",
    ["ntk_consumer.pyx"],
    include_dirs=[ntkfast.get_include()],
    extra_compile_args=flags,
    extra_link_args=flags,
)

setup(
    name="ntk_consumer",
    ext_modules=cythonize(
        [ext],
        include_path=[ntkfast.get_include()],  # where `cimport ntkfast` finds its .pxd files
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
    ),
)
