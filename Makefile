# make demo: show migsafe on the demo fixture.  make test: run the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The Django tests run a second time under the oldest supported Django (4.2 LTS); .venv has the newest.
VENV42 := .venv-django42
DJANGO_TESTS = tests/test_rule_docs.py $(wildcard tests/sources/django/test_*.py)
# The Alembic tests (not the Django ones: -k 'not django') run a third time under the oldest
# SQLAlchemy and Alembic that pyproject.toml allows; tests/test_packaging.py checks these pins are
# its lower bounds.
VENV_OLDEST := .venv-sqlalchemy14
OLDEST_PINS := sqlalchemy==1.4.32 alembic==1.13.0
ALEMBIC_TESTS = $(wildcard tests/sources/alembic/test_*.py) tests/sources/core/test_isolation.py tests/test_fixtures.py \
	tests/test_cli.py tests/fixes/test_plans_self_check.py
# --database on SQLAlchemy 1.4 (psycopg2): the runners' tests (the rule pages' are the newest's)
ALEMBIC_TESTS += $(filter-out tests/database/test_rule_docs_database.py,$(wildcard tests/database/test_*.py))

.PHONY: demo test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files keyed on pyproject.toml: reinstall only when the dependencies may have changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[django]'
	touch $@

# (database: the tests of --database and trace run on an embedded PostgreSQL and a MariaDB when present)
$(VENV)/.installed-test: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install -e '.[test,django,database]'
	touch $@

$(VENV42)/bin/python:
	$(PYTHON) -m venv $(VENV42)

$(VENV42)/.installed-test: pyproject.toml | $(VENV42)/bin/python
	$(VENV42)/bin/pip install -e '.[test,django]' 'django>=4.2,<5'
	touch $@

$(VENV_OLDEST)/bin/python:
	$(PYTHON) -m venv $(VENV_OLDEST)

$(VENV_OLDEST)/.installed-test: pyproject.toml Makefile | $(VENV_OLDEST)/bin/python  # (OLDEST_PINS are in this file)
	$(VENV_OLDEST)/bin/pip install -e '.[test,database]' $(OLDEST_PINS) psycopg2-binary
	touch $@

# The demo is meant to show findings: exit 1 (findings) is fine, exit 2 (migsafe failed) is not.
demo: $(VENV)/.installed
	$(BIN)/migsafe check fixtures/demo || [ $$? -eq 1 ]
	$(BIN)/migsafe check fixtures/alembic_shop || [ $$? -eq 1 ]
	$(BIN)/migsafe check fixtures/django_shop || [ $$? -eq 1 ]

test: $(VENV)/.installed-test $(VENV42)/.installed-test $(VENV_OLDEST)/.installed-test
	$(BIN)/python -m pytest
	$(VENV42)/bin/python -m pytest $(DJANGO_TESTS)
	$(VENV_OLDEST)/bin/python -m pytest $(ALEMBIC_TESTS) -k 'not django'
