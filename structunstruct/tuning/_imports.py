"""Optional dependencies of :mod:`structunstruct.tuning`, imported when first needed.

Optuna is an optional extra (``pip install structunstruct[tune]``): importing
``structunstruct`` never imports it, and the tuning functions raise an
``ImportError`` that names the package and the extra when it is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, package: str | None = None, extra: str = "tune") -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` naming what to install.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"optuna"``.
    package : str, optional
        Distribution name on PyPI when it differs from ``module``.
    extra : str, default="tune"
        The structunstruct extra that installs it.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    ImportError
        When the module cannot be imported; the message names the package.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        name = package or module.split(".")[0]
        raise ImportError(
            f"structunstruct.tuning needs the package {name!r}, which could not be imported "
            f"({error}); install it with `pip install {name}` or `pip install "
            f"structunstruct[{extra}]`"
        ) from error


def optuna() -> ModuleType:
    """The ``optuna`` module (an ``ImportError`` naming it when it is missing)."""
    return require("optuna")
