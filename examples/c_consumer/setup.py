"""Build the plain-C example consumer of ntkfast: ``python setup.py build_ext --inplace``."""
import ntkfast
from setuptools import Extension, setup

setup(
    name="ntk_c_consumer",
    ext_modules=[Extension("ntk_c_consumer", ["ntk_c_consumer.c"], include_dirs=[ntkfast.get_include()])],
)
