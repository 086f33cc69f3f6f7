# Two commands set everything up on a fresh clone:
#   make demo   creates .venv, installs starlabel (CPU torch 2.13.0), runs `starlabel demo`
#   make test   same venv plus test extras, runs pytest
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/pip install --quiet --disable-pip-version-check
DEMO_ARGS ?=

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files make the second run fast: pip runs again only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) torch==2.13.0 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(PIP) -e . 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(BIN)/python -c "import starlabel, torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e ".[test]" 2>&1 | { grep -v "is ignored: it is neither" || true; }
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/starlabel demo $(DEMO_ARGS)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) starlabel-demo
