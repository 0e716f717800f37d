# Failsafe: `make run` for the demo, `make test` for the suite. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test faults lint typecheck layers format lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip

# Stamp files: reinstall only when the pins change.
$(VENV)/.runtime: $(BIN)/python requirements.txt sdk/pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e ./sdk
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The demo on the embedded default: SQLite, in-memory channel layer, Celery on a folder.
run: export DEBUG ?= 1
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Failsafe: open http://$(HOST):$(PORT)/ and sign in with a name above. Ctrl-C stops it."
	@echo ""
	HOST=$(HOST) WEB_PORT=$(PORT) $(BIN)/honcho -f Procfile start

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Types over the app code; the settings' defaults (SQLite) are enough to load the apps.
typecheck: $(VENV)/.dev
	DEBUG=1 $(BIN)/mypy

# How the apps import each other; tests/test_layers.py fails the suite on a wrong one.
layers:
	$(BIN)/python tools/import_graph.py --sizes

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The suite on real PostgreSQL and Redis (config/settings_test.py has the defaults).
test: lint typecheck
	$(BIN)/pytest

# The fault suite (docs/RELIABILITY.md): its own PostgreSQL and Redis, the real web server,
# worker and beat, restarted and killed under load. Not part of `make test`.
faults: $(VENV)/.dev
	$(BIN)/pytest -c faults/pytest.ini faults

lock: $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile --quiet requirements.in -o requirements.txt --python-version 3.11
	$(BIN)/uv pip compile --quiet requirements-dev.in -o requirements-dev.txt --python-version 3.11

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
