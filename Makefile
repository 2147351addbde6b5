# make demo: show migsafe on the demo fixture.  make test: run the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files keyed on pyproject.toml: reinstall only when the dependencies may have changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@

# The demo is meant to show findings: exit 1 (findings) is fine, exit 2 (migsafe failed) is not.
demo: $(VENV)/.installed
	$(BIN)/migsafe check fixtures/demo || [ $$? -eq 1 ]
	$(BIN)/migsafe check fixtures/alembic_shop || [ $$? -eq 1 ]

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest
