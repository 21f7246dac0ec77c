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

.PHONY: setup setup-test services run test lint clean

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
	@for script in tests/servers/*/install.sh; do echo "== $$script"; bash "$$script" || exit 1; done

services:
	bash scripts/services.sh

run: setup
	$(VENV)/bin/esap serve --host $(HOST) --port $(PORT)

test: setup-test services
	@echo "== all tests, on SQLite"
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	@echo "== the core's tests, on PostgreSQL"
	ESAP_TEST_DATABASE_URL=$(POSTGRES_TEST_URL) $(VENV)/bin/pytest tests $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) node_modules esap_core/static/vendor
