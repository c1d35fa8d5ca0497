# anyport: two commands set up everything on a fresh machine.
#   make run   - create .venv if needed, install, and start the web page on http://127.0.0.1:8640/
#   make test  - create .venv with dev dependencies, then ruff, mypy --strict and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run demo test lint types pytest venv clean bench golden test-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,web]'
	touch $(STAMP)

venv: $(STAMP)

# Sets up and starts the web page and API on http://127.0.0.1:8640/ (Ctrl-C stops it).
run: venv
	$(BIN)/anyport serve --host 127.0.0.1 --port 8640

# The command line at work.
demo: venv
	$(BIN)/anyport --help
	$(BIN)/anyport 6881
	$(BIN)/anyport search "instant messaging"

lint: venv
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

types: venv
	$(BIN)/mypy

test-deps:
	bash scripts/install-test-deps.sh

pytest: venv test-deps
	$(BIN)/python -m pytest

test: lint types pytest

golden: venv
	$(BIN)/python -m pytest --update-golden

bench: venv
	$(BIN)/python benchmarks/bench_lookup.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
