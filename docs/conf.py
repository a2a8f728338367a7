"""Sphinx configuration of the ntkfast documentation.

Build locally with ``sphinx-build docs docs/_build/html`` (CI adds ``-W --keep-going``);
the gallery in ``docs/gallery`` is executed at every build.
"""
import os
import re

import ntkfast

project = "ntkfast"
author = "the ntkfast developers"
copyright = "the ntkfast developers"
release = ntkfast.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "gallery"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"nosidebar": False, "page_width": "1100px"}

# The docs never need the network: no intersphinx (scikit-learn and numpy names stay plain text).
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"

# numpydoc: the class pages list their methods with autodoc (explicit member lists in
# api.rst), so numpydoc's own member tables are off.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Validation of every docstring the API reference renders, as build warnings (errors under
# -W): every parameter of the signature documented (PR01), no documented parameter missing
# from it (PR02), every parameter described (PR07), a Returns section where the function
# returns something (RT01) and a description of what it returns (RT03).
numpydoc_validation_checks = {"PR01", "PR02", "PR07", "RT01", "RT03"}

# sphinx-gallery: the examples run at every build (small sizes: seconds each, on 2 cores).
sphinx_gallery_conf = {
    "examples_dirs": ["gallery"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "write_computation_times": True,
}

# Matplotlib without a display.
os.environ.setdefault("MPLBACKEND", "Agg")

rst_epilog = f"""
.. |capi| replace:: {ntkfast.capi_version}
.. |maxdepth| replace:: {ntkfast.MAX_DEPTH}
"""


# In reStructuredText a word ending in "_" is a link: the docstrings' shapes such as
# "(n_samples, n_features_in_)" name the fitted attribute, so escape the underscore outside
# literals (the docstrings stay as they are for help() and IDEs).
_ATTRIBUTE_WORD = re.compile(r"(?<![`\w])(n_features_in)_(?![`\w])")


def _escape_attribute_names(app, what, name, obj, options, lines):
    lines[:] = [_ATTRIBUTE_WORD.sub(r"\1\\_", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _escape_attribute_names)
