# Two commands for a fresh machine:  make demo  and  make test.
# Each creates (or reuses) the project's virtual environment and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-engine test-sandbox lint typecheck sandbox bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The engine and the sandbox (its own distribution, in sandbox/) are both installed editable, so a
# change to either is live; `pip install '.[sandbox]'` is what a user runs instead.
$(STAMP): $(BIN)/python pyproject.toml sandbox/pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./sandbox -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m asgpatch_sandbox.demo

sandbox: $(STAMP)
	$(BIN)/asgpatch sandbox --seed demo

lint: $(STAMP)
	$(BIN)/ruff check src tests sandbox bench
	$(BIN)/ruff format --check src tests sandbox bench

typecheck: $(STAMP)
	$(BIN)/mypy
	cd sandbox && ../$(BIN)/mypy

# Four workers on two cores: most tests wait on sandbox processes and the CLI's polling, not the CPU;
# a file's tests stay in one worker (module-scoped sandboxes).
PYTEST := $(BIN)/python -m pytest -q -n 4 --dist loadfile

test: lint typecheck
	$(PYTEST)
	$(BIN)/python sandbox/bench/scale.py --groups 50

# One side only: the engine's tests (tests/) or the sandbox's (sandbox/tests/); `make test` runs both.
test-engine: $(STAMP)
	$(PYTEST) tests

test-sandbox: $(STAMP)
	$(PYTEST) sandbox/tests
	$(BIN)/python sandbox/bench/scale.py --groups 50

# One window at scale, asgpatch beside the thread-pool-and-waiters baseline (defaults: 1000 groups, 2
# regions, concurrency 100, 50 ms latency); the last line is the JSON the README's table comes from.
bench: $(STAMP)
	$(BIN)/python bench/window.py

bench-smoke: $(STAMP)
	$(BIN)/python sandbox/bench/scale.py --groups 100

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
