# AI-Ops Core: `make run` starts everything, `make test` checks everything.
# Both create .venv on first use (and refresh it when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean-var

# The SDK (./sdk, its own distribution) goes in the same pip call: the product depends on it.
$(STAMP): pyproject.toml sdk/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ./sdk -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py run_stack $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

test: lint
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) benchmarks/run.py

# Removes all embedded data (PostgreSQL, Redis, secret key): only when nothing is running.
clean-var: $(STAMP)
	$(PY) manage.py embedded stop
	rm -rf var
