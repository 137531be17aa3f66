# Two entry points that work on a fresh machine: `make grade-examples` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/grader: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: grade-examples test lint bench
grade-examples: $(BIN)/grader
	$(BIN)/grader grade cnn_step_by_step examples/submissions/*.ipynb --out out/examples --jobs 2

test: $(BIN)/grader
	$(BIN)/python -m pytest

lint: $(BIN)/grader
	$(BIN)/ruff check grader tests bench
	$(BIN)/mypy grader

bench: $(BIN)/grader
	$(BIN)/python bench/bench_grade.py
