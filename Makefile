# The two commands: `make run` (the whole system at http://127.0.0.1:5000) and `make test` (everything).
# Both install what is missing first (system packages when root or with sudo, then .venv); a second run with
# nothing changed only checks.

VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
PYTHON_SOURCES := citymgmt grids dispatch tests wsgi.py

.PHONY: run test bench setup setup-test lint typecheck pytest services-up services-down format clean-var translations

run: setup
	@bash citymgmt/local/run.sh

test: setup-test lint typecheck pytest

setup:
	@bash citymgmt/local/bootstrap.sh run

setup-test:
	@bash citymgmt/local/bootstrap.sh test

lint:
	$(BIN)/ruff check $(PYTHON_SOURCES)
	$(BIN)/ruff format --check $(PYTHON_SOURCES)

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup-test
	$(BIN)/pytest tests/perf -m perf $(PYTEST_ARGS)

format: setup-test
	$(BIN)/ruff format $(PYTHON_SOURCES)
	$(BIN)/ruff check --fix $(PYTHON_SOURCES)

# After changing a user-visible string: extract, merge into the zh_CN catalogue (translate what is new), compile.
# The compiled .mo is committed, so a fresh clone works without this step.
translations: setup-test
	@mkdir -p var
	$(BIN)/pybabel extract -F citymgmt/web/babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o var/messages.pot .
	$(BIN)/pybabel update -i var/messages.pot -d citymgmt/web/translations --width 120
	$(BIN)/pybabel compile -d citymgmt/web/translations --statistics

services-up: setup
	$(BIN)/citymgmt services up

services-down:
	$(BIN)/citymgmt services down
