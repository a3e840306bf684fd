# Set-up and everyday commands. The README's first two commands are `make repro` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Quiet pip: this machine's pip config prints a warning per package about absent local mirrors.
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: setup setup-test repro test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(PIP) -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import provena, dvc"

setup-test: $(BIN)/python
	$(PIP) -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import provena, dvc, pytest"

# Run the whole pipeline on the bundled default dataset.
repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# Lint, then every test tier that runs without a GPU (unit, pipeline on the tiny profile).
test: setup-test lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint:
	$(BIN)/ruff check src stages tests bench
	$(BIN)/ruff format --check src stages tests bench

format:
	$(BIN)/ruff format src stages tests bench
	$(BIN)/ruff check --fix src stages tests bench

bench: setup
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
