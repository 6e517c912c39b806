"""DataFrame-facing data handling: column roles, targets, design matrices, images."""

from .design import StructuredDesign
from .formula import Term, parse_structured
from .images import load_image_column
from .inputs import InputBuilder
from .roles import ColumnRoles, resolve_roles
from .tabular import TabularPreprocessor
from .targets import SURVIVAL_DTYPE, as_survival_target, make_survival_target

__all__ = [
    "SURVIVAL_DTYPE",
    "ColumnRoles",
    "InputBuilder",
    "StructuredDesign",
    "TabularPreprocessor",
    "Term",
    "as_survival_target",
    "load_image_column",
    "make_survival_target",
    "parse_structured",
    "resolve_roles",
]
