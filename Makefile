# Every target bootstraps .venv itself: a fresh clone needs only Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint lock unit integration kafka bench clean

# Test processes (pytest-xdist). Integration tests mostly wait on workers and
# brokers, so 4 keeps a 2-core machine busy; tests sharing a costly fixture run
# in one process (`XDIST_GROUPS` in tests/conftest.py). `make test PYTEST_WORKERS=0`
# runs everything in one process.
PYTEST_WORKERS ?= 4
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup
# Bytecode for the project's modules, written once before a run: each test starts
# many worker and CLI processes, and with PYTHONDONTWRITEBYTECODE set (common in
# containers) every one of them compiled the project from source again (~0.7 s
# of CPU per worker start).
COMPILE := $(BIN)/python -m compileall -q pipeline agents tables tests

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exact versions and hashes from requirements.lock (see docs/dependencies.md);
# the project itself is installed on top without resolving anything again.
$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve every dependency to the newest allowed version and rewrite the lock.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --no-emit-find-links --allow-unsafe --extra=dev \
		--generate-hashes --strip-extras --output-file=requirements.lock pyproject.toml

run: $(STAMP)
	$(COMPILE)
	$(BIN)/pipeline up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline agents tables
	$(BIN)/lint-imports

test: lint
	$(COMPILE)
	$(BIN)/pytest $(XDIST)

unit: $(STAMP)
	$(COMPILE)
	$(BIN)/pytest -m "not integration"

integration: $(STAMP)
	$(COMPILE)
	$(BIN)/pytest $(XDIST) -m "integration and not kafka"

kafka: $(STAMP)
	$(COMPILE)
	$(BIN)/pytest $(XDIST) -m kafka

bench: $(STAMP)
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/pipeline_parse.py
	$(BIN)/python bench/prewarm.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/catalogue.py
	$(BIN)/python bench/push.py
	$(BIN)/python bench/cancel.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/engines.py  # Tansu vs 3-node Kafka; needs java and mvn

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
