# Two commands for a new user:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= demo-output

.PHONY: demo test test-slow check install install-test lint bench clean test-floors fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

## set up and run the demo: simulate virtual patients, write a figure and tables to $(OUT)/
demo: install
	$(BIN)/fitts demo --out $(OUT)

## set up and run the test suite without the slow tests (and the linter)
test: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow"

## the tests marked slow: whole theories, long simulations, the demo end to end
test-slow: install-test
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m slow

## everything: the linter, the quick suite and the slow tests (what CI runs)
check: test test-slow

## install the lowest versions pyproject.toml allows (.ci/floors.txt) in $(FLOORS) and run the tests
FLOORS ?= .venv-floors
test-floors:
	$(PYTHON) -m venv $(FLOORS)
	$(FLOORS)/bin/python -m pip install --quiet -c .ci/floors.txt -e ".[test]"
	$(FLOORS)/bin/python -m pytest -q -m "not slow"

## fuzz every kind of input file and simulate's options (thousands of cases; a few minutes)
fuzz: install-test
	$(BIN)/python -m pytest -q -m slow tests/test_fuzz_inputs.py

bench: install
	$(BIN)/python bench/bench_simulate.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
