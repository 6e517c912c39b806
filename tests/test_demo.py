"""The demo's reporting pieces on tiny data, and the command line (not the whole demo)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from structunstruct import DeepSurv
from structunstruct.cli import build_parser, main
from structunstruct.demo import (
    CLASSICAL_COX,
    LIFELINES_COX,
    ORACLE_MODEL,
    TABULAR_MODEL,
    DemoSettings,
    LifelinesCox,
    PartResult,
    add_gaps,
    coefficient_agreement,
    dummy_design,
    fit_and_evaluate,
    report_markdown,
    run_demo,
    stratified_split,
)
from structunstruct.reporting import (
    ModelResult,
    format_markdown,
    gap_closed,
    plot_hazard_ratio_figure,
    plot_survival_check,
    plot_training_curves,
    results_table,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_split(gbsg2):
    X, y = gbsg2
    # tgrade is left out: no event among the few grade I rows of this subset, so its
    # coefficient would diverge (monotone likelihood) and no two fitters agree.
    X = X.drop(columns="tgrade").iloc[:100]
    split, _ = stratified_split(X, y[:100], seed=0, train_size=0.75)
    return split


@pytest.fixture(scope="module")
def tiny_cox(tiny_split):
    return DeepSurv(structured=list(tiny_split.X_train.columns), tabular=[]).fit(
        tiny_split.X_train, tiny_split.y_train
    )


def test_stratified_split_sizes_and_events(gbsg2):
    X, y = gbsg2
    split, test = stratified_split(X, y, seed=0, train_size=0.75)
    assert (len(split.X_train), len(split.X_test)) == (514, 172)
    assert split.X_test.index.equals(X.index[test])
    assert abs(split.y_train["event"].mean() - split.y_test["event"].mean()) < 0.01


def test_dummy_design_names_match_summary(tiny_split, tiny_cox):
    design = dummy_design(tiny_split.X_train)
    assert list(design.columns) == list(tiny_cox.summary_.index)
    assert design.dtypes.eq(float).all()


def test_fit_and_evaluate_and_lifelines_agreement(tiny_split, tiny_cox):
    reference = LifelinesCox()
    ours = fit_and_evaluate(LIFELINES_COX, reference, tiny_split)
    assert ours.model == LIFELINES_COX
    assert 0.5 < ours.c_index <= 1.0
    assert 0.0 < ours.ibs < 0.25
    assert ours.fit_seconds >= 0.0
    coef_diff, se_diff = coefficient_agreement(tiny_cox, reference)
    # lifelines stops at its convergence tolerance (here ~4e-5 from the optimum on 75
    # rows; on all of GBSG2 the difference is ~1e-9)
    assert coef_diff < 1e-4
    assert se_diff < 1e-4


def test_results_table_rows_and_columns():
    results = [
        ModelResult(TABULAR_MODEL, 0.65, 0.2, 1.0),
        ModelResult("fusion", 0.70, 0.18, 2.0),
        ModelResult(ORACLE_MODEL, 0.75),
    ]
    add_gaps(results, fusion=("fusion",))
    table = results_table(results, with_gap=True)
    assert list(table.columns) == ["model", "Harrell C", "IBS", "fit s", "gap closed"]
    assert list(table["model"]) == [TABULAR_MODEL, "fusion", ORACLE_MODEL]
    np.testing.assert_allclose(table["gap closed"], [0.0, 0.5, 1.0])
    assert math.isnan(table.loc[2, "IBS"])
    assert list(results_table(results).columns) == ["model", "Harrell C", "IBS", "fit s"]


def test_gap_closed_without_a_gap_is_nan():
    assert math.isnan(gap_closed(0.7, 0.7, 0.7))
    assert gap_closed(0.6, 0.5, 0.7) == pytest.approx(0.5)


def test_format_markdown():
    table = results_table([ModelResult("a", 0.61234, None, 12.345, None)], with_gap=True)
    lines = format_markdown(table).splitlines()
    assert lines[0] == "| model | Harrell C | IBS | fit s | gap closed |"
    assert lines[1] == "|---|---|---|---|---|"
    assert lines[2] == "| a | 0.612 | – | 12.3 | – |"


def test_plots_are_written(tmp_path, tiny_split, tiny_cox):
    X, y = tiny_split.X_test, tiny_split.y_test
    survival = plot_survival_check(tiny_cox, X, y, tmp_path / "sub" / "survival.png", title="tiny")
    ratios = plot_hazard_ratio_figure(tiny_cox, tmp_path / "ratios.png")
    deep = DeepSurv(tabular=["age", "pnodes"], max_epochs=2, random_state=0).fit(
        tiny_split.X_train, tiny_split.y_train
    )
    curves = plot_training_curves(deep, tmp_path / "curves.png")
    for path in (survival, ratios, curves):
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_errors(tmp_path, tiny_split, tiny_cox):
    X, y = tiny_split.X_test, tiny_split.y_test
    with pytest.raises(ValueError, match="same samples"):
        plot_survival_check(tiny_cox, X, y[:-1], tmp_path / "a.png")
    with pytest.raises(ValueError, match="history is empty"):
        plot_training_curves(tiny_cox, tmp_path / "b.png")


def test_run_demo_writes_report(tmp_path, monkeypatch, capsys, tiny_split):
    def tiny_part(settings):
        result = fit_and_evaluate(CLASSICAL_COX, DeepSurv(structured=["age", "pnodes"],
                                                          tabular=[]), tiny_split)
        return PartResult("tiny part", results_table([result]), ["a note"], [])

    monkeypatch.setattr("structunstruct.demo.PARTS", (tiny_part,))
    settings = DemoSettings(quick=True, seed=3, output=tmp_path / "reports")
    path = run_demo(settings)
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "reports" / "demo.md"
    assert "## 1. tiny part" in text and f"| {CLASSICAL_COX} |" in text
    assert "--quick --seed 3" in text and "CPU cores" in text
    captured = capsys.readouterr()
    assert "| model | Harrell C | IBS | fit s |" in captured.out
    assert f"fitting {CLASSICAL_COX}" in captured.err


def test_report_markdown_links_figures(tmp_path):
    part = PartResult("p", results_table([ModelResult("m", 0.6)]), [], [tmp_path / "x.png"])
    text = report_markdown(DemoSettings(output=tmp_path), [part], 1.0)
    assert "![x](x.png)" in text
    assert "| m | 0.600 | – | – |" in text


def test_settings_quick_and_full():
    quick, full = DemoSettings(quick=True), DemoSettings()
    assert (quick.n_images, quick.n_train_images, quick.image_max_epochs) == (1500, 1000, 20)
    assert (full.n_images, full.n_train_images) == (3000, 2000)


def test_cli_parses_demo_options():
    args = build_parser().parse_args(["demo", "--quick", "--output", "out", "--seed", "4"])
    assert (args.command, args.quick, args.output, args.seed) == ("demo", True, "out", 4)
    defaults = build_parser().parse_args(["demo"])
    assert (defaults.quick, defaults.output, defaults.seed) == (False, "reports", 0)


def test_cli_requires_a_command():
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code != 0


def test_python_m_help_lists_demo():
    result = subprocess.run(
        [sys.executable, "-m", "structunstruct", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert "demo" in result.stdout
