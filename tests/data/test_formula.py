"""Structured formulas through formulaic: references (lifelines, statsmodels) and the design state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi

import structunstruct as su
from structunstruct.data import StructuredDesign, parse_structured, resolve_roles
from structunstruct.data.splines import PSplineBasis

COX_FORMULA = "age + C(race) + age:prio + np.log(prio + 1) + fin"


@pytest.fixture(scope="module")
def rossi():
    """Rossi recidivism data (shipped with lifelines); ``race`` as a 3-level string column."""
    frame = load_rossi()
    frame["race"] = np.where(frame["race"] == 1, "black", np.where(frame["mar"] == 1, "other", "white"))
    return frame


def test_cox_formula_matches_lifelines(rossi):
    """Same formula, same design: lifelines (formulaic too) and the classical Cox path agree to 1e-6."""
    reference = CoxPHFitter().fit(rossi, "week", "arrest", formula=COX_FORMULA, fit_options={"precision": 1e-12})
    y = su.data.make_survival_target(rossi["week"], rossi["arrest"].astype(bool))
    X = rossi.drop(columns=["week", "arrest"])
    model = su.DeepSurv(structured=COX_FORMULA, tabular=[], ties="efron").fit(X, y)
    ref = reference.params_
    assert set(model.summary_.index) == set(ref.index) == {
        "age", "C(race)[T.other]", "C(race)[T.white]", "age:prio", "np.log(prio + 1)", "fin"}
    np.testing.assert_allclose(model.summary_.loc[ref.index, "coef"], ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(model.summary_.loc[ref.index, "se"], reference.standard_errors_, rtol=1e-4)


def _regression_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.uniform(20, 70, n), "prio": rng.integers(0, 6, n).astype(float),
                      "race": rng.choice(["a", "b", "c"], n), "x": rng.lognormal(0, 0.5, n)})
    eta = (0.5 + 0.02 * X.age + np.where(X.race == "b", 0.4, 0.0) - 0.01 * X.age * X.prio / 10
           + 0.3 * np.log(X.x))
    return X, eta.to_numpy() + rng.normal(scale=0.5, size=n)


REG_FORMULA = "age + C(race) + age:prio + np.log(x) + I(age ** 2)"


def test_normal_regression_formula_matches_statsmodels_ols():
    X, y = _regression_frame()
    model = su.SemiStructuredRegressor(family="normal", structured=REG_FORMULA, tabular=[]).fit(X, y)
    ols = smf.ols(f"y ~ {REG_FORMULA}", data=X.assign(y=y)).fit()
    loc = model.summary_.loc["loc"]
    assert set(loc.index) == set(ols.params.index)
    np.testing.assert_allclose(loc.loc[ols.params.index, "coef"], ols.params, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.predict(X), ols.fittedvalues, rtol=1e-7, atol=1e-8)


def test_poisson_regression_formula_matches_statsmodels_glm():
    X, eta = _regression_frame(seed=1)
    y = np.random.default_rng(2).poisson(np.exp(0.3 * (eta - eta.mean()))).astype(float)
    formula = "age + C(race) + age:prio + np.log(x)"
    model = su.SemiStructuredRegressor(family="poisson", structured=formula, tabular=[]).fit(X, y)
    ref = smf.glm(f"y ~ {formula}", data=X.assign(y=y), family=sm.families.Poisson()).fit(tol=1e-12)
    loc = model.summary_.loc["loc"]
    np.testing.assert_allclose(loc.loc[ref.params.index, "coef"], ref.params, atol=1e-6, rtol=0)


# -- the design: parsing, coding and its state at predict time ---------------------------


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(50, 5, n), "prio": rng.integers(0, 5, n).astype(float),
                         "race": rng.choice(list("abc"), n), "flag": rng.random(n) < 0.5,
                         "g": pd.Categorical(rng.choice(list("xy"), n), categories=["z", "y", "x"]),
                         "x": rng.uniform(1, 2, n), "bmi": rng.normal(25, 3, n)})


def test_terms_and_columns_come_from_the_formula():
    terms = parse_structured("age*prio + C(race) + np.log(x) + s(bmi, df=3)")
    assert [str(t) for t in terms] == ["age", "prio", "age:prio", "C(race)", "np.log(x)", "s(bmi)"]
    assert [t.columns for t in terms][2:] == [("age", "prio"), ("race",), ("x",), ("bmi",)]
    assert terms[-1].kind == "smooth" and terms[-1].df == 3.0
    assert [str(t) for t in parse_structured("age*prio + x - age:prio")] == ["age", "prio", "x"]
    listed = parse_structured(["age", "s(bmi)", "age:prio"])
    assert [str(t) for t in listed] == ["age", "s(bmi)", "age:prio"]
    roles = resolve_roles(_frame(), "np.log(x) + age:prio", None, None, None)
    assert roles.structured_columns == ("x", "age", "prio")
    # names in value positions are columns, even where they shadow a transform
    shadow = parse_structured("np.log(s) + center(scale) + C(race, contr.sum) + np.log(`my col`)")
    assert [t.columns for t in shadow] == [("s",), ("scale",), ("race",), ("my col",)]


def test_list_items_without_formula_syntax_are_column_names():
    terms = parse_structured(["my col", "a-b", "a/b", "a.b", "s(bmi)", "age:prio"])
    assert [t.columns for t in terms] == [("my col",), ("a-b",), ("a/b",), ("a.b",), ("bmi",), ("age", "prio")]
    assert parse_structured(["s(`my col`, df=3)"])[0].columns == ("my col",)
    frame = pd.DataFrame({"my col": [1.0, 2.0, 4.0], "a-b": [0.0, 1.0, 3.0]})
    design = StructuredDesign(parse_structured(["my col", "a-b"])).fit(frame)
    assert design.feature_names == ["my col", "a-b"]


@pytest.mark.parametrize(("formula", "match"), [
    ("age + age", "'age' appears more than once"),
    ("age*prio + prio", "'prio' appears more than once"),
    ("y ~ age", "left-hand side"),
    ("s(age):prio", "interaction"),
    ("s(age, k=3)", r"use s\(column\)"),
])
def test_malformed_formulas_are_refused(formula, match):
    with pytest.raises(ValueError, match=match):
        parse_structured(formula)


def test_design_names_and_coding():
    design = StructuredDesign(parse_structured(
        "age + C(race) + race + flag + g + age:prio + race:flag + age:race + C(race):x"))
    design.fit(_frame())
    assert design.feature_names == [
        "age", "C(race)[T.b]", "C(race)[T.c]", "race[b]", "race[c]", "flag[True]", "g[x]", "age:prio",
        "race[b]:flag[True]", "race[c]:flag[True]", "age:race[b]", "age:race[c]",
        # x alone is not in the formula: C(race) gets one indicator per level (R's rule,
        # named by formulaic without the "T.")
        "C(race)[a]:x", "C(race)[b]:x", "C(race)[c]:x"]
    raw = design.transform(_frame(), standardize=False)
    frame = _frame()
    np.testing.assert_array_equal(raw[:, 7], frame.age * frame.prio)
    np.testing.assert_array_equal(raw[:, 10], frame.age * (frame.race == "b"))
    np.testing.assert_array_equal(raw[:, 13], frame.x * (frame.race == "b"))


def test_stateful_transforms_are_replayed_on_new_data():
    train, new = _frame(), _frame(seed=1).iloc[:7]
    design = StructuredDesign(parse_structured("center(x) + scale(age) + s(bmi)")).fit(train)
    raw = design.transform(new, standardize=False)
    np.testing.assert_allclose(raw[:, 0], new.x - train.x.mean())
    np.testing.assert_allclose(raw[:, 1], (new.age - train.age.mean()) / train.age.std())
    basis = PSplineBasis(10).fit(train.bmi.to_numpy())
    np.testing.assert_allclose(raw[:, 2:], basis.transform(new.bmi.to_numpy()))
    (block,) = design.penalty_blocks
    assert block.name == "s(bmi)" and block.columns == slice(2, 11)
    np.testing.assert_allclose(block.matrix, basis.penalty_)


@pytest.mark.parametrize(("formula", "change", "match"), [
    ("age + C(race)", lambda X: X.assign(race=X.race.where(X.index != 3, "q")),
     r"structured column 'race' has levels \['q'\] not seen in training"),
    ("age:race", lambda X: X.assign(race=X.race.where(X.index != 3, "q")),
     r"structured column 'race' has levels \['q'\] not seen"),
    ("np.log(x)", lambda X: X.assign(x=X.x.where(X.index != 2)), "structured column 'x' has 1 NaN"),
    ("C(race)", lambda X: X.assign(race=X.race.where(X.index != 2)), "structured column 'race' has 1 missing"),
    ("np.log(x - 1.5)", lambda X: X, r"structured term 'np.log\(x - 1.5\)' has \d+ NaN"),
])
def test_new_data_outside_the_training_design_is_refused(formula, change, match):
    design = StructuredDesign(parse_structured(formula))
    if "1.5" in formula:  # refused in training already
        with pytest.raises(ValueError, match=match):
            design.fit(_frame())
        return
    design.fit(_frame())
    with pytest.raises(ValueError, match=match):
        design.transform(change(_frame()))


def test_orthogonalize_auto_reads_columns_inside_expressions():
    from structunstruct.estimators.base import deep_part_sees_structured

    assert deep_part_sees_structured(resolve_roles(_frame(), "np.log(x)", ["x", "age"], None, None))
    assert deep_part_sees_structured(resolve_roles(_frame(), "age:prio", ["prio"], None, None))
    assert not deep_part_sees_structured(resolve_roles(_frame(), "np.log(x) + C(race)", ["age"], None, None))


def test_design_equals_formulaic_model_matrix_on_training_and_new_data():
    """Expressions, C() coding, interactions and stateful transforms as formulaic's own materializer
    gives them (names and values), in training and replayed on new rows."""
    from formulaic import model_matrix

    formula = ("age + C(race) + age:prio + np.log(x) + I(age ** 2) + center(x) + scale(prio) + poly(x, 2)"
               " + bs(x, df=4) + C(race):age + C(race, contr.sum):prio")
    train, new = _frame(80), _frame(9, seed=3)
    reference = model_matrix(formula, train)
    design = StructuredDesign(parse_structured(formula))
    design.fit(train)
    assert sorted(design.feature_names) == sorted(c for c in reference.columns if c != "Intercept")
    for frame, expected in ((train, reference), (new, reference.model_spec.get_model_matrix(new))):
        ours = pd.DataFrame(design.transform(frame, standardize=False), columns=design.feature_names)
        np.testing.assert_allclose(ours.to_numpy(), expected[design.feature_names].to_numpy(), rtol=1e-12, atol=1e-12)
