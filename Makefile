# Set-up and everyday commands. The README's first two commands are `make repro` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Quiet pip: this machine's pip config prints a warning per package about absent local mirrors.
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: setup setup-test setup-docs setup-browser repro test test-unit test-pipeline test-browser \
	test-gpu lint format bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(PIP) -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import provena, dvc"

setup-test: $(BIN)/python
	$(PIP) -e '.[test,docs]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import provena, dvc, pytest, mkdocs"

setup-docs: $(BIN)/python
	$(PIP) -e '.[docs]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import provena, mkdocs"

# Debian's chromium, for the tests that open the HTML reports in a headless browser
# (tests/browser, through tests/helpers/browser.py). Installed only when no chromium is on
# PATH; apt needs root (CI is root).
# If it cannot be installed the build goes on and those tests are skipped with the reason.
CHROMIUM := $(firstword $(shell command -v chromium chromium-browser google-chrome 2>/dev/null))
setup-browser:
ifeq ($(CHROMIUM),)
	@if [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "setup-browser: could not install chromium with apt-get; browser tests will be skipped"; \
	else \
		echo "setup-browser: no chromium on PATH and not root; install it with"; \
		echo "  sudo apt-get install chromium    (browser tests will be skipped until then)"; \
	fi
endif

# Run the whole pipeline on the bundled default dataset.
repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# Tests, one folder per tier (tests/conftest.py says what each holds). `make test` (CI) lints,
# runs every tier (the browser tier skips without chromium and the gpu tier without CUDA, each
# with the reason), then builds the docs site, so CI builds it too. The per-tier targets run one tier after `make setup-test`; plain
# `pytest` is `make test-unit`, the inner loop.
PYTEST := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest
TIERS := tests/unit tests/pipeline tests/browser tests/gpu

test: setup-test setup-browser lint
	$(PYTEST) $(TIERS)
	$(MKDOCS)

test-unit:
	$(PYTEST) tests/unit

test-pipeline:
	$(PYTEST) tests/pipeline

test-browser: setup-browser
	$(PYTEST) tests/browser

test-gpu:
	$(PYTEST) tests/gpu

lint:
	$(BIN)/ruff check src stages tests bench docs
	$(BIN)/ruff format --check src stages tests bench docs

format:
	$(BIN)/ruff format src stages tests bench docs
	$(BIN)/ruff check --fix src stages tests bench docs

# The docs site into site/ (git-ignored), offline; --strict turns every warning (a broken link,
# a page missing from the nav) into an error. docs/hooks.py generates the reference pages.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
docs: setup-docs
	$(MKDOCS)

bench: setup
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
