# make demo: show migsafe on the demo fixture.  make test: run the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The Django tests run a second time under the oldest supported Django (4.2 LTS); .venv has the newest.
VENV42 := .venv-django42
DJANGO_TESTS = tests/test_django_fixture.py tests/test_rule_docs.py $(wildcard tests/sources/test_django*.py)

.PHONY: demo test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files keyed on pyproject.toml: reinstall only when the dependencies may have changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[django]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test,django]'
	touch $@

$(VENV42)/bin/python:
	$(PYTHON) -m venv $(VENV42)

$(VENV42)/.installed-test: pyproject.toml | $(VENV42)/bin/python
	$(VENV42)/bin/pip install -e '.[test,django]' 'django>=4.2,<5'
	touch $@

# The demo is meant to show findings: exit 1 (findings) is fine, exit 2 (migsafe failed) is not.
demo: $(VENV)/.installed
	$(BIN)/migsafe check fixtures/demo || [ $$? -eq 1 ]
	$(BIN)/migsafe check fixtures/alembic_shop || [ $$? -eq 1 ]
	$(BIN)/migsafe check fixtures/django_shop || [ $$? -eq 1 ]

test: $(VENV)/.installed-test $(VENV42)/.installed-test
	$(BIN)/python -m pytest
	$(VENV42)/bin/python -m pytest $(DJANGO_TESTS)
