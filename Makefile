# The quick start: `make demo` runs the console on a demo store; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-postgres lint format bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/symbi-tui --demo

test: $(STAMP)
	$(BIN)/pytest -q

# the store suite and every scheduler test again, on a throwaway PostgreSQL server (tests/pg.py)
PG_TESTS := tests/test_store.py tests/test_scheduler_basic.py tests/test_scheduler_rules.py \
	tests/test_scheduler_durability.py tests/test_approvals.py tests/test_clock_jumps.py \
	tests/test_runtime_session.py tests/test_policy_gate.py tests/test_delivery_scheduled.py \
	tests/test_multinode.py
test-postgres: $(STAMP)
	SYMBI_TEST_STORE=postgres $(BIN)/pytest -q $(PG_TESTS)

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_core.py

screenshots: $(STAMP)
	$(BIN)/python screenshots/make_screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
