"""Packaging: build requirements, license metadata, and the multiversioning guard of _dense.h.

The distributions themselves (wheel and sdist: contents, a clean install outside the
checkout, a wheel rebuilt from the sdist) are checked by .ci/run with tests/check_dists.py
and tests/smoke_wheel.py, which need built archives.  Here: what can be checked from the
source tree, and the guard of the dense kernels' target_clones, which must give glibc the
clones and musl (no ifunc in its loader) the baseline code.  The baseline code itself is
also built with NTKFAST_NO_CLONES and checked numerically by tests/test_dense_kernel.py.
"""
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import ntkfast

ROOT = Path(__file__).resolve().parents[1]
PKG = Path(ntkfast.__file__).resolve().parent


def _pyproject():
    tomllib = pytest.importorskip("tomllib")        # Python >= 3.11
    path = ROOT / "pyproject.toml"
    if not path.is_file():
        pytest.skip("not running from the source tree")
    return tomllib.loads(path.read_text())


def test_build_requires_only_what_setup_py_runs():
    requires = _pyproject()["build-system"]["requires"]
    names = {re.split(r"[<>=!~\[; ]", r, 1)[0].lower() for r in requires}
    assert names == {"setuptools", "cython"}, requires
    # ...which holds as long as no compiled module is built against numpy's headers.
    for src in sorted(PKG.glob("*.pyx")) + sorted(PKG.glob("*.pxd")):
        text = src.read_text()
        assert not re.search(r"^\s*(cimport numpy|from numpy cimport)", text, re.M), src.name


def test_license_file_and_metadata():
    project = _pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n")
    assert "Copyright (c) 2026, the ntkfast developers" in text
    assert "Neither the name of the copyright holder" in text


def test_capi_extra_brings_the_build_tools():
    extras = _pyproject()["project"]["optional-dependencies"]
    names = {re.split(r"[<>=!~\[; ]", r, 1)[0].lower() for r in extras["capi"]}
    assert {"cython", "setuptools"} <= names


PROBE = '#include "_dense.h"\nNTKFAST_CLONES_ARE: NTKFAST_CLONES\n'


def _clones(cc, tmp_path, *macros):
    """What NTKFAST_CLONES expands to with compiler ``cc`` (preprocessor only)."""
    src = tmp_path / "probe.c"
    src.write_text(PROBE)
    cmd = [cc, "-E", "-P", f"-I{PKG}", *(f"-D{m}" for m in macros), str(src)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("NTKFAST_CLONES_ARE:")]
    assert len(line) == 1, out[-2000:]
    return line[0].split(":", 1)[1].strip()


def _gcc_major(cc):
    out = subprocess.run([cc, "-dumpversion"], capture_output=True, text=True).stdout
    return int(out.strip().split(".")[0] or 0)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_clones_guard_glibc(tmp_path):
    """glibc + GCC >= 11 on x86-64: clones (unless NTKFAST_NO_CLONES); elsewhere none."""
    if not (PKG / "_dense.h").is_file():
        pytest.skip("ntkfast/_dense.h is not installed next to the package")
    if subprocess.run(["gcc", "-dM", "-E", "-x", "c", "/dev/null"],
                      capture_output=True, text=True).stdout.count("__clang__"):
        pytest.skip("gcc is clang here")
    expected = (platform.machine() in ("x86_64", "AMD64") and platform.libc_ver()[0] == "glibc"
                and _gcc_major("gcc") >= 11)
    got = _clones("gcc", tmp_path)
    assert ("target_clones" in got) == expected, got
    assert _clones("gcc", tmp_path, "NTKFAST_NO_CLONES") == ""


MUSL_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include "_dense.h"

int main(void) {
    enum { N = 13, K = 17, M = 33 };
    static double x[N * K], w[M * K], scale[M], out[N * M];
    for (int i = 0; i < N * K; i++) x[i] = (double)((i * 37) % 11) - 5.0;
    for (int i = 0; i < M * K; i++) w[i] = (double)((i * 53) % 13) / 7.0 - 0.9;
    for (int j = 0; j < M; j++) scale[j] = 0.5 + 0.03 * j;
    double *packed = malloc(sizeof(double) * ntkfast_packed_size_d(M, K));
    ntkfast_pack_weights_d(w, scale, M, K, packed);
    ntkfast_dense_activation_packed_d(x, K, N, K, packed, M, 1 /* ReLU */, out, M);
    for (int r = 0; r < N; r++)
        for (int j = 0; j < M; j++) {
            double z = 0.0, a = 0.0;
            for (int l = 0; l < K; l++) { z += x[r * K + l] * w[j * K + l]; a += fabs(x[r * K + l] * w[j * K + l]); }
            z = z > 0.0 ? scale[j] * z : 0.0;
            if (fabs(out[r * M + j] - z) > 1e-12 * (1.0 + scale[j] * a)) {
                printf("mismatch at %d %d: %g != %g\n", r, j, out[r * M + j], z);
                return 1;
            }
        }
    free(packed);
    puts("ok");
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("musl-gcc") is None, reason="needs musl-gcc (Debian: musl-tools)")
def test_musl_gets_no_clones_and_runs(tmp_path):
    """musl defines no __GLIBC__: no target_clones, and the kernels run under musl's loader.

    Debian's musl-gcc is the system GCC with musl's headers and libc, so it would accept
    target_clones; musl's loader would then refuse the IRELATIVE relocations.  The program
    below is built like the extensions (-O3, dynamic) and run, so it proves both.
    """
    if not (PKG / "_dense.h").is_file():
        pytest.skip("ntkfast/_dense.h is not installed next to the package")
    assert _clones("musl-gcc", tmp_path) == ""
    src = tmp_path / "dense_musl.c"
    src.write_text(MUSL_PROGRAM)
    exe = tmp_path / "dense_musl"
    subprocess.run(["musl-gcc", "-O3", "-fno-trapping-math", "-fno-math-errno", f"-I{PKG}",
                    str(src), "-o", str(exe), "-lm"], check=True, capture_output=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (proc.stdout, proc.stderr)
