# tickwire: `make run` and `make test` do all set-up themselves (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
VPY := $(VENV)/bin/python
VAR := $(ROOT)/var
SAMPLE_MESSAGES ?= 2000000
SAMPLE_SYMBOLS ?= 1000
# make run DEMO_ARGS="--seconds 30 --rate 200000"
DEMO_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Compiler and Cython warnings are errors in every build the Makefile runs (setup.py).
export TW_WERROR := 1

# A Python >= 3.12: $(PYTHON) if given, else the first that qualifies on PATH or in pyenv.
find_python = for p in $(PYTHON) python3.14 python3.13 python3.12 python3 \
    $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
    command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
    && { command -v $$p; exit 0; }; done; exit 1
PY_FOUND = $(shell $(find_python))

.PHONY: help venv sysdeps build build-debug run test test-fast test-debug bench figures dev clean
help:
	@echo "make run    set up, generate a sample ITCH day, run the whole appliance on it (tickwire demo), print what happened"
	@echo "make test   set up and run every test (release build, then the TW_DEBUG build)"
	@echo "make bench  set up and run the benchmarks in bench/ (each writes var/bench/<name>.json)"
	@echo "make figures  copy var/bench/*.json to docs/figures/ and regenerate the figures in README.md and docs/"
	@echo "make dev MOD=engine.positions  rebuild that one extension in place and run the tests that import it"

# A set-up step prints one line; its whole output goes to var/log/NAME.log, whose last lines are shown
# when it fails. $(3) names a variable that holds the command (commands contain commas).
LOG := $(VAR)/log
define step
	@mkdir -p $(LOG); printf '%-7s %s ... ' $(1) $(2); s=$$SECONDS; \
	if ( $($(3)) ) > $(LOG)/$(1).log 2>&1; then echo "ok ($$((SECONDS - s)) s, log: var/log/$(1).log)"; \
	else rc=$$?; echo "FAILED (exit $$rc); the last lines of var/log/$(1).log:"; tail -n 40 $(LOG)/$(1).log; exit $$rc; fi
endef

$(VENV)/.python:
	@py="$(PY_FOUND)"; if [ -z "$$py" ]; then \
	  echo "tickwire needs Python >= 3.12 and found none: install one (pyenv install 3.12) or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi; \
	  echo "python  $$py ($$($$py -V))"; rm -rf $(VENV); $$py -m venv $(VENV) && $(VPY) -V > $@

# System packages (Debian): compilers, DPDK, libxdp, ... installed once per machine.
SYSDEPS_CMD = bash tuning/system-deps.sh
$(VENV)/.sysdeps: tuning/system-deps.sh | $(VENV)/.python
	$(call step,sysdeps,"Debian packages (tuning/system-deps.sh)",SYSDEPS_CMD)
	@touch $@
sysdeps: $(VENV)/.sysdeps

# Every Python dependency of pyproject.toml (and its optional groups) into .venv.
PIP_CMD = $(VPY) -m pip install --upgrade pip setuptools wheel "Cython>=3.0.10" "numpy>=1.26" && \
	$(VPY) -m pip install $$($(VPY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  print(" ".join(p["dependencies"] + sum(p["optional-dependencies"].values(), [])))')
$(VENV)/.deps: pyproject.toml $(VENV)/.python $(VENV)/.sysdeps
	$(call step,deps,"Python packages into .venv",PIP_CMD)
	@touch $@
venv: $(VENV)/.deps

# Each extension is compiled once, in place; the `tickwire` command is a launcher plus a .pth entry that
# puts this tree on the venv's path (an editable pip install would compile every extension again).
BUILD_CMD = $(VPY) setup.py build_ext --inplace -j 2
build: $(VENV)/.deps $(VENV)/bin/tickwire
	$(call step,build,"Cython extensions (release)",BUILD_CMD)

$(VENV)/bin/tickwire: | $(VENV)/.deps
	@echo "$(ROOT)" > "$$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/tickwire-tree.pth"
	@printf '#!%s\nimport sys\nfrom tickwire.cli import main\nsys.exit(main())\n' "$(VPY)" > $@ && chmod +x $@

# The TW_DEBUG build (invariant checks, extra counters) into build-debug/lib, beside the release one.
BUILD_DEBUG_CMD = TICKWIRE_DEBUG=1 $(VPY) setup.py build --build-base build-debug --build-lib build-debug/lib -j 2
build-debug: $(VENV)/.deps
	$(call step,debug,"Cython extensions (TW_DEBUG build)",BUILD_DEBUG_CMD)

run: build
	@mkdir -p $(VAR)
	@test -s $(VAR)/sample.itch || $(VENV)/bin/tickwire generate $(VAR)/sample.itch \
	  --messages $(SAMPLE_MESSAGES) --symbols $(SAMPLE_SYMBOLS) --seed 1
	$(VENV)/bin/tickwire demo --day $(VAR)/sample.itch $(DEMO_ARGS)

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
