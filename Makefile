# make test   - everything CI checks (ruff, cfn-lint, sam validate --lint, sam build, openapi, pytest)
# make run    - the whole service on this machine (moto server + HTTP + consumer + schedules)
# make bench  - benchmarks
SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV := .venv
PY := $(VENV)/bin/python

# A python3.13 that has pip: on PATH, else pyenv's. It creates the venv and builds the layer
# (sam's pip workflow needs a python3.13 with pip on PATH; a uv-made venv has none).
BASE_PYTHON := $(shell for p in $$(command -v python3.13 2>/dev/null) $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13); do \
	"$$p" -c 'import sys, pip; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

# sam and cfn-lint work offline: no account, no credentials needed; fake ones keep boto3 quiet.
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export BILLING_BUILD_PYTHON := $(BASE_PYTHON)
SAM := PATH="$(dir $(BASE_PYTHON)):$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam

.PHONY: venv test lint ruff cfn-lint sam-validate build run bench soak openapi clean check-python

venv: $(VENV)/.installed

check-python:
	@test -n "$(BASE_PYTHON)" || { echo "python3.13 with pip not found (PATH or ~/.pyenv/versions/3.13*)" >&2; exit 1; }

$(VENV)/.installed: requirements-dev.lock pyproject.toml | check-python
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --upgrade >/dev/null
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

lint: ruff cfn-lint sam-validate

ruff: venv
	$(VENV)/bin/ruff check .

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml

sam-validate: venv
	$(SAM) validate --lint

build: venv check-python
	$(SAM) build --cached --parallel

openapi: venv
	@if [ -f billing_local/openapi.py ]; then $(PY) -m billing_local.openapi --check; \
	else echo "openapi: billing_local/openapi.py not there yet, skipped"; fi

# The checks are independent: run them side by side (output kept per target), then pytest.
test: venv
	$(MAKE) --no-print-directory -j3 --output-sync=target ruff cfn-lint sam-validate build openapi
	$(PY) -m pytest -n 2  # two workers: the model-based test runs beside the rest

run: venv
	$(PY) -m billing_local.stack

bench: venv
	$(PY) -m bench

soak: venv
	$(PY) -m pytest -n 2 -m soak

clean:
	rm -rf .aws-sam .local .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
