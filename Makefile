# abcrnn: `make run` sets everything up and runs the pipeline; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# One core per thread: training jobs that share cores run several times slower (see README, Speed).
CORES ?= $(shell nproc)
SNAKEMAKE_ARGS ?=
# Rules run `python -m abcrnn`: put the venv first on PATH for them.
export PATH := $(BIN):$(PATH)

.PHONY: run setup test test-fast bench dry-run lint report system-deps clean

run: setup  ## set up (venv + Debian tools) and run the whole pipeline on config.yaml
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: setup lint  ## workflow lint, then the whole test suite (unit and end-to-end)
	$(BIN)/pytest -q tests/unit tests/e2e

test-fast: setup  ## the unit tests alone (no Snakemake, renderer or browser): the loop while working
	$(BIN)/pytest -q tests/unit

bench: setup  ## training/evaluation/sampling speed, side by side (results/tables/benchmark.tsv)
	$(BIN)/snakemake --cores $(CORES) results/data/char/train.pt results/data/char/val.pt results/data/char/vocab.json
	$(BIN)/abcrnn bench --data-dir results/data/char --out results/tables/benchmark.tsv

dry-run: setup  ## what `make run` would do now
	$(BIN)/snakemake -n --quiet rules

lint: setup  ## snakefmt --check and snakemake --lint on the workflow (the tiny config, so no corpus is read)
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint --configfile config/tiny.yaml

report: setup  ## the report of a finished run: results/report.zip (report.html inside, with the gallery)
	$(BIN)/snakemake --report results/report.zip

setup: $(VENV)/.installed system-deps

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-cluster.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "abcrnn needs Python >= 3.11 (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -r requirements-cluster.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# From Debian, installed when missing: abc2midi/abcm2ps (MIDI, scores), fluidsynth with the 5 MB
# TimGM6mb General MIDI soundfont (the gallery's recordings, render.audio), oggdec (vorbis-tools: the
# test that decodes the gallery's recordings to check their level), and chromium with its driver for
# the gallery's browser test in `make test` (BROWSER=0 leaves those two out).
BROWSER ?= 1
system-deps:
	@need=""; \
	command -v abc2midi >/dev/null || need="$$need abcmidi"; \
	command -v abcm2ps >/dev/null || need="$$need abcm2ps"; \
	command -v fluidsynth >/dev/null || need="$$need fluidsynth"; \
	command -v oggdec >/dev/null || need="$$need vorbis-tools"; \
	[ -e /usr/share/sounds/sf2/TimGM6mb.sf2 ] || [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
	  || need="$$need timgm6mb-soundfont"; \
	if [ "$(BROWSER)" != 0 ]; then \
	  [ -x /usr/bin/chromium ] || need="$$need chromium"; \
	  [ -x /usr/bin/chromedriver ] || need="$$need chromium-driver"; \
	fi; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$need"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	  else \
	    echo "abcrnn needs Debian packages:$$need -- run: sudo apt-get install -y$$need" >&2; exit 1; \
	  fi; \
	fi

clean:  ## remove pipeline outputs (keeps the venv)
	rm -rf results .snakemake
