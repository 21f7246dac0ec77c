# ESAP: `make run` serves it on the embedded defaults, `make test` runs every test. Both set up first.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/pyproject.toml)
HOST ?= 127.0.0.1
PORT ?= 5000
# Everything runs on SQLite; the core's tests (the ones that touch the database) run again on PostgreSQL,
# in a database of their own.
POSTGRES_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=
# Independent tests run on both cores; the ones sharing a one-per-machine server (DaCHS, the SAMP hub,
# Slurm) stay together on one worker (conftest.py's EXCLUSIVE_FIXTURES).
PARALLEL ?= -n 2 --dist loadgroup

.PHONY: setup setup-test services run test test-plugins-alone lint clean

setup: $(VENV)/bin/python esap_core/static/vendor/.copied
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[test]' -e client $(foreach p,$(PLUGINS),-e '$(dir $(p))[test]')

$(VENV)/bin/python:
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

esap_core/static/vendor/.copied: node_modules/.package-lock.json scripts/vendor_assets.py
	python3 scripts/vendor_assets.py
	touch $@

# Servers and the browser the tests talk to (each script is idempotent and quick when done).
setup-test: setup
	@for script in tests/servers/*/install.sh plugins/*/tests/install.sh; do echo "== $$script"; bash "$$script" || exit 1; done

services:
	bash scripts/services.sh

run: setup
	$(VENV)/bin/esap serve --host $(HOST) --port $(PORT)

# ESAP_OFFLINE: no public default service (tests/loopback_only.py also refuses any address off this machine).
test: export ESAP_OFFLINE = 1
test: setup-test services
	@echo "== all tests, on SQLite"
	$(VENV)/bin/pytest $(PARALLEL) $(PYTEST_ARGS)
	@echo "== the core's tests, on PostgreSQL"
	ESAP_TEST_DATABASE_URL=$(POSTGRES_TEST_URL) $(VENV)/bin/pytest tests $(PARALLEL) $(PYTEST_ARGS)

# Each plugin's tests from a copy of its folder outside the repository, as a partner runs them (after setup-test).
test-plugins-alone: export ESAP_OFFLINE = 1
test-plugins-alone: services
	bash scripts/test_plugins_alone.sh

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) node_modules esap_core/static/vendor
