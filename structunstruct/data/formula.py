"""Parse the ``structured`` argument with formulaic: a formula string or a list of terms.

The formula grammar is formulaic's (the one lifelines and, through patsy, statsmodels
use): ``+`` adds terms, ``a:b`` is an interaction, ``a*b`` is ``a + b + a:b``,
``(a + b)**2`` all pairwise interactions, and a term may be a Python expression of
columns: ``C(race)``, ``np.log(age)``, ``I(age**2)``, ``center(x)``, ``scale(x)``,
``poly(x, 2)``. ``s(col)`` and ``s(col, df=k)`` are penalized B-spline smooths
(:func:`structunstruct.data.terms.s`). The models always have an intercept (or a
baseline hazard), so ``1``, ``0`` and ``- 1`` are ignored; terms keep the order in
which they are written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from formulaic import Formula
from formulaic.errors import FormulaicError
from formulaic.parser.types import Factor
from formulaic.transforms import TRANSFORMS
from formulaic.utils.code import sanitize_variable_names
from formulaic.utils.layered_mapping import LayeredMapping

#: Name of the smooth transform in formulas: ``s(col)``, ``s(col, df=4)``.
SMOOTH = "s"
_SMOOTH_OPTIONS = ("df",)
_FORMULA_SYNTAX = "()*:^~`"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Term:
    """One term of the structured additive predictor.

    Attributes
    ----------
    name : str
        The term as formulaic writes it (``"age"``, ``"age:prio"``, ``"C(race)"``,
        ``"np.log(x)"``); a smooth is named ``"s(col)"`` whatever its options.
    factors : tuple of str
        Its factors (one for a main effect, several for an interaction), formulaic's
        Python expressions.
    lookup : tuple of bool
        Whether each factor is a plain column name (dummy-coded as ``col[level]`` when
        categorical) rather than an expression evaluated by formulaic.
    columns : tuple of str
        The DataFrame columns the term reads, in order of first use.
    kind : {"linear", "smooth"}
        ``"smooth"`` is a penalized B-spline ``s(col)``; every other term is linear
        in its design columns.
    df : float or None
        Effective degrees of freedom of a smooth term (``s(col, df=k)``).
    """

    name: str
    factors: tuple[str, ...]
    lookup: tuple[bool, ...]
    columns: tuple[str, ...]
    kind: str = "linear"
    df: float | None = None

    @property
    def column(self) -> str:
        """The first column the term reads (the only one of a main effect or a smooth)."""
        return self.columns[0]

    def __str__(self) -> str:
        return self.name


def parse_structured(structured: str | Sequence[str] | None) -> list[Term]:
    """Turn a formula or a list of names/terms into a list of terms.

    Parameters
    ----------
    structured : str, sequence of str or None
        ``"age + C(race) + age:prio + s(bmi, df=4)"``, ``["age", "sex", "s(bmi)"]``
        (each item a term or a formula piece) or ``None`` (no terms). In a formula
        string, quote column names that are not Python names with backticks
        (```my col` + age``); a list item without formula syntax (``( ) * : ^ ~```)
        is a column name as it is (``["my col", "a-b"]``).

    Returns
    -------
    list of Term

    Raises
    ------
    ValueError
        If the formula cannot be parsed, has a left-hand side, a term appears twice,
        or a smooth term is malformed or part of an interaction.
    """
    if structured is None:
        return []
    pieces = _pieces(structured)
    if not pieces:
        return []
    seen: dict[str, str] = {}
    for piece in pieces:
        for term in _formula_terms(piece):
            name = _term(term).name
            if name in seen:
                raise ValueError(f"structured term {name!r} appears more than once")
            seen[name] = piece
    whole = structured.strip().removeprefix("~") if isinstance(structured, str) else " + ".join(
        f"({p})" for p in pieces)  # a string as written: "a*b + c - a:b" removes a:b
    return [_term(term) for term in _formula_terms(whole)]


def _pieces(structured: str | Sequence[str]) -> list[str]:
    """The top-level ``+``-separated pieces of a formula (or the items of a list)."""
    if isinstance(structured, str):
        text = structured.strip()
        if text.startswith("~"):
            text = text[1:]
        return [p.strip() for p in _split_top_level(text) if p.strip()]
    return [_list_item(str(p).strip()) for p in structured if str(p).strip()]


def _list_item(item: str) -> str:
    """A list item without formula syntax is a column name, whatever characters it has
    (``"my col"``, ``"a-b"``): it is backquoted for formulaic."""
    if any(ch in item for ch in _FORMULA_SYNTAX) or item.isidentifier():
        return item
    return f"`{item}`"


def _split_top_level(text: str) -> list[str]:
    """Split ``text`` at ``+`` outside brackets and quotes."""
    pieces, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "+" and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    return [*pieces, text[start:]]


def _formula_terms(text: str) -> list:
    """formulaic's terms of ``text`` (user order), without the intercept."""
    try:
        formula = Formula(text, _ordering="none")
    except (FormulaicError, SyntaxError, ValueError) as err:
        message = _ANSI.sub("", str(err))
        raise ValueError(f"cannot parse structured formula {text!r}: {message}") from err
    if not hasattr(formula, "__iter__") or hasattr(formula, "lhs"):
        raise ValueError(
            f"structured formula {text!r} has a left-hand side: give the right-hand side "
            "only (the target is passed to fit)"
        )
    terms = []
    for term in formula:
        if all(f.eval_method is Factor.EvalMethod.LITERAL for f in term.factors):
            continue  # the intercept: every model has one
        terms.append(term)
    return terms


def _term(term) -> Term:
    factors = tuple(str(f.expr) for f in term.factors)
    lookup = tuple(f.eval_method is Factor.EvalMethod.LOOKUP for f in term.factors)
    columns = tuple(dict.fromkeys(c for f, is_name in zip(factors, lookup)
                                  for c in ([f] if is_name else expression_columns(f))))
    smooth = [f for f, is_name in zip(factors, lookup) if not is_name and _smooth_call(f)]
    if not smooth:
        return Term(str(term), factors, lookup, columns)
    if len(factors) > 1:
        raise ValueError(
            f"structured term {str(term)!r}: a smooth s(...) cannot be part of an interaction"
        )
    column, df = _smooth_options(factors[0])
    return Term(f"{SMOOTH}({column})", factors, lookup, (column,), kind="smooth", df=df)


def _smooth_call(expr: str, aliases: dict[str, str] | None = None) -> ast.Call | None:
    node = _parse_expression(expr, {} if aliases is None else aliases).body
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == SMOOTH:
        return node
    return None


def _smooth_options(expr: str) -> tuple[str, float | None]:
    """The column and the ``df`` of ``s(col, df=k)``."""
    aliases: dict[str, str] = {}
    call = _smooth_call(expr, aliases)
    usage = f"cannot parse structured term {expr!r}: use s(column) or s(column, df=k)"
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Name):
        raise ValueError(usage)
    options = {}
    for keyword in call.keywords:
        if keyword.arg not in _SMOOTH_OPTIONS:
            raise ValueError(usage)
        try:
            options[keyword.arg] = float(ast.literal_eval(keyword.value))
        except (ValueError, TypeError) as err:
            raise ValueError(usage) from err
    return aliases.get(call.args[0].id, call.args[0].id), options.get("df")


def expression_columns(expr: str) -> tuple[str, ...]:
    """Columns an expression such as ``"np.log(age)"`` reads, in order of use.

    A name in a value position is a column (``age`` in ``np.log(age)``, ``x`` in
    ``I(x ** 2)``); names that are called or whose attributes are read (``np``, ``C``,
    ``center``, ``contr`` in ``contr.sum``, ``s``) are formula transforms. Backquoted
    names (```my col```) are allowed.
    """
    aliases: dict[str, str] = {}
    code = _parse_expression(expr, aliases)
    functions = {id(node.func) for node in ast.walk(code) if isinstance(node, ast.Call)}
    functions |= {id(node.value) for node in ast.walk(code) if isinstance(node, ast.Attribute)}
    names = sorted(
        (node for node in ast.walk(code) if isinstance(node, ast.Name) and id(node) not in functions),
        key=lambda node: (node.lineno, node.col_offset),
    )
    return tuple(dict.fromkeys(aliases.get(node.id, node.id) for node in names))  # alias -> original


def _parse_expression(expr: str, aliases: dict[str, str]) -> ast.Expression:
    """``expr`` as Python (backquoted names replaced by aliases, recorded in ``aliases``)."""
    env = LayeredMapping(_transform_names(), name="transforms")
    try:
        return ast.parse(sanitize_variable_names(expr, env, aliases), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot parse structured term {expr!r}: {err}") from err


def _transform_names() -> dict:
    return {**TRANSFORMS, SMOOTH: None}
