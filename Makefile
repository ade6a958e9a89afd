# Velory — the two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Every command make runs (manage.py, honcho's web, worker, beat) uses the development
# settings unless told otherwise; nothing falls back to them silently outside make.
export DJANGO_SETTINGS_MODULE ?= velory.settings.local

.PHONY: run install install-dev migrate seed test lint messages format bench lock check-deploy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs are stamped so a second `make run` starts at once.
$(VENV)/.runtime: requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

var:
	mkdir -p var

migrate: install var
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

## make run: install, migrate, load the demo data and serve http://127.0.0.1:8000 with the
## Celery worker and beat (and the fake distributor) beside it. Ctrl-C stops them all.
run: seed
	$(BIN)/honcho --no-colour -f Procfile start

## make test: the whole suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set).
# One test process per core (pytest-xdist; each has its own test database): the suite in
# half the time on two cores. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install-dev
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the layers of docs/architecture.md
	$(BIN)/python manage.py catalogues check  # every marked string translated and compiled

## make messages: gather the marked strings into locale/*/django.po and compile them (gettext).
messages: install-dev
	$(BIN)/python manage.py catalogues update

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: every section; one or more by name (make bench api polling) or with BENCH_ARGS.
## The pages section installs wrk (apt-get, as root) when missing, else loads with Python.
# `make bench api polling`: the words after bench are its sections, not targets of their own.
ifeq (bench,$(firstword $(MAKECMDGOALS)))
  BENCH_WORDS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
  ifneq ($(BENCH_WORDS),)
    BENCH_ARGS ?= $(BENCH_WORDS)
    $(eval $(BENCH_WORDS):;@:)
  endif
endif
bench: install-dev
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

check-deploy: install
	DJANGO_SETTINGS_MODULE=velory.settings.production DJANGO_SECRET_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))') \
	FIELD_ENCRYPTION_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))') \
	STRIPE_SECRET_KEY=sk_live_placeholder STRIPE_WEBHOOK_SECRET=whsec_placeholder \
	DJANGO_ALLOWED_HOSTS=velory.example $(BIN)/python manage.py check --deploy --fail-level WARNING

## make lock: re-resolve the pins of pyproject.toml into the two lock files.
lock:
	rm -rf /tmp/velory-lock && $(PYTHON) -m venv /tmp/velory-lock
	/tmp/velory-lock/bin/pip install --quiet -e .
	(echo "# Runtime lock: every package make run installs, exact versions (pip freeze). Regenerate: make lock"; \
	 /tmp/velory-lock/bin/pip freeze --all --exclude pip --exclude setuptools --exclude wheel | grep -v '^-e') > requirements.lock
	/tmp/velory-lock/bin/pip install --quiet -e '.[dev]'
	(echo "# Development lock: runtime plus test and lint tools (pip freeze). Regenerate: make lock"; \
	 /tmp/velory-lock/bin/pip freeze --all --exclude pip --exclude setuptools --exclude wheel | grep -v '^-e') > requirements-dev.lock

clean:
	rm -rf var .pytest_cache
