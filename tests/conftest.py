import ctypes
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def gaussian_data(n, d, seed, zero_rows=()):
    """Gaussian rows with non-normalised, varied norms (and optional zero rows)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.3, 3.0, size=(n, 1))
    for i in zero_rows:
        X[i] = 0.0
    return X


def rewrite_as_older(path, out, param, stored, drop_suffixes=()):
    """Rewrite the model file ``path`` into ``out`` as an ntkfast older than ``param`` wrote it.

    Every ``__params__`` member (the model's and its nested estimators', ``features_.__params__``;
    see ntkfast/io.py) loses ``param``, whose stored value must be ``stored``; the members whose
    names end with one of ``drop_suffixes`` (fitted state that version did not have; each
    suffix must match a member) are left out.  Returns the names of the ``__params__`` members
    rewritten, sorted.
    """
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    rewritten = sorted(k for k in arrays if k.endswith("__params__"))
    for key in rewritten:
        params = json.loads(str(arrays[key]))
        value = params.pop(param)
        assert value == stored, f"{key}: {param} stored as {value!r}, expected {stored!r}"
        arrays[key] = np.array(json.dumps(params, sort_keys=True), dtype=np.str_)
    for suffix in drop_suffixes:
        dropped = [k for k in arrays if k.endswith(suffix)]
        assert dropped, f"no member ends with {suffix!r}"
        for key in dropped:
            del arrays[key]
    np.savez(out, **arrays)
    return rewritten


def build_header_standalone(tmp, header, wrapper, macros, libraries=()):
    """Compile the C ``wrapper`` (which includes ntkfast's ``header``, e.g. "_dense.h") into a
    shared library in ``tmp``, with ``macros`` defined, and load it with ctypes.

    Skips the test where the header is not installed next to the package or nothing here can
    compile and link C.  ``libraries`` are linked in (not with MSVC).
    """
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    import ntkfast

    include = Path(ntkfast.__file__).resolve().parent
    if not (include / header).is_file():
        pytest.skip(f"ntkfast/{header} is not installed next to the package")
    name = Path(header).stem.lstrip("_") + "_wrapper"
    src = tmp / f"{name}.c"
    src.write_text(wrapper)
    cc = new_compiler()
    customize_compiler(cc)
    msvc = cc.compiler_type == "msvc"
    extra = [] if msvc else ["-O3", "-fno-trapping-math", "-fno-math-errno"]
    try:
        objs = cc.compile([str(src)], output_dir=str(tmp), include_dirs=[str(include)],
                          macros=[(m, None) for m in macros], extra_postargs=extra)
        lib = cc.library_filename(name, lib_type="shared")
        cc.link_shared_object(objs, str(tmp / lib), libraries=[] if msvc else list(libraries))
    except Exception as exc:  # no compiler, no linker...
        pytest.skip(f"cannot compile {header} standalone here ({type(exc).__name__}: {exc})")
    return ctypes.CDLL(str(tmp / lib))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
