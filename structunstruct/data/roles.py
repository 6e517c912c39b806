"""Column roles: which columns of a DataFrame feed which part of a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .formula import Term, parse_structured


@dataclass(frozen=True)
class ColumnRoles:
    """The resolved role of every column a model uses.

    Attributes
    ----------
    structured : tuple of Term
        Terms of the interpretable additive part (linear, categorical, smooth).
    tabular : tuple of str
        Columns fed to the deep tabular network.
    image : tuple of str
        Columns holding images (arrays or file paths); empty for none.
    text : tuple of str
        Columns holding strings; empty for none.

    Each image/text column is one modality with its own arrays and encoder, named by
    :meth:`modality_key`.
    """

    structured: tuple[Term, ...]
    tabular: tuple[str, ...]
    image: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    def modality_key(self, role: str, column: str) -> str:
        """Name of an image/text column's arrays and encoder.

        With one column of the role, the role itself (``"image"``, ``"text"``: the names
        of a model with a single image or text column); with several,
        ``"<role>:<column>"`` (``"image:ct"``, ``"image:xray"``).
        """
        columns = self.image if role == "image" else self.text
        return role if len(columns) == 1 else f"{role}:{column}"

    @property
    def image_keys(self) -> dict[str, str]:
        """Image column -> its modality key (see :meth:`modality_key`), in column order."""
        return {c: self.modality_key("image", c) for c in self.image}

    @property
    def text_keys(self) -> dict[str, str]:
        """Text column -> its modality key (see :meth:`modality_key`), in column order."""
        return {c: self.modality_key("text", c) for c in self.text}

    @property
    def structured_columns(self) -> tuple[str, ...]:
        """Columns the structured terms read (derived from the formula's factors), in order of first use."""
        return tuple(dict.fromkeys(c for term in self.structured for c in term.columns))

    @property
    def used_columns(self) -> tuple[str, ...]:
        """Every column the model reads, structured first."""
        cols = [*self.structured_columns, *self.tabular]
        cols += [*self.image, *self.text]
        return tuple(dict.fromkeys(cols))

    @property
    def has_deep_part(self) -> bool:
        """Whether any deep (tabular, image or text) input is used."""
        return bool(self.tabular) or bool(self.image) or bool(self.text)


def as_columns(value: str | Sequence[str] | None, role: str) -> tuple[str, ...]:
    """An image/text role given as a column, a list of columns or ``None``, as a tuple.

    Raises
    ------
    ValueError
        If a column is listed twice, or a name has a ``"."`` (it names a network part).
    TypeError
        If an entry is not a string.
    """
    if value is None:
        return ()
    columns = (value,) if isinstance(value, str) else tuple(value)
    for column in columns:
        if not isinstance(column, str):
            raise TypeError(f"{role} must be a column name or a list of column names; got {column!r}")
        if "." in column and len(columns) > 1:
            raise ValueError(f"{role} column {column!r}: with several {role} columns a name may not "
                             "contain '.' (it names the column's encoder); rename the column")
    if len(set(columns)) < len(columns):
        raise ValueError(f"{role} lists a column twice: {list(columns)}")
    return columns


def resolve_roles(
    X: pd.DataFrame,
    structured: str | Sequence[str] | None,
    tabular: Sequence[str] | None,
    image: str | Sequence[str] | None,
    text: str | Sequence[str] | None,
    exclude: Sequence[str] = (),
) -> ColumnRoles:
    """Resolve the column roles of an estimator against a DataFrame.

    Parameters
    ----------
    X : pandas.DataFrame
        The training data.
    structured : str, sequence of str or None
        A formula (``"age + C(race) + age:prio + s(bmi)"``, see
        :mod:`structunstruct.data.formula`) or a list of columns/terms.
    tabular : sequence of str or None
        Deep tabular columns; ``None`` means every column that is neither the image
        nor the text column, ``[]`` means none.
    image, text : str, sequence of str or None
        The image and the text column(s).
    exclude : sequence of str, default=()
        Columns with a role of their own (e.g. DeepPAMM's random-effect grouping
        column) that the default ``tabular=None`` leaves out.

    Returns
    -------
    ColumnRoles

    Raises
    ------
    ValueError
        If a named column is not in ``X`` or one column is given two incompatible roles.
    """
    check_is_dataframe(X)
    image, text = as_columns(image, "image"), as_columns(text, "text")
    check_columns_present(X, image, role="image")
    check_columns_present(X, text, role="text")
    both = sorted(set(image) & set(text))
    if both:
        raise ValueError(f"column {both[0]!r} cannot be both an image and a text column")
    terms = tuple(parse_structured(structured))
    used = list(dict.fromkeys(c for t in terms for c in t.columns))
    check_columns_present(X, used, role="structured")
    media = {*image, *text}
    for column in used:
        if column in media:
            raise ValueError(
                f"column {column!r} is the image/text column and cannot be a structured term"
            )
    if tabular is None:
        tabular_cols = tuple(str(c) for c in X.columns if c not in media and c not in exclude)
    else:
        if isinstance(tabular, str):
            tabular = [tabular]
        tabular_cols = tuple(tabular)
        check_columns_present(X, tabular_cols, role="tabular")
        clash = media.intersection(tabular_cols)
        if clash:
            raise ValueError(f"column(s) {sorted(clash)} are image/text columns, not tabular")
    return ColumnRoles(structured=terms, tabular=tabular_cols, image=image, text=text)


def check_is_dataframe(X: object) -> None:
    """Raise a clear error unless ``X`` is a pandas DataFrame."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            "X must be a pandas DataFrame with named columns (tabular, image and text "
            f"columns are chosen by name); got {type(X).__name__}"
        )


def check_columns_present(X: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """Raise a ``ValueError`` naming every column of ``columns`` missing from ``X``."""
    missing = [c for c in columns if c not in X.columns]
    if missing:
        shown = list(map(str, X.columns))[:20]
        raise ValueError(
            f"{role} column(s) {missing} not found in X; available columns: {shown}"
        )


MISSING_MODALITIES = ("error", "allow")


def check_no_missing(missing: np.ndarray, index: pd.Index, role: str, name: str) -> None:
    """Raise a ``ValueError`` naming the column and the rows whose cell is missing.

    Parameters
    ----------
    missing : numpy.ndarray of shape (n_samples,), bool
        Which cells of the column are missing.
    index : pandas.Index
        Row labels of the column, for the message.
    role : {"image", "text"}
        The column's role.
    name : str
        The column name.
    """
    if not missing.any():
        return
    rows = index[missing].tolist()
    shown = ", ".join(map(repr, rows[:5])) + (", ..." if len(rows) > 5 else "")
    article = "an" if role[0] in "aeiou" else "a"
    noun = "images" if role == "image" else "values"
    raise ValueError(
        f"{role} column {name!r} has {len(rows)} missing {noun} (rows {shown}); pass "
        f"missing_modalities='allow' to accept rows without {article} {role}"
    )
