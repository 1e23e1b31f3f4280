# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

## Start the platform with demo data at http://127.0.0.1:5000 (SQLite, jobs in-process).
run: install
	$(BIN)/hubcore db upgrade
	$(BIN)/hubcore demo
	$(BIN)/hubcore run --host 127.0.0.1 --port 5000

## Run the whole test suite (SQLite; PostgreSQL and Redis too when HUBCORE_TEST_* are set).
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)
