"""The one benchmark registry: every entry imports, the CLI lists it without the repository."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import benchmarks  # the repository's scripts register themselves on import
import structunstruct
from structunstruct.benchmarks import (
    BENCHMARKS,
    Benchmark,
    dispatch,
    get_benchmark,
    register_benchmark,
    run_benchmark,
)

PACKAGE = Path(structunstruct.__file__).resolve().parent
REPOSITORY = Path(benchmarks.__file__).resolve().parent


def _modules_with_main(folder: Path, prefix: str) -> set[str]:
    """Modules of ``folder`` (not recursive) that define a top-level ``main``."""
    found = set()
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.add(f"{prefix}.{path.stem}")
    return found - {f"{prefix}.__main__"}


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_registered_benchmark_imports(name: str) -> None:
    benchmark = get_benchmark(name)
    assert callable(benchmark.load())
    assert benchmark.description and benchmark.entry_point.endswith(":main")


def test_every_script_with_a_main_is_registered() -> None:
    registered = {b.entry_point.partition(":")[0] for b in BENCHMARKS.values()}
    scripts = (_modules_with_main(REPOSITORY, "benchmarks")
               | _modules_with_main(PACKAGE / "benchmarks", "structunstruct.benchmarks"))
    assert scripts == registered


def test_committed_results_are_the_registered_files() -> None:
    committed = {path.name for path in (REPOSITORY / "results").iterdir()}
    for benchmark in BENCHMARKS.values():
        assert set(benchmark.results) <= committed, benchmark.name


def test_no_sys_path_changes_or_repository_imports_in_the_package() -> None:
    offending = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if ("sys.path." in code or "sys.path +=" in code or "sys.path =" in code
                    or code.lstrip().startswith(("import benchmarks", "from benchmarks"))):
                offending.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert offending == []


@pytest.fixture
def package_only(tmp_path: Path) -> dict[str, str]:
    """An environment where only the package is importable: a folder holding a link to it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "structunstruct").symlink_to(PACKAGE, target_is_directory=True)
    return {**os.environ, "PYTHONPATH": str(site)}


def test_cli_lists_without_importing_the_repository(tmp_path: Path,
                                                    package_only: dict[str, str]) -> None:
    script = textwrap.dedent("""
        import sys
        import structunstruct
        from structunstruct.cli import main
        code = main(["benchmark", "--list"])
        assert structunstruct.__file__.startswith(sys.argv[1]), structunstruct.__file__
        assert not [m for m in sys.modules if m.split(".")[0] == "benchmarks"], "repository"
        sys.exit(code)
    """)
    out = subprocess.run([sys.executable, "-c", script, package_only["PYTHONPATH"]],
                         cwd=tmp_path, env=package_only, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    names = {line.split()[0] for line in out.stdout.splitlines()[2:] if line[:1].strip()}
    assert names == {"survival", "images", "regression", "speed", "cox_speed", "pamm_speed",
                     "deepsurv_epoch"}
    assert "[needs structunstruct[benchmarks]]" in out.stdout


def test_python_m_structunstruct_benchmark_list_outside_the_repository(
        tmp_path: Path, package_only: dict[str, str]) -> None:
    out = subprocess.run([sys.executable, "-m", "structunstruct", "benchmark", "--list"],
                         cwd=tmp_path, env=package_only, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: structunstruct benchmark NAME")
    assert "\nsurvival " in out.stdout and "coverage" not in out.stdout


def test_repository_listing_holds_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["--list"], prog="python -m benchmarks") == 0
    listed = capsys.readouterr().out
    assert "\nsurvival " in listed and "\ncoverage " in listed and "\nmutation_probe " in listed


def test_quick_stands_for_the_registered_quick_options(
        capsys: pytest.CaptureFixture[str]) -> None:
    # mutation_probe's quick run is --list: it prints the mutants and runs nothing
    assert dispatch(["mutation_probe", "--quick"], prog="python -m benchmarks") == 0
    assert "cox-loss-sign" in capsys.readouterr().out


def test_run_assembles_quick_or_full_options_then_the_given_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BENCHMARKS, "echo", Benchmark(
        "echo", "json:dumps", "echo", quick=("--small",), full=("--reps", "9")))
    assert json.loads(run_benchmark("echo", ["--seed", "1"], quick=True)) == ["--small", "--seed", "1"]
    assert json.loads(run_benchmark("echo", ["--seed", "1"])) == ["--reps", "9", "--seed", "1"]


def test_unknown_name_and_missing_quick_run_are_clear_errors() -> None:
    with pytest.raises(SystemExit, match=r"unknown benchmark 'nope'; known: \[.*'survival'"):
        dispatch(["nope"], prog="structunstruct benchmark")
    with pytest.raises(KeyError, match="known:"):
        get_benchmark("nope")
    with pytest.raises(ValueError, match="'scale' has no quick run"):
        run_benchmark("scale", quick=True)


def test_register_refuses_a_different_benchmark_under_a_known_name() -> None:
    survival = get_benchmark("survival")
    assert register_benchmark(survival) is survival  # the same settings again: accepted
    with pytest.raises(ValueError, match="different benchmark named 'survival'"):
        register_benchmark(Benchmark("survival", "json:dumps", "another"))
    assert get_benchmark("survival") is survival


def test_load_names_the_module_and_the_extra() -> None:
    with pytest.raises(ImportError, match=r"'structunstruct_absent'.*structunstruct\[benchmarks\]"):
        Benchmark("absent", "structunstruct_absent:main", "absent").load()
