# The two commands a newcomer runs: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST := $(PY) -m pytest
PYTEST_ARGS ?=

.PHONY: demo test test-sqlite test-postgres lint bench install install-dev system-packages clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian packages the tests start themselves (PostgreSQL server, Redis, Chromium); installed when missing.
system-packages:
	@$(PY) -m tests.system_packages

# Runs the whole product on one machine: web server, one qcluster and the Cloud API simulator.
# Development settings for this machine, written once: random secrets and the demo admin's password.
.env: | $(VENV)/.installed
	@$(PY) -c 'import secrets; from cryptography.fernet import Fernet; print("# Written by make demo: development settings for this machine (never commit).\nDEBUG=true\nSECRET_KEY=" + secrets.token_urlsafe(50) + "\nSECRETS_ENCRYPTION_KEYS=" + Fernet.generate_key().decode() + "\nDEMO_ADMIN_PASSWORD=" + secrets.token_urlsafe(12))' > .env
	@echo "Wrote .env (development settings and the demo admin password)."

demo: install .env
	$(PY) manage.py demo_prepare
	$(PY) manage.py run_stack

test: install-dev system-packages
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install-dev
	$(PYTEST) $(PYTEST_ARGS)

test-postgres: install-dev
	$(PY) tests/postgres_server.py -- $(PYTEST) $(PYTEST_ARGS)

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Each prints one JSON object with its figures and the baseline measured in the same run (bench/*_site.py and
# *_urls.py are helpers of webhook_ingest, not benchmarks).
BENCHMARKS := simulator_ceiling send_throughput webhook_ingest import_contacts dashboard api_send
bench: install-dev system-packages
	@for name in $(BENCHMARKS); do echo "== bench/$$name.py"; $(PY) bench/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
