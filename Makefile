# The two commands a new user types: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install db replica run test test-fast test-future client-check lint format typecheck bench openapi-snapshot screenshots clean

help:
	@echo "make run    serve the API with Kreuzviertel demo data on http://$(HOST):$(PORT) (docs at /docs)"
	@echo "make test   run the whole test suite against a real PostgreSQL"
	@echo "make install | db | replica | test-fast | test-future | client-check | lint | format | typecheck | bench | openapi-snapshot | screenshots | clean"

install: $(STAMP)

# Re-installs only when the lock file or the project metadata changed, so a second run is quick.
$(STAMP): requirements.lock pyproject.toml
	@scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

db: install
	@scripts/ensure-postgres.sh
	$(BIN)/parkshare migrate

# A hot standby of the local cluster on 127.0.0.1:5433 for READ_DATABASE_URL (docs/replica.md).
replica: db
	@scripts/ensure-replica.sh

# A local demo: webhooks and push may go to receivers on this machine (http, loopback), and the log
# is text for a terminal (mails without SMTP_URL are written to it), unless
# WEBHOOK_ALLOW_PRIVATE_URLS or LOG_FORMAT is set otherwise in the environment.
run: db
	$(BIN)/parkshare seed --if-empty
	WEBHOOK_ALLOW_PRIVATE_URLS=$${WEBHOOK_ALLOW_PRIVATE_URLS:-true} LOG_FORMAT=$${LOG_FORMAT:-text} \
		$(BIN)/parkshare serve --host $(HOST) --port $(PORT)

# pytest-xdist workers, each on a test database of its own; PYTEST_WORKERS=0 runs in one process
# (for --pdb or -x).
PYTEST_WORKERS ?= 2

test: db
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The suite without the tests marked `slow` (servers, subprocesses, the fuzzer, the big race): for
# the edit-test loop; `make test` still runs everything.
test-fast: db
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

# The whole suite with the process clock moved ahead (FUTURE, libfaketime's syntax): no test may
# depend on the day it runs. PostgreSQL keeps the real clock, as a server elsewhere would.
FUTURE ?= +400d
test-future: db
	@scripts/ensure-faketime.sh
	faketime -f $(FUTURE) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

# A client generated from /openapi.json (TypeScript) compiles strictly and books through a live server.
client-check: db
	@scripts/check-client.sh

bench: db
	$(BIN)/python -m bench

# The committed OpenAPI document that tests/test_openapi.py compares with the served one: run after
# changing a route or a schema, and review the diff.
openapi-snapshot: install
	$(BIN)/parkshare openapi --write tests/openapi.snapshot.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .grimp_cache .import_linter_cache

# The web app's main pages at phone and desktop size, into docs/screenshots/ (README.md shows
# them): headless Chromium against a test server with fixed data and clock (tests/screenshots.py).
screenshots: db
	@scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/screenshots.py
