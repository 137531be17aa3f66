# Two entry points that work on a fresh machine: `make grade-examples` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/grader: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: grade-examples test lint bench selftest coverage
grade-examples: $(BIN)/grader
	$(BIN)/grader grade cnn_step_by_step examples/submissions/*.ipynb --out out/examples/cnn_step_by_step --jobs 2
	$(BIN)/grader grade optimization_methods examples/submissions/optimization_methods/*.ipynb \
		--out out/examples/optimization_methods --jobs 2

test: $(BIN)/grader
	$(BIN)/python -m pytest

lint: $(BIN)/grader
	$(BIN)/ruff check grader tests bench
	$(BIN)/mypy grader bench

bench: $(BIN)/grader
	$(BIN)/python bench/bench_grade.py

# Mutations of the grader's critical code, each of which a named test must catch (tests/selftest.py).
selftest: $(BIN)/grader
	$(BIN)/python tests/selftest.py

# The whole suite under coverage.py, the sandboxed worker included (GRADER_COVERAGE: measurement only, it makes
# one folder writable in the sandbox and runs the worker under coverage); branch coverage of the trust boundary.
COVERAGE_DIR := $(CURDIR)/out/coverage
coverage: $(BIN)/grader
	rm -rf $(COVERAGE_DIR)
	mkdir -p $(COVERAGE_DIR)/sandbox
	printf '[run]\nbranch = true\nparallel = true\npatch = _exit\n    fork\nsigterm = true\ndata_file = %s\n' \
		'$(COVERAGE_DIR)/sandbox/.coverage' > $(COVERAGE_DIR)/sandbox/coveragerc
	GRADER_COVERAGE=$(COVERAGE_DIR)/sandbox COVERAGE_FILE=$(COVERAGE_DIR)/.coverage $(BIN)/coverage run -m pytest -q
	COVERAGE_FILE=$(COVERAGE_DIR)/.coverage $(BIN)/coverage combine -q $(COVERAGE_DIR) $(COVERAGE_DIR)/sandbox
	COVERAGE_FILE=$(COVERAGE_DIR)/.coverage $(BIN)/coverage report
