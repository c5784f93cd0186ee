# backproplab: two commands.
#   make run   -> set up .venv, install the project, reproduce the study (quick mode)
#   make test  -> set up .venv with the dev extra, run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
OUT    ?= runs/reproduce-quick

.PHONY: run test lint bench venv install install-dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(VENV)/bin/backproplab reproduce --quick --out $(OUT) --overwrite

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks docs

bench: $(VENV)/.installed
	$(VENV)/bin/backproplab bench

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
