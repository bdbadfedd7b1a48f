# Two commands for a newcomer: `make run` (local stack) and `make test` (whole suite).
# While working: `make test-fast` (unit + integration, parallel) and `make check` (ruff, mypy).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The service's databases (ResFinder; PointFinder from resfinder-example): what `make run` needs.
DEBS_RUN := resfinder-db resfinder-example
# Tests add the browser (web app tests), poppler-utils (the printed report: pdftoppm, pdftotext)
# the Klebsiella genomes of kleborate-examples (a report with forty resistances) and zlib
# headers (the Lambda build of mappy).
DEBS_TEST := $(DEBS_RUN) zlib1g-dev chromium chromium-driver poppler-utils kleborate-examples
DEBS_BENCH := resfinder kleborate-examples ncbi-blast+
# pytest-xdist workers: one per core; the end-to-end and browser tests each start their own
# stack on free ports with their own state, so whole files run side by side (--dist loadfile).
WORKERS ?= auto
PYTEST_ARGS ?=
STAGE ?= dev
CHECKED := app.py chalicelib amrcli local tools

.PHONY: run test test-fast check format bench package debs debs-run debs-bench typing-db clean

$(RUN_STAMP): requirements.txt requirements-local.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-local.txt
	$(PY) -m pip install --quiet --no-deps -e .   # the `amr` command-line client (pyproject.toml)
	@touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(DEV_STAMP)

# Debian packages the service needs (the ResFinder database) or its tests use.
debs-run:
	@bash scripts/ensure-debs.sh $(DEBS_RUN)

debs:
	@bash scripts/ensure-debs.sh $(DEBS_TEST)

debs-bench:
	@bash scripts/ensure-debs.sh $(DEBS_TEST) $(DEBS_BENCH)

# MLST schemes and PlasmidFinder replicons (design §20) from pinned, hash-checked wheels into
# build/typing-db (a no-op when current).
typing-db: $(RUN_STAMP)
	$(PY) scripts/typing_db.py

run: $(RUN_STAMP) debs-run typing-db
	$(PY) -m local.stack

# Everything: unit, integration, infra, end-to-end and browser tests, in parallel.
test: $(DEV_STAMP) debs typing-db
	$(PY) -m pytest -n $(WORKERS) --dist loadfile $(PYTEST_ARGS)

# The inner loop: unit + integration tests only (no stack processes, no browser).
test-fast: $(DEV_STAMP) debs typing-db
	$(PY) -m pytest -n $(WORKERS) --dist loadfile tests/unit tests/integration $(PYTEST_ARGS)

# Lint, import order, format and types (configured in pyproject.toml); zero findings.
check: $(DEV_STAMP)
	$(PY) -m ruff check $(CHECKED)
	$(PY) -m ruff format --check $(CHECKED)
	$(PY) -m mypy $(CHECKED)

# Rewrite what ruff can fix itself (import order, formatting).
format: $(DEV_STAMP)
	$(PY) -m ruff check --fix $(CHECKED)
	$(PY) -m ruff format $(CHECKED)

bench: $(DEV_STAMP) debs-bench package
	$(PY) bench/store.py
	$(PY) bench/auth.py
	$(PY) bench/migration.py
	$(PY) bench/predict.py
	$(PY) bench/typing_parity.py
	$(PY) bench/service.py
	$(PY) bench/coldstart.py --artifact build/$(STAGE)/deployment.zip
	$(PY) bench/contention.py
	$(PY) bench/maintenance.py
	$(PY) bench/reset_timing.py
	$(PY) bench/load.py
	$(PY) bench/notifications.py
	$(PY) bench/workbook.py

# Deployable artifact of one stage into build/$(STAGE)/: sam.json + deployment.zip
# (chalice package merged with infra/resources.json; mappy built from source for Lambda).
package: $(DEV_STAMP) debs typing-db
	$(PY) scripts/package.py --stage $(STAGE)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
