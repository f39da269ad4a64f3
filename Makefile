# podium: make demo | make test | make lint | make bench
# Each target installs what it needs into $(VENV) first (a fresh machine needs only Python and pip).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PODIUM ?= $(BIN)/podium
STAMP := $(VENV)/.podium-installed
# SKIP_INSTALL=1 runs a target with whatever is already installed (the e2e test uses it).
INSTALL := $(if $(SKIP_INSTALL),,$(STAMP))

.PHONY: demo test test-fast lint format bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# the triage example on the emulators of Bedrock, Vertex and Azure, then with no cloud: examples/demo.py
demo: $(INSTALL)
	$(BIN)/python examples/demo.py

test: $(INSTALL)
	$(BIN)/python -m pytest -q

test-fast: $(INSTALL)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(INSTALL)
	$(BIN)/ruff check podium tests bench examples
	$(BIN)/ruff format --check podium tests bench examples

format: $(INSTALL)
	$(BIN)/ruff format podium tests bench examples
	$(BIN)/ruff check --fix podium tests bench examples

bench: $(INSTALL)
	$(BIN)/python -m pip install --quiet --upgrade -r bench/requirements.txt
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
