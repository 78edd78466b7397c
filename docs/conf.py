"""Sphinx configuration of zhusuan's documentation (``make docs``).

The build imports zhusuan (which configures Jittor for a GPU-less, offline
machine before importing it) for the API reference, and runs the tutorial's
code blocks with the doctest builder; ``make docs`` runs both with warnings
as errors.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import zhusuan  # noqa: E402  (configures Jittor before autodoc imports it)

project = "zhusuan"
author = "the zhusuan developers"
copyright = "2026, the zhusuan developers"
release = zhusuan.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True

html_theme = "furo"
html_title = f"zhusuan {release}"
html_static_path = []

# The tutorial's code runs under the doctest builder in one namespace per
# document; keep Jittor quiet and deterministic there.
doctest_global_setup = """
import os
os.environ.setdefault("log_silent", "1")
import zhusuan as zs
import jittor as jt
jt.set_global_seed(0)
"""
