# book_assets — the two commands: `make demo` (build the sample book) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo test dev clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install            ## build the sample book end to end on the local bucket; prints the PDF's path
	$(BIN)/book-assets demo

test: install            ## run the whole test suite
	$(BIN)/python -m pytest

dev: install             ## open the Dagster UI (http://127.0.0.1:3000) on the same instance as `book-assets build`
	mkdir -p "$(DAGSTER_HOME)" && cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:                   ## remove the virtual environment, the local instance and the local bucket
	rm -rf $(VENV) .dagster_home local_bucket .pytest_cache
