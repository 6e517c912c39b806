"""Sphinx configuration of the structunstruct API reference (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import structunstruct  # noqa: E402

project = "structunstruct"
author = "the structunstruct developers"
copyright = "the structunstruct developers"  # noqa: A001
release = version = structunstruct.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]
templates_path = ["_templates"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": False}
autodoc_typehints = "none"          # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # methods are listed by the class template
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# every documented parameter must exist, and every parameter must be documented
numpydoc_validation_checks = {"PR01", "PR02"}
numpydoc_validation_exclude = {
    r"\.__init__$",
    r"\.set_output$",
    r"\.set_params$",
    r"\.get_params$",
    r"\.set_fit_request$",
    r"\.set_score_request$",
    r"\.set_predict_request$",
    r"\.get_metadata_routing$",
}
intersphinx_mapping: dict = {}
nitpicky = False
suppress_warnings = ["config.cache"]
