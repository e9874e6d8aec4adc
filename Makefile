# Two commands for a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install install-dev

# What production runs (requirements.txt) ...
$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# ... and, for `make run` and the tests, the tools on top (requirements-dev.txt:
# honcho, pytest, localstripe, ...).
$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

# Embedded mode: SQLite under ./var/, Celery on the filesystem transport, mail in ./var/mail/.
# honcho hands each process a PORT of its own from PORT up (web gets PORT itself), so
# the links the worker writes are pinned to web's.
PORT ?= 8000
run: install-dev
	$(BIN)/python -m api.cli migrate
	PORT=$(PORT) PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://localhost:$(PORT)} \
	  PATH=$(abspath $(BIN)):$$PATH $(BIN)/honcho start web worker beat

# The whole suite on SQLite, then on PostgreSQL (skipped where there is none, unless CI=true).
test: install-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	TEST_DATABASE=sqlite $(BIN)/pytest -q
	TEST_DATABASE=postgres $(BIN)/pytest -q

lint: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
