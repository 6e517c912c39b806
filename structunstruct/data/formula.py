"""Parse the ``structured`` argument: a formula string or a list of terms."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_SMOOTH = re.compile(r"^s\(\s*([^,()]+?)\s*(?:,\s*df\s*=\s*(\d+(?:\.\d+)?)\s*)?\)$")


@dataclass(frozen=True)
class Term:
    """One term of the structured additive predictor.

    Attributes
    ----------
    column : str
        The DataFrame column the term reads.
    kind : {"linear", "smooth"}
        ``"linear"`` is a linear effect (numeric) or dummy coding (categorical);
        ``"smooth"`` is a penalized B-spline ``s(col)``.
    df : float or None
        Effective degrees of freedom of a smooth term.
    """

    column: str
    kind: str = "linear"
    df: float | None = None

    def __str__(self) -> str:
        if self.kind == "smooth":
            return f"s({self.column})"
        return self.column


def parse_structured(structured: str | Sequence[str] | None) -> list[Term]:
    """Turn a formula or a list of names into a list of terms.

    Parameters
    ----------
    structured : str, sequence of str or None
        ``"age + sex + s(bmi)"``, ``["age", "sex", "s(bmi)"]`` or ``None`` (no terms).

    Returns
    -------
    list of Term

    Raises
    ------
    ValueError
        If a term cannot be parsed or appears twice.
    """
    if structured is None:
        return []
    if isinstance(structured, str):
        pieces = [p.strip() for p in structured.replace("~", "").split("+")]
        pieces = [p for p in pieces if p]
    else:
        pieces = [str(p).strip() for p in structured]
    terms = [_parse_term(p) for p in pieces]
    seen: set[str] = set()
    for term in terms:
        if str(term) in seen:
            raise ValueError(f"structured term {str(term)!r} appears more than once")
        seen.add(str(term))
    return terms


def _parse_term(piece: str) -> Term:
    match = _SMOOTH.match(piece)
    if match:
        df = float(match.group(2)) if match.group(2) else None
        return Term(column=match.group(1), kind="smooth", df=df)
    if not piece or any(ch in piece for ch in "()*:^"):
        raise ValueError(
            f"cannot parse structured term {piece!r}: use a column name or s(column)"
        )
    return Term(column=piece)
