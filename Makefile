# Two commands for a newcomer: `make run` (local stack) and `make test` (whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# resfinder-db is the service's database; the others serve tests and the Lambda build.
DEBS_TEST := resfinder-db resfinder-example zlib1g-dev chromium chromium-driver
DEBS_BENCH := resfinder kleborate-examples ncbi-blast+
PYTEST_ARGS ?=
STAGE ?= dev

.PHONY: run test bench package debs debs-bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .   # the `amr` command-line client (pyproject.toml)
	@touch $(STAMP)

# Debian packages the service needs (the ResFinder database) or its tests use.
debs:
	@bash scripts/ensure-debs.sh $(DEBS_TEST)

debs-bench:
	@bash scripts/ensure-debs.sh $(DEBS_TEST) $(DEBS_BENCH)

run: $(STAMP) debs
	$(PY) -m local.stack

test: $(STAMP) debs
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP) debs-bench package
	$(PY) bench/store.py
	$(PY) bench/auth.py
	$(PY) bench/migration.py
	$(PY) bench/predict.py
	$(PY) bench/service.py
	$(PY) bench/coldstart.py --artifact build/$(STAGE)/deployment.zip
	$(PY) bench/contention.py
	$(PY) bench/reset_timing.py
	$(PY) bench/load.py

# Deployable artifact of one stage into build/$(STAGE)/: sam.json + deployment.zip
# (chalice package merged with infra/resources.json; mappy built from source for Lambda).
package: $(STAMP) debs
	$(PY) scripts/package.py --stage $(STAGE)

clean:
	rm -rf $(VENV) build dist .pytest_cache
