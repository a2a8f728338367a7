"""Build script for ntkfast's compiled kernels.

Metadata lives in pyproject.toml; this file only describes the Cython extensions and
probes the compiler for OpenMP.  Without OpenMP the kernels still build and run, serially,
and the build prints a warning.

Environment switches
--------------------
NTKFAST_DEBUG_CYTHON=1
    Compile with Cython bounds checking, wraparound and initialised-variable checks
    turned back on (used by CI to run the test suite against a checked build).
NTKFAST_NO_OPENMP=1
    Skip the probe and build serial kernels.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n);
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """Return (compile_args, link_args) for OpenMP, or None if the compiler lacks it.

    The probe compiles, links *and runs* a tiny program with the real compiler that will
    build the extensions, so a header without a runtime library counts as "no OpenMP".
    """
    if os.environ.get("NTKFAST_NO_OPENMP"):
        return None
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    tmp = tempfile.mkdtemp(prefix="ntkfast_omp_")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                exe = os.path.join(tmp, "probe")
                compiler.link_executable(objs, exe, extra_postargs=lflags)
                subprocess.run([exe], check=True, capture_output=True, timeout=60)
                return cflags, lflags
            except Exception:  # any failure means: not this flag set
                continue
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        flags = _openmp_flags(self.compiler)
        if flags is None:
            warnings.warn(
                "ntkfast: the C compiler does not support OpenMP; building serial kernels. "
                "Results are identical, only slower on several cores."
            )
            print("WARNING: ntkfast is being built WITHOUT OpenMP (serial kernels).", file=sys.stderr)
        for ext in self.extensions:
            if flags is not None:
                ext.extra_compile_args += flags[0]
                ext.extra_link_args += flags[1]
            if self.compiler.compiler_type != "msvc":
                # -fno-trapping-math / -fno-math-errno change no result (only FP exception
                # flags and errno, which nothing reads); they let GCC turn the activations'
                # data-dependent selects into vector blends instead of mispredicted branches.
                ext.extra_compile_args += ["-O3", "-fno-trapping-math", "-fno-math-errno"]
        super().build_extensions()


def _extensions():
    from Cython.Build import cythonize

    debug = os.environ.get("NTKFAST_DEBUG_CYTHON", "0") not in ("", "0")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
    if debug:
        macros.append(("NTKFAST_DEBUG_CYTHON", "1"))     # reported as <module>.DEBUG_BUILD
    # Compiled code by subject: _exact (arc-cosine functions, exact NTK / NNGP) and _sketch
    # (sketches, fused dense kernels).  Both cimport the shared .pxd files listed in depends.
    shared = ["ntkfast/_capi.pxd", "ntkfast/_parallel.pxd", "ntkfast/_openmp.pxd"]
    exts = [
        Extension("ntkfast._exact", ["ntkfast/_exact.pyx"], define_macros=macros,
                  depends=["ntkfast/_exact.pxd"] + shared),
        Extension("ntkfast._sketch", ["ntkfast/_sketch.pyx"], define_macros=macros,
                  depends=["ntkfast/_sketch.pxd", "ntkfast/_dense.h", "ntkfast/_dense_impl.h"] + shared),
    ]
    return cythonize(exts, compiler_directives=directives, force=debug)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
