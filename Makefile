# Two commands: `make run` and `make test`. Everything else is a detail of those two.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test check install clean bench screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

## run: install, migrate the SQLite database, make sure a development project and user exist, serve.
run: $(RUN_STAMP)
	$(BIN)/dm dev

## test: install the test extras and run every check (lint, format, types, imports, tests).
test: $(TEST_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/check

## screenshots: retake the README's tour pictures (docs/tour/) in Chromium, from the browser tests.
screenshots: $(TEST_STAMP)
	DM_TOUR_DIR=docs/tour $(BIN)/python -m pytest -q tests/test_browser/test_every_page.py

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache .hypothesis
