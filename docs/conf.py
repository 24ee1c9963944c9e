"""Sphinx configuration for the sklearn_losses documentation.

Build offline with ``python -m sphinx -b html docs docs/_build/html``; the gallery
executes every ``examples/*/plot_*.py`` script.
"""

import os
import sys
from pathlib import Path

import torch

# One thread per gallery script keeps the build predictable on small machines.
torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sklearn_losses  # noqa: E402

project = "sklearn_losses"
author = "sklearn_losses developers"
copyright = "2026, sklearn_losses developers"
release = sklearn_losses.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/**/*.ipynb"]
autosummary_generate = True
# The generated set_*_request methods and score carry scikit-learn's own docstrings,
# whose cross-references point into scikit-learn's docs.
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    "exclude-members": ",".join(
        f"set_{method}_request"
        for method in ("fit", "partial_fit", "predict", "predict_proba", "score")
    ) + ",score",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_losses {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

# No network while building: intersphinx inventories are used only when a local
# copy is given through SKLEARN_LOSSES_INTERSPHINX=1 (they are fetched then).
intersphinx_mapping = {}
if os.environ.get("SKLEARN_LOSSES_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
    }

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib",),
}
