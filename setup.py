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
NTKFAST_REQUIRE_OPENMP=1
    Fail the build instead of falling back to serial kernels (release wheels: see
    [tool.cibuildwheel] in pyproject.toml).

The two extensions are compiled in parallel (build_ext --parallel defaults to 2 here; pass
``-j1`` / ``--parallel 1`` to build_ext for a serial build).
"""
import os
import shlex
import shutil
import sys
import tempfile
import textwrap
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += omp_get_num_threads() > 0;
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """Return (compile_args, link_args) for OpenMP, or None if the compiler lacks it.

    The probe compiles and links (but does not run) a tiny program with the real compiler
    that will build the extensions.  Compiling proves the flag and <omp.h>; linking an
    *executable* proves the runtime library (libgomp / libomp / vcomp) resolves for the
    target: unlike an extension module (which may leave symbols undefined, and on macOS is
    linked with -undefined dynamic_lookup), an executable may not, so a header without a
    runtime, or a runtime built for another architecture, fails here.  That is all the
    extensions need at build time.  Running the program would also prove the runtime works
    on the build machine, but a cross-compiled program (an arm64 or universal2 wheel built
    on an Intel Mac, any build for another architecture) cannot run there, and the failed
    run used to make such wheels silently serial.
    """
    if os.environ.get("NTKFAST_NO_OPENMP"):
        return None
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    # distutils links executables with the bare compiler driver (linker_exe), without the
    # -arch flags and LDFLAGS that the extensions' link gets: pass them, so the probe links
    # for the extensions' target with their library paths.
    link_pre = []
    if compiler.compiler_type != "msvc":
        cmd = list(getattr(compiler, "compiler_so", None) or [])
        for i, arg in enumerate(cmd[:-1]):
            if arg == "-arch":
                link_pre += cmd[i:i + 2]
        link_pre += shlex.split(os.environ.get("LDFLAGS", ""))
    tmp = tempfile.mkdtemp(prefix="ntkfast_omp_")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objs, os.path.join(tmp, "probe"),
                                         extra_preargs=link_pre, extra_postargs=lflags)
                return cflags, lflags
            except Exception:  # any failure means: not this flag set
                continue
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            # One compiler process per extension (distutils runs them from a thread pool):
            # _sketch and _exact compile at the same time, which is most of the build.
            self.parallel = min(2, os.cpu_count() or 1)

    def build_extensions(self):
        flags = _openmp_flags(self.compiler)
        if flags is None and os.environ.get("NTKFAST_REQUIRE_OPENMP", "0") not in ("", "0"):
            raise RuntimeError(
                "ntkfast: NTKFAST_REQUIRE_OPENMP is set but there is no OpenMP: the probe "
                "did not compile and link with this compiler (see setup.py, _openmp_flags), "
                "or NTKFAST_NO_OPENMP is set."
            )
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
                if not _debug_build():
                    # Python's own CFLAGS often carry -g: debug info for the ~30k lines of
                    # generated C took a quarter of the compile time (_sketch: 24 -> 17 s of
                    # CPU with -g0) and 6/7 of the objects' size, and changes no generated
                    # instruction.  Function names stay in the symbol table for backtraces;
                    # the NTKFAST_DEBUG_CYTHON build keeps -g.
                    ext.extra_compile_args += ["-g0"]
        super().build_extensions()


def _debug_build():
    return os.environ.get("NTKFAST_DEBUG_CYTHON", "0") not in ("", "0")


def _extensions():
    from Cython.Build import cythonize

    debug = _debug_build()
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    macros = []     # no numpy headers are used (nothing cimports numpy): no NPY_* macros
    if debug:
        macros.append(("NTKFAST_DEBUG_CYTHON", "1"))     # reported as <module>.DEBUG_BUILD
    # Compiled code by subject: _exact (arc-cosine functions, exact NTK / NNGP) and _sketch
    # (sketches, fused dense kernels).  Both cimport the shared .pxd files listed in depends.
    shared = ["ntkfast/_capi.pxd", "ntkfast/_parallel.pxd", "ntkfast/_openmp.pxd"]
    exts = [
        Extension("ntkfast._exact", ["ntkfast/_exact.pyx"], define_macros=macros,
                  depends=["ntkfast/_exact.pxd", "ntkfast/_arccos.h", "ntkfast/_simd.h"] + shared),
        Extension("ntkfast._sketch", ["ntkfast/_sketch.pyx"], define_macros=macros,
                  depends=["ntkfast/_sketch.pxd", "ntkfast/_dense.h", "ntkfast/_dense_impl.h", "ntkfast/_fwht.h",
                           "ntkfast/_simd.h"] + shared),
        Extension("ntkfast._polysketch", ["ntkfast/_polysketch.pyx"], define_macros=macros,
                  depends=["ntkfast/_polysketch.pxd"] + shared),
    ]
    return cythonize(exts, compiler_directives=directives, force=debug)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
