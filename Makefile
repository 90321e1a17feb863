# tickwire: `make run` and `make test` do all set-up themselves (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
VPY := $(VENV)/bin/python
VAR := $(ROOT)/var
SAMPLE_MESSAGES ?= 2000000
SAMPLE_SYMBOLS ?= 1000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# A Python >= 3.12: $(PYTHON) if given, else the first that qualifies on PATH or in pyenv.
find_python = for p in $(PYTHON) python3.14 python3.13 python3.12 python3 \
    $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
    command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
    && { command -v $$p; exit 0; }; done; exit 1
PY_FOUND = $(shell $(find_python))

.PHONY: help venv sysdeps build build-debug run test test-fast test-debug bench figures dev clean
help:
	@echo "make run    set up, generate a sample ITCH day, replay it through the books, print the summary"
	@echo "make test   set up and run every test (release build, then the TW_DEBUG build)"
	@echo "make bench  set up and run the benchmarks in bench/ (each writes var/bench/<name>.json)"
	@echo "make figures  copy var/bench/*.json to docs/figures/ and regenerate the figures in README.md and docs/"
	@echo "make dev MOD=engine.positions  rebuild that one extension in place and run the tests that import it"

$(VENV)/.python:
	@py="$(PY_FOUND)"; if [ -z "$$py" ]; then \
	  echo "tickwire needs Python >= 3.12 and found none: install one (pyenv install 3.12) or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi; \
	  echo "using $$py ($$($$py -V))"; rm -rf $(VENV); $$py -m venv $(VENV) && $(VPY) -V > $@

# System packages (Debian): compilers, DPDK, libxdp, ... installed once per machine.
$(VENV)/.sysdeps: tuning/system-deps.sh | $(VENV)/.python
	bash tuning/system-deps.sh
	touch $@
sysdeps: $(VENV)/.sysdeps

$(VENV)/.deps: pyproject.toml $(VENV)/.python $(VENV)/.sysdeps
	$(VPY) -m pip install -q --upgrade pip setuptools wheel "Cython>=3.0.10" "numpy>=1.26"
	$(VPY) -m pip install -q $$($(VPY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  print(" ".join(repr(d) for d in p["dependencies"] + sum(p["optional-dependencies"].values(), [])))' | tr -d "'")
	touch $@
venv: $(VENV)/.deps

build: $(VENV)/.deps
	$(VPY) setup.py -q build_ext --inplace -j 2
	@test -x $(VENV)/bin/tickwire || $(VPY) -m pip install -q --no-build-isolation --no-deps -e .

# The TW_DEBUG build (invariant checks, extra counters) into build-debug/lib, beside the release one.
build-debug: $(VENV)/.deps
	TICKWIRE_DEBUG=1 $(VPY) setup.py -q build --build-base build-debug --build-lib build-debug/lib -j 2

run: build
	@mkdir -p $(VAR)
	@test -s $(VAR)/sample.itch || $(VENV)/bin/tickwire generate $(VAR)/sample.itch \
	  --messages $(SAMPLE_MESSAGES) --symbols $(SAMPLE_SYMBOLS) --seed 1
	$(VENV)/bin/tickwire replay $(VAR)/sample.itch

test: build build-debug
	$(VPY) -m pytest -q tests
	$(MAKE) --no-print-directory test-debug

test-fast: build
	$(VPY) -m pytest -q -x tests

# The invariant-checking suites again on the TW_DEBUG build.
test-debug: build-debug
	cd build-debug/lib && TICKWIRE_DEBUG=1 TICKWIRE_ROOT=$(ROOT) $(VPY) -m pytest -q -p no:cacheprovider \
	  --rootdir $(ROOT) -c $(ROOT)/pyproject.toml -m "not netns" $(ROOT)/tests/debug

bench: build
	$(VPY) bench/run_all.py

# The figures of README.md and docs/ are rendered from docs/figures/*.json (bench/figures.py --check: unchanged?).
figures:
	$(VPY) bench/figures.py --from $(VAR)/bench

# The quick loop: one extension rebuilt in place (setup.py's TW_MODULES), then the tests that import it
# (tests/for_module.py; every test of the package when none does). ARGS: more pytest options.
dev:
	@if [ -z "$(MOD)" ]; then echo "usage: make dev MOD=package.module [ARGS='pytest options']   e.g. make dev MOD=engine.positions" >&2; exit 2; fi
	@p=$$(echo '$(MOD)' | tr . /); test -f $$p.pyx -o -d $$p || { echo "make dev: no $$p.pyx or $$p/" >&2; exit 2; }
	TW_MODULES=$(MOD) $(VPY) setup.py -q build_ext --inplace -j 1
	@tests=$$($(VPY) tests/for_module.py $(MOD)) && echo "make dev: $$(echo $$tests | wc -w) test files:" $$tests && \
	  $(VPY) -m pytest -q $(ARGS) $$tests

clean:
	rm -rf build build-debug $(VAR) .hypothesis
	find . -name '*.so' -not -path './.venv/*' -delete
