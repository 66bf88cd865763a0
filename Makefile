# book_assets — the two commands: `make demo` (build the sample book) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install browser demo test dev clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install            ## build the sample book end to end on the local bucket; prints the PDF's path
	$(BIN)/book-assets demo

test: install browser    ## run the whole test suite
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium with Playwright (Playwright never downloads a browser here).
browser:                 ## install Debian's chromium when it is missing (needs root, as in CI)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

dev: install             ## open the Dagster UI (http://127.0.0.1:3000) on the same instance as `book-assets build`
	mkdir -p "$(DAGSTER_HOME)" && cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:                   ## remove the virtual environment, the local instance and the local bucket
	rm -rf $(VENV) .dagster_home local_bucket .pytest_cache
