# The quick start: `make demo` runs the console on a demo store; `make test` runs the tests.
# .venv is installed from requirements.lock (exact versions with hashes); `make lock` refreshes it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# what the lock covers: the runtime, the test, benchmark, dev and otel extras, and the build backend
EXTRAS := --extra test --extra bench --extra dev --extra otel
BUILD_REQS = $(PYTHON) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']))"
LATEST := $(or $(TMPDIR),/tmp)/symbi-tui-latest

.PHONY: install demo test test-fast test-latest test-postgres test-sqlite lock lint typecheck format bench screenshots clean

$(STAMP): pyproject.toml $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/symbi-tui --demo

test: $(STAMP)
	$(BIN)/pytest -q

# `make test` runs every store and scheduler test on SQLite and on a throwaway PostgreSQL server
# (tests/pg.py; skipped where none can be started); these run them on one back end only
test-postgres: $(STAMP)
	SYMBI_TEST_STORE=postgres $(BIN)/pytest -q -m "not slow"

test-sqlite: $(STAMP)
	SYMBI_TEST_STORE=sqlite $(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# Refresh the lock: the newest versions pyproject.toml's ranges allow, for every platform, hashed.
# Run `make test-latest` first: it tests exactly what the refreshed lock will hold.
lock: $(STAMP)
	$(BUILD_REQS) | $(BIN)/uv pip compile pyproject.toml - $(EXTRAS) --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command "make lock" \
		--quiet -o $(LOCK)
	@echo "$(LOCK) refreshed: review the diff (git diff $(LOCK)), then make install && make test"

# The upgrade check: a throwaway venv with the newest releases the ranges allow, and the fast tests.
test-latest: $(STAMP)
	rm -rf $(LATEST)
	$(BIN)/uv venv --quiet --python $(PYTHON) $(LATEST)
	$(BIN)/uv pip install --quiet --python $(LATEST)/bin/python --refresh -e ".[test,otel]"
	$(BIN)/uv pip list --python $(LATEST)/bin/python --format freeze > $(LATEST)/versions.txt
	@echo "newest versions under test: $(LATEST)/versions.txt"
	$(LATEST)/bin/python -m pytest -q -m "not slow" -p no:randomly

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the engine and the console, both strictly
typecheck: $(STAMP)
	$(BIN)/mypy --strict -p scheduler_core -p symbi_tui

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

screenshots: $(STAMP)
	$(BIN)/python screenshots/make_screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
