# Two commands for a fresh machine:  make demo  and  make test.
# Each creates (or reuses) the project's virtual environment and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration sandbox bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m asgpatch.demo

sandbox: $(STAMP)
	$(BIN)/asgpatch sandbox --seed demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q
	$(BIN)/python bench/sandbox_scale.py --groups 50

bench-smoke: $(STAMP)
	$(BIN)/python bench/sandbox_scale.py --groups 100

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
