# Two commands for a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

# Embedded mode: SQLite under ./var/, Celery on the filesystem transport, mail in ./var/mail/.
run: install
	$(BIN)/python -m api.cli migrate
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/honcho start web worker beat

# The whole suite on SQLite, then on PostgreSQL (skipped where there is none, unless CI=true).
test: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	TEST_DATABASE=sqlite $(BIN)/pytest -q
	TEST_DATABASE=postgres $(BIN)/pytest -q

lint: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
