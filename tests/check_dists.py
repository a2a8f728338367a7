"""Check the contents of built distributions (run by .ci/run after it builds them).

    python tests/check_dists.py --wheel dist/ntkfast-*.whl --sdist dist/ntkfast-*.tar.gz

A wheel must carry what a C-API consumer compiles against (the .pxd files and headers), the
two extensions and the license; an sdist must carry what a rebuild and the test suite need
(sources, build files, license, README, tests and the examples/bench files the tests use),
and not the Cython-generated C files.  Not a pytest module: it takes paths to archives.
"""
import argparse
import sys
import tarfile
import zipfile

CAPI = ["__init__.pxd", "_capi.pxd", "_exact.pxd", "_sketch.pxd", "_polysketch.pxd", "_parallel.pxd",
        "_openmp.pxd", "ntkfast.h", "_dense.h", "_dense_impl.h", "_simd.h", "_arccos.h", "_fwht.h"]
SOURCES = ["_exact.pyx", "_sketch.pyx", "_polysketch.pyx", "__init__.py"] + CAPI


def check_wheel(path):
    names = zipfile.ZipFile(path).namelist()
    missing = [f"ntkfast/{f}" for f in CAPI + ["_engine/__init__.py"] if f"ntkfast/{f}" not in names]
    for ext in ("_exact", "_sketch", "_polysketch"):
        if not any(n.startswith(f"ntkfast/{ext}.") and n.endswith((".so", ".pyd")) for n in names):
            missing.append(f"ntkfast/{ext} extension")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        missing.append("*.dist-info/licenses/LICENSE")
    # Cython's generated C is a build intermediate (main's wheels carried 3.3 MB of it).
    unwanted = [n for n in names if n.startswith("ntkfast/") and n.endswith(".c")]
    return missing, unwanted


def check_sdist(path):
    with tarfile.open(path) as tar:
        names = tar.getnames()
    root = names[0].split("/")[0]
    rel = {n[len(root) + 1:] for n in names if n.startswith(root + "/")}
    needed = ["setup.py", "pyproject.toml", "LICENSE", "README.md", "MANIFEST.in",
              "tests/conftest.py", "tests/reference.py", "tests/test_exact.py",
              "tests/smoke_wheel.py", "examples/cython_consumer/ntk_consumer.pyx",
              "examples/c_consumer/ntk_c_consumer.c", "bench/report.py"]
    needed += [f"ntkfast/{f}" for f in SOURCES]
    missing = [f for f in needed if f not in rel]
    unwanted = sorted(f for f in rel if f.endswith((".so", ".pyd", ".o"))
                      or f in ("ntkfast/_exact.c", "ntkfast/_sketch.c", "ntkfast/_polysketch.c"))
    return missing, unwanted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", action="append", default=[])
    parser.add_argument("--sdist", action="append", default=[])
    args = parser.parse_args(argv)
    bad = False
    for kind, paths, check in (("wheel", args.wheel, check_wheel), ("sdist", args.sdist, check_sdist)):
        for path in paths:
            missing, unwanted = check(path)
            print(f"{kind} {path}: " + ("ok" if not (missing or unwanted) else
                  f"MISSING {missing} UNWANTED {unwanted}"))
            bad |= bool(missing or unwanted)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
