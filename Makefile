# Every target bootstraps .venv itself: a fresh clone needs only Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint unit integration bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pipeline up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline agents tables

test: lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: $(STAMP)
	$(BIN)/pytest -m integration

bench: $(STAMP)
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/pipeline_parse.py
	$(BIN)/python bench/prewarm.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
