# `make test` and `make demo` each work on a fresh machine: they create .venv when it
# is missing (torch 2.14.1 and the rest pinned in constraints.txt) and then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: test demo demo-quick lint docs benchmark-cox benchmark-quick venv clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

demo: $(STAMP)
	$(PY) -m structunstruct demo

demo-quick: $(STAMP)
	$(PY) -m structunstruct demo --quick

lint: $(STAMP)
	$(PY) -m ruff check structunstruct tests benchmarks

# API reference (Sphinx + numpydoc), warnings as errors, into docs/_build/html
docs: $(STAMP)
	rm -rf docs/_build docs/generated
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

benchmark-cox: $(STAMP)
	$(PY) -m benchmarks cox_speed

benchmark-quick: $(STAMP)
	$(PY) -m structunstruct benchmark survival --quick --output $$(mktemp -d)

clean:
	rm -rf $(VENV) reports .pytest_cache docs/_build docs/generated
